//! Helpers for integration tests that run the real `phpeek-entrypoint`
//! binary in a temporary directory, with every path pointed inside it.
#![allow(dead_code, unreachable_pub)]

pub use phpeek_testkit::{free_port, wait_for_exit};

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_phpeek-entrypoint"))
}

/// The repository's root folder.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Finds a program: `name` on PATH, then the highest versioned `name*` in
/// /usr/sbin (Debian installs php-fpm8.2 there, outside a user's PATH).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/local/sbin", "/usr/sbin"].map(PathBuf::from));
    for dir in &dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/sbin")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let file = path
                .file_name()
                .and_then(|file| file.to_str())
                .unwrap_or("");
            file.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

/// Returns the phpeek-pm binary of the same build, next to the test's
/// `deps/` folder. Cargo builds it only when the supervisor package is
/// built, so it may be missing; the caller skips with a message then.
pub fn phpeek_pm() -> Option<PathBuf> {
    let test_exe = std::env::current_exe().ok()?;
    let profile_dir = test_exe.parent()?.parent()?;
    let binary = profile_dir.join("phpeek-pm");
    binary.is_file().then_some(binary)
}

/// Prints why a test that needs phpeek-pm is skipped.
pub fn skip_without_phpeek_pm() {
    eprintln!("skipped: phpeek-pm not built; run `cargo build -p phpeek-supervisor` first");
}

/// A temporary container-like layout: an app directory, a runtime
/// directory, an init directory and an environment that points at them.
pub struct Sandbox {
    pub root: PathBuf,
    pub env: BTreeMap<String, String>,
    _guard: tempfile::TempDir,
}

impl Sandbox {
    /// Creates the layout with an empty app directory. Folders are 0755,
    /// because php-fpm and nginx workers run as the app user under root.
    pub fn new() -> Sandbox {
        let guard = tempfile::Builder::new()
            .prefix("phpeek-entrypoint-test-")
            .tempdir()
            .expect("tempdir");
        let root = guard.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
            .expect("chmod tempdir");
        for dir in ["app/public", "run", "init"] {
            std::fs::create_dir_all(root.join(dir)).expect("create folder");
        }

        let mut env = BTreeMap::new();
        let mut set = |name: &str, value: &str| env.insert(name.to_owned(), value.to_owned());
        set("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        set("PHPEEK_APP_DIR", &path_text(&root.join("app")));
        set("PHPEEK_RUNTIME_DIR", &path_text(&root.join("run")));
        set(
            "PHPEEK_PM_RUNTIME_CONFIG",
            &path_text(&root.join("run/phpeek-pm.yaml")),
        );
        set("PHPEEK_INIT_DIR", &path_text(&root.join("init")));
        set(
            "PHPEEK_TEMPLATE_DIR",
            &path_text(&repo_dir().join("templates")),
        );
        set("PHPEEK_PASSWD_FILE", &path_text(&root.join("passwd")));
        set("PHPEEK_GROUP_FILE", &path_text(&root.join("group")));
        set("NGINX_LISTEN_ADDRESS", "127.0.0.1");
        set("NGINX_HTTP_PORT", &free_port().to_string());
        set("PHP_FPM_LISTEN", &format!("127.0.0.1:{}", free_port()));
        set("PHPEEK_PM_BIN", "true");
        if let Some(fpm) = find_program("php-fpm") {
            set("PHP_FPM_BIN", &path_text(&fpm));
        }
        if let Some(nginx) = find_program("nginx") {
            set("NGINX_BIN", &path_text(&nginx));
        }
        Sandbox {
            root,
            env,
            _guard: guard,
        }
    }

    /// Whether php-fpm and nginx were found; tests that run them skip
    /// otherwise, with a message.
    pub fn has_web_stack(&self) -> bool {
        let found = self.env.contains_key("PHP_FPM_BIN") && self.env.contains_key("NGINX_BIN");
        if !found {
            eprintln!("skipped: php-fpm or nginx not found (install php-fpm and nginx)");
        }
        found
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Sandbox {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{name} is not set in the sandbox"))
    }

    /// Writes `contents` to `relative`, creating folders.
    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Reads a file under the sandbox, or an empty string.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.root.join(relative)).unwrap_or_default()
    }

    /// The entrypoint with the sandbox's environment and nothing else.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.root)
            .stdin(Stdio::null());
        command
    }

    /// Starts the entrypoint with no arguments in the background, its
    /// stdout and stderr both written to `log` in the sandbox.
    pub fn spawn_logged(&self, log: &str) -> Child {
        let file = std::fs::File::create(self.path(log)).expect("create the log file");
        self.command(&[])
            .stdout(file.try_clone().expect("clone the log file"))
            .stderr(file)
            .spawn()
            .expect("start phpeek-entrypoint")
    }

    /// Runs the entrypoint to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run phpeek-entrypoint");
        Run::from(output)
    }
}

pub fn path_text(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// A finished run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Everything printed, for assertion messages.
    pub fn transcript(&self) -> String {
        format!(
            "exit code: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Sends GET `path` and returns the status, the headers and the body.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String, String)> {
    let response = phpeek_testkit::get(port, path, Duration::from_secs(5))?;
    Ok((response.status, response.head, response.body))
}

/// Polls until GET / returns 200, or the timeout passes.
pub fn wait_until_serving(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(get(port, "/"), Ok((200, _, _))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Sends SIGTERM to `child` and waits up to 30 s for its exit code. A child
/// that is still running then is killed, and none is returned.
pub fn stop(child: &mut Child) -> Option<i32> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let pid = i32::try_from(child.id()).expect("pid fits i32");
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let code = wait_for_exit(child, Duration::from_secs(30));
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    code
}

/// Copies the folder `from` into `to` recursively. Symbolic links are
/// copied as links.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("read link");
            std::os::unix::fs::symlink(link, &target).expect("copy link");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
