//! A private APT state: package lists, closure resolution and downloads.
//!
//! Every apt-get call runs with `APT_CONFIG` pointing at a generated
//! `apt.conf` whose `Dir::Etc`, `Dir::State`, `Dir::Cache` and `Dir::Log`
//! entries all live under one cache directory, so the host's sources,
//! preferences, keyrings, lists and dpkg status are neither read nor
//! written. The dpkg status file is empty, so `apt-get install` resolves
//! the full dependency closure of the requested packages.

mod messages;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::definition::Definition;
use crate::mirror::Mirrors;

pub use messages::{AptError, PackageRef};

/// The private APT state of one image definition.
#[derive(Debug, Clone)]
pub struct AptState {
    root: PathBuf,
    config: PathBuf,
    suite: String,
}

impl AptState {
    /// Creates (or reuses) the state under `root` and writes its
    /// `apt.conf` and `sources.list` for `definition` and `mirrors`.
    ///
    /// Lists and downloaded archives from an earlier build stay, so a
    /// rebuild only fetches what changed.
    ///
    /// # Errors
    ///
    /// [`AptError::KeyringMissing`] when the definition's keyring doesn't
    /// exist, and [`AptError::State`] when a file can't be written.
    pub fn prepare(
        root: &Path,
        definition: &Definition,
        mirrors: &Mirrors,
    ) -> Result<AptState, AptError> {
        if !definition.apt.keyring.is_file() {
            return Err(AptError::KeyringMissing {
                path: definition.apt.keyring.clone(),
            });
        }
        for dir in [
            "lists/partial",
            "archives/partial",
            "cache",
            "log",
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
            "etc/trusted.gpg.d",
        ] {
            create_dir(&root.join(dir))?;
        }
        let status = root.join("status");
        if !status.exists() {
            write_file(&status, "")?;
        }
        write_file(
            &root.join("sources.list"),
            &sources_list(definition, mirrors),
        )?;
        let config = root.join("apt.conf");
        write_file(&config, &apt_conf(root, &definition.architecture))?;
        Ok(AptState {
            root: root.to_path_buf(),
            config,
            suite: definition.apt.suite.clone(),
        })
    }

    /// Downloads the package lists with `apt-get update`.
    ///
    /// # Errors
    ///
    /// [`AptError::MirrorUnreachable`] when a mirror can't be reached, and
    /// [`AptError::Failed`] for any other failure, such as a suite that the
    /// mirror doesn't have.
    pub fn update(&self) -> Result<(), AptError> {
        let output = self.run(&["update", "--error-on=any"], &mut |_| {})?;
        if output.success {
            return Ok(());
        }
        Err(messages::update_error(&output.stderr))
    }

    /// Resolves the closure of `packages`: every package that installing
    /// them into an empty system would install, sorted by name.
    ///
    /// # Errors
    ///
    /// [`AptError::PackageNotFound`] for a name the lists don't have,
    /// [`AptError::Failed`] for unmet dependencies or other apt errors.
    pub fn resolve(&self, packages: &[String]) -> Result<Vec<PackageRef>, AptError> {
        let mut args = vec!["install", "--simulate", "--yes"];
        args.extend(packages.iter().map(String::as_str));
        let output = self.run(&args, &mut |_| {})?;
        if !output.success {
            return Err(messages::install_error(&output.stderr, &self.suite));
        }
        let mut closure: Vec<PackageRef> = output
            .stdout
            .iter()
            .filter_map(|line| messages::parse_inst_line(line))
            .collect();
        closure.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(closure)
    }

    /// Downloads the closure of `packages` into the archive cache.
    ///
    /// `progress` gets apt's overall download percentage (0 to 100) each time
    /// it changes. Archives already in the cache are not fetched again.
    ///
    /// # Errors
    ///
    /// [`AptError::DiskFull`] when apt finds no room for the archives, and
    /// the errors of [`AptState::resolve`].
    pub fn download(
        &self,
        packages: &[String],
        progress: &mut dyn FnMut(f64),
    ) -> Result<(), AptError> {
        let mut args = vec!["install", "--download-only", "--yes"];
        args.extend(packages.iter().map(String::as_str));
        let output = self.run(&args, &mut |line| {
            if let Some(percent) = messages::parse_dlstatus(line) {
                progress(percent);
            }
        })?;
        if output.success {
            return Ok(());
        }
        let needed = output
            .stdout
            .iter()
            .find_map(|l| messages::parse_need_to_get(l));
        Err(messages::download_error(
            &output.stderr,
            &self.suite,
            needed,
        ))
    }

    /// Path of the downloaded archive of `package`.
    ///
    /// apt names archives `NAME_VERSION_ARCH.deb`, with the epoch colon of
    /// the version written as `%3a`.
    pub fn archive_path(&self, package: &PackageRef) -> PathBuf {
        let version = package.version.replace(':', "%3a");
        self.root.join("archives").join(format!(
            "{}_{}_{}.deb",
            package.name, version, package.architecture
        ))
    }

    /// Runs apt-get with the private config and passes each stdout line
    /// to `on_stdout` as it arrives.
    fn run(&self, args: &[&str], on_stdout: &mut dyn FnMut(&str)) -> Result<AptOutput, AptError> {
        let command_line = format!("apt-get {}", args.join(" "));
        let mut child = Command::new("apt-get")
            .args(["-q", "-o", "APT::Status-Fd=1"])
            .args(args)
            .env("APT_CONFIG", &self.config)
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| AptError::Spawn { source })?;

