//! Init scripts: every `*.sh` file in PHPEEK_INIT_DIR, run with `sh` in
//! name order before the start.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::message;
use crate::settings::Env;

/// An init script that failed, which stops the start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    /// The folder exists but can't be listed.
    #[error("failed to list init scripts in {dir}")]
    List {
        /// The init folder.
        dir: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `sh` could not be started.
    #[error("failed to run init script {name} with sh")]
    Spawn {
        /// The script's file name.
        name: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A stop signal arrived while the scripts ran; it was passed on to the
    /// running script, and nothing after it starts.
    #[error("init scripts stopped by signal {signal}")]
    Interrupted {
        /// The signal number.
        signal: i32,
    },
    /// The script exited non-zero or was killed.
    #[error("init script {name} failed with {status}")]
    Failed {
        /// The script's file name.
        name: String,
        /// "exit code N" or "signal N".
        status: String,
    },
}

/// Lists the `*.sh` files in `dir`, sorted by name (byte order). A missing
/// folder has no scripts. Sub-folders are skipped; the executable bit
/// doesn't matter.
///
/// # Errors
///
/// Returns an error when `dir` exists but can't be read.
pub(crate) fn find(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let listing_failed = |source| InitError::List {
        dir: dir.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(listing_failed(error)),
    };
    let mut scripts: Vec<(OsString, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(listing_failed)?;
        let path = entry.path();
        let is_script = path.extension().is_some_and(|extension| extension == "sh");
        if is_script && path.is_file() {
            scripts.push((entry.file_name(), path));
        }
    }
    scripts.sort();
    Ok(scripts.into_iter().map(|(_, path)| path).collect())
}

/// Runs every script in `dir` with `sh`, in order, in `working_dir`, with
/// `env`. Each script's output goes to the container log.
///
/// # Errors
///
/// Stops at the first script that fails and returns its name and status.
pub(crate) fn run_all(dir: &Path, working_dir: &Path, env: &Env) -> Result<(), InitError> {
    let scripts = find(dir)?;
    if scripts.is_empty() {
        return Ok(());
    }
    message::info(format_args!(
        "running {} init scripts from {}",
        scripts.len(),
        dir.display()
    ));
    stop_signal::install();
    for script in &scripts {
        if let Some(signal) = stop_signal::received() {
            return Err(InitError::Interrupted { signal });
        }
        run(script, working_dir, env)?;
    }
    Ok(())
}

fn run(script: &Path, working_dir: &Path, env: &Env) -> Result<(), InitError> {
    let name = script
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    message::info(format_args!("running init script {name}"));
    let mut child = Command::new("sh")
        .arg(script)
        .current_dir(working_dir)
        .env_clear()
        .envs(env.iter())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| InitError::Spawn {
            name: name.clone(),
            source,
        })?;
    let (status, interrupted) =
        stop_signal::wait_passing_on(&mut child).map_err(|source| InitError::Spawn {
            name: name.clone(),
            source,
        })?;
    if let Some(signal) = interrupted {
        return Err(InitError::Interrupted { signal });
    }
    if status.success() {
        return Ok(());
    }
    let status = match status.code() {
        Some(code) => format!("exit code {code}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            format!("signal {}", status.signal().unwrap_or_default())
        }
    };
    Err(InitError::Failed { name, status })
}

/// Stop signals while init scripts run. The entrypoint is PID 1 at that
/// point, and the kernel drops signals that PID 1 has no handler for, so a
/// `docker stop` during a hanging script would otherwise wait for SIGKILL.
mod stop_signal {
    use std::io;
    use std::process::{Child, ExitStatus};
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::time::Duration;

    use nix::sys::signal::{killpg, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    use nix::unistd::Pid;

    /// The latest stop signal received, 0 for none.
    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    extern "C" fn record(signal: libc::c_int) {
        RECEIVED.store(signal, Ordering::SeqCst);
    }

    /// Installs the handler for TERM, INT and QUIT. `exec` resets handled
    /// signals to their defaults, so phpeek-pm starts with a clean state.
    pub(super) fn install() {
        let action = SigAction::new(
            SigHandler::Handler(record),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT] {
            // SAFETY: the handler only stores into an atomic, which is
            // async-signal-safe, and it is installed before any thread
            // exists in the entrypoint.
            if let Err(errno) = unsafe { sigaction(signal, &action) } {
                crate::message::info(format_args!(
                    "could not handle {} during init scripts: {errno}",
                    signal.as_str()
                ));
            }
        }
    }

    /// Returns the stop signal received so far, if any.
    pub(super) fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// Waits for `child`, passing a stop signal on to its process group, and
    /// returns its status and the signal that arrived, if any.
    pub(super) fn wait_passing_on(child: &mut Child) -> io::Result<(ExitStatus, Option<i32>)> {
        let group = Pid::from_raw(child.id() as i32);
        let mut passed = None;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((status, passed));
            }
            if let (None, Some(signal)) = (passed, received()) {
                if let Ok(signal_value) = Signal::try_from(signal) {
                    let _ = killpg(group, signal_value);
                }
                passed = Some(signal);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_sorted_and_filtered() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        for name in ["20-b.sh", "10-a.sh", "notes.txt", "30-c.sh.bak", "05.SH"] {
            std::fs::write(dir.path().join(name), "true\n")?;
        }
        std::fs::create_dir(dir.path().join("15-dir.sh"))?;
        let names: Vec<String> = find(dir.path())
            .unwrap_or_default()
            .iter()
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect();

        assert_eq!(names, ["10-a.sh", "20-b.sh"]);
        Ok(())
    }

    #[test]
    fn missing_folder_has_no_scripts() {
        let found = find(Path::new("/nonexistent/phpeek-init"));

        assert!(found.is_ok_and(|scripts| scripts.is_empty()));
    }

    #[test]
    fn failing_script_stops_with_name_and_code() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let marker = dir.path().join("ran-30");
        std::fs::write(dir.path().join("10-ok.sh"), "exit 0\n")?;
        std::fs::write(dir.path().join("20-fail.sh"), "exit 3\n")?;
        let third = format!("touch '{}'\n", marker.display());
        std::fs::write(dir.path().join("30-after.sh"), third)?;
        let env = Env::from_pairs([("PATH", "/usr/bin:/bin")]);
        let error = run_all(dir.path(), dir.path(), &env).err();

        assert_eq!(
            error.map(|error| error.to_string()),
            Some("init script 20-fail.sh failed with exit code 3".to_owned())
        );
        assert!(!marker.exists());
        Ok(())
    }
}
