//! Starting child processes: session, credentials, environment and pipes.
//!
//! Every child (instance, hook or probe) starts in a new process group, so
//! its pid is also its process group id and a signal to `-pid` reaches
//! everything it forked that stayed in the group. It stays in phpeek-pm's
//! session; a container has no controlling terminal whose signals could
//! reach it. stdin is /dev/null; stdout and stderr are
//! pipes whose read ends the caller hands to the output module.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::unistd::{fchown, pipe2, Pid};
use tokio::sync::oneshot;

use crate::config::Credentials;
use crate::reaper::{ExitStatus, Reaper};

/// Program, environment, directory and account of a child to start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildSpec<'a> {
    /// Program and arguments; must not be empty.
    pub(crate) command: &'a [String],
    /// Variables set on top of the inherited container environment, in
    /// order, so a later entry wins over an earlier one.
    pub(crate) env: &'a [(String, String)],
    /// Working directory; inherited when `None`.
    pub(crate) working_dir: Option<&'a Path>,
    /// Account to switch to; inherited when `None`.
    pub(crate) user: Option<&'a Credentials>,
}

/// A running child and the read ends of its output pipes.
#[derive(Debug)]
pub(crate) struct Child {
    /// Pid and process group id.
    pub(crate) pid: Pid,
    /// Resolves when the reaper collected the child.
    pub(crate) exit: oneshot::Receiver<ExitStatus>,
    /// Read end of the child's stdout.
    pub(crate) stdout: OwnedFd,
    /// Read end of the child's stderr.
    pub(crate) stderr: OwnedFd,
}

/// Starting a child failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    /// The command list was empty.
    #[error("the command is empty")]
    EmptyCommand,
    /// The working directory is missing or not a directory.
    #[error("working directory `{}` is not usable", path.display())]
    WorkingDir {
        /// The configured directory.
        path: std::path::PathBuf,
        /// Why it can't be used.
        #[source]
        source: io::Error,
    },
    /// A pipe for the child's output could not be set up.
    #[error("could not create the output pipes")]
    Pipe(#[source] nix::Error),
    /// `fork` or `exec` failed, for example because the program is missing.
    #[error("could not start `{program}`")]
    Exec {
        /// The program that was to run.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Variables that carry the management API's token. Children don't
/// inherit them from phpeek-pm, so a PHP request can't read the credential
/// that stops and scales processes: php-fpm with `clear_env = no` passes
/// its environment on to PHP. A process or hook that needs one sets it in
/// its own `env`.
const API_TOKEN_VARIABLES: &[&str] = &[
    "PHPEEK_PM_API_TOKEN",
    "PHPEEK_PM_API_AUTH",
    "PHPEEK_PM_GLOBAL_API_AUTH",
];

/// Starts a child as described by `spec`, registered with `reaper`.
///
/// # Errors
///
/// Fails when the command is empty, the pipes cannot be created, or the
/// program cannot be executed.
pub(crate) fn spawn(reaper: &Reaper, spec: ChildSpec<'_>) -> Result<Child, SpawnError> {
    let (program, args) = spec.command.split_first().ok_or(SpawnError::EmptyCommand)?;
    if let Some(dir) = spec.working_dir {
        // Checked here because a failed chdir in the child would be reported
        // as a failure to run the program.
        match std::fs::metadata(dir) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                let source = io::Error::new(io::ErrorKind::NotADirectory, "not a directory");
                return Err(SpawnError::WorkingDir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
            Err(source) => {
                return Err(SpawnError::WorkingDir {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
    let (stdout, stdout_writer) = output_pipe(spec.user)?;
    let (stderr, stderr_writer) = output_pipe(spec.user)?;

    let mut command = Command::new(program);
    command.args(args);
    for name in API_TOKEN_VARIABLES {
        command.env_remove(name);
    }
    command
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout_writer))
        .stderr(Stdio::from(stderr_writer));
    if let Some(dir) = spec.working_dir {
        command.current_dir(dir);
    }
    enter_session(&mut command, spec.user.cloned());

    let spawned = reaper
        .spawn(&mut command)
        .map_err(|source| SpawnError::Exec {
            program: program.clone(),
            source,
        })?;
    // Dropping the command closes our copies of the pipes' write ends, so the
    // read ends see EOF once the child and its descendants close theirs.
    drop(command);
    Ok(Child {
        pid: spawned.pid,
        exit: spawned.exit,
        stdout,
        stderr,
    })
}

/// Creates a pipe and, when the child switches user, gives the write end to
/// that user. php-fpm reopens `/proc/self/fd/2` for its error log, which an
/// unprivileged process may only do on a pipe it owns.
fn output_pipe(user: Option<&Credentials>) -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let (reader, writer) = pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;
    if let Some(user) = user {
        fchown(writer.as_raw_fd(), Some(user.uid), Some(user.gid)).map_err(SpawnError::Pipe)?;
    }
    Ok((reader, writer))
}

/// Puts the child in a new process group and, if requested, drops it to
/// `user`.
///
/// Without a user switch this is `process_group(0)`, which lets std use
/// `posix_spawn` (a vfork-style clone) instead of a full `fork`. A user
/// switch needs `pre_exec`, where the credentials are changed rather than
/// with `CommandExt::uid`, because std runs `pre_exec` after its own
/// `setuid`, when setting the supplementary groups is no longer allowed.
fn enter_session(command: &mut Command, user: Option<Credentials>) {
    // An unprivileged supervisor can't call setgroups, but it may still run a
    // child as its own user, which needs no switch.
    let current = nix::unistd::geteuid();
    let Some(user) = user.filter(|user| current.is_root() || user.uid != current) else {
        command.process_group(0);
        return;
    };
    let groups: Vec<libc::gid_t> = user.groups.iter().map(|gid| gid.as_raw()).collect();
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());

    // SAFETY: the closure runs in the forked child before exec. It only calls
    // setpgid, setgroups, setgid and setuid, which are async-signal-safe, and
    // it reads memory (`groups`, `uid`, `gid`) that was allocated before the
    // fork and is not freed or changed by it.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgid(gid) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setuid(uid) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