        // Drain stderr on its own thread so a chatty apt can't block on a
        // full pipe while stdout is read here.
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        });
        let mut stdout = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                on_stdout(&line);
                stdout.push(line);
            }
        }
        let status = child.wait().map_err(|source| AptError::Spawn { source })?;
        let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        if status.code().is_none() {
            return Err(AptError::Failed {
                command: command_line,
                message: format!("apt-get was killed ({status})"),
            });
        }
        Ok(AptOutput {
            success: status.success(),
            stdout,
            stderr,
        })
    }
}

/// Exit status and output of one apt-get run.
struct AptOutput {
    success: bool,
    stdout: Vec<String>,
    stderr: String,
}

/// Renders `sources.list`: one line per archive and suite.
fn sources_list(definition: &Definition, mirrors: &Mirrors) -> String {
    let keyring = definition.apt.keyring.display();
    let components = definition.apt.components.join(" ");
    let mut text = String::from("# Generated by phpeek-image; rewritten on every build.\n");
    for source in &definition.apt.sources {
        let url = mirrors.url(source.archive);
        for suite in &source.suites {
            text.push_str(&format!(
                "deb [signed-by={keyring}] {url} {suite} {components}\n"
            ));
        }
    }
    text
}

/// Renders `apt.conf`, which moves every directory APT uses under `root`.
fn apt_conf(root: &Path, architecture: &str) -> String {
    let dir = |name: &str| root.join(name).display().to_string();
    let entries = [
        ("Dir::Etc::main", dir("etc/apt.conf")),
        ("Dir::Etc::parts", dir("etc/apt.conf.d")),
        ("Dir::Etc::sourcelist", dir("sources.list")),
        ("Dir::Etc::sourceparts", dir("etc/sources.list.d")),
        ("Dir::Etc::preferences", dir("etc/preferences")),
        ("Dir::Etc::preferencesparts", dir("etc/preferences.d")),
        ("Dir::Etc::trusted", dir("etc/trusted.gpg")),
        ("Dir::Etc::trustedparts", dir("etc/trusted.gpg.d")),
        ("Dir::State", dir("")),
        ("Dir::State::lists", dir("lists")),
        ("Dir::State::status", dir("status")),
        ("Dir::Cache", dir("cache")),
        ("Dir::Cache::archives", dir("archives")),
        ("Dir::Log", dir("log")),
        ("APT::Architecture", architecture.to_string()),
        ("APT::Architectures", architecture.to_string()),
        ("APT::Install-Recommends", "false".to_string()),
        ("APT::Install-Suggests", "false".to_string()),
        // The _apt sandbox user may not be able to enter the cache dir.
        ("APT::Sandbox::User", "root".to_string()),
        ("Acquire::Languages", "none".to_string()),
        ("Acquire::Retries", "2".to_string()),
    ];
    let mut text = String::from("// Generated by phpeek-image; rewritten on every build.\n");
    for (key, value) in entries {
        text.push_str(&format!("{key} \"{value}\";\n"));
    }
    text
}

fn create_dir(path: &Path) -> Result<(), AptError> {
    std::fs::create_dir_all(path).map_err(|source| AptError::State {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), AptError> {
    std::fs::write(path, text).map_err(|source| AptError::State {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition() -> Definition {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("definitions/php-fpm-nginx-8.2-bookworm.toml"),
        )
        .expect("shipped definition");
        Definition::parse(&text, Path::new("8.2.toml")).expect("valid")
    }

    fn mirrors() -> Mirrors {
        Mirrors {
            debian: "http://m.example/debian".to_string(),
            security: "http://m.example/debian-security".to_string(),
        }
    }

    #[test]
    fn sources_list_has_one_line_per_suite() {
        let text = sources_list(&definition(), &mirrors());
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("deb ")).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with("http://m.example/debian bookworm main"),
            "{text}"
        );
        assert!(lines[2].contains("http://m.example/debian-security bookworm-security"));
        assert!(lines[0].contains("[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"));
    }

    #[test]
    fn apt_conf_keeps_every_dir_under_root() {
        let root = Path::new("/cache/apt/x");
        let text = apt_conf(root, "amd64");
        for line in text.lines().filter(|l| l.starts_with("Dir")) {
            assert!(line.contains("\"/cache/apt/x"), "{line}");
        }
        assert!(text.contains("Dir::State::status \"/cache/apt/x/status\";"));
        assert!(text.contains("APT::Architecture \"amd64\";"));
    }

    #[test]
    fn archive_path_quotes_the_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keyring = dir.path().join("k.gpg");
        std::fs::write(&keyring, "").expect("keyring");
        let mut definition = definition();
        definition.apt.keyring = keyring;
        let state = AptState::prepare(dir.path(), &definition, &mirrors()).expect("prepare");
        let package = PackageRef {
            name: "php-common".to_string(),
            version: "2:93".to_string(),
            architecture: "all".to_string(),
        };
        let path = state.archive_path(&package);
        assert!(
            path.ends_with("archives/php-common_2%3a93_all.deb"),
            "{}",
            path.display()
        );
        assert!(dir.path().join("status").is_file());
        assert!(dir.path().join("lists/partial").is_dir());
    }

    #[test]
    fn missing_keyring_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut definition = definition();
        definition.apt.keyring = dir.path().join("absent.gpg");
        let error = AptState::prepare(dir.path(), &definition, &mirrors()).expect_err("no keyring");
        assert!(error.to_string().contains("absent.gpg"), "{error}");
    }
}
