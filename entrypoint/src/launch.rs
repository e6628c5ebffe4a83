//! Replacing the entrypoint with phpeek-pm or the user's command
//! (execvp), so that program becomes PID 1 and its exit code is the
//! container's.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::settings::Env;

/// An exec that failed; on success exec doesn't return.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LaunchError {
    /// An argument or variable contains a NUL byte, which exec can't pass.
    #[error("cannot run {0:?}: an argument or environment variable contains a NUL byte")]
    Nul(String),
    /// execvp failed.
    #[error("failed to run {program}: {errno}")]
    Exec {
        /// The program.
        program: String,
        /// The error from execvp.
        #[source]
        errno: Errno,
    },
}

impl LaunchError {
    /// Returns the exit code a shell uses for the same failure: 127 when the
    /// program isn't found, 126 when it can't be run.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            LaunchError::Exec {
                errno: Errno::ENOENT,
                ..
            } => 127,
            _ => 126,
        }
    }
}

/// Replaces this process with `argv[0]`, looked up in PATH, with `env` as
/// its whole environment. Returns only on failure.
pub(crate) fn exec(argv: &[OsString], env: &Env) -> LaunchError {
    let program = argv
        .first()
        .map(|program| program.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(args) = argv
        .iter()
        .map(|arg| CString::new(arg.as_bytes()).ok())
        .collect::<Option<Vec<CString>>>()
    else {
        return LaunchError::Nul(program);
    };
    let Some(vars) = env
        .iter()
        .map(|(name, value)| CString::new(format!("{name}={value}")).ok())
        .collect::<Option<Vec<CString>>>()
    else {
        return LaunchError::Nul(program);
    };
    let Some(file) = args.first() else {
        return LaunchError::Nul(program);
    };

    reset_sigpipe();
    match nix::unistd::execvpe(file, &args, &vars) {
        Ok(never) => match never {},
        Err(errno) => LaunchError::Exec { program, errno },
    }
}

/// Restores the default SIGPIPE action. The Rust runtime ignores SIGPIPE,
/// and an ignored signal stays ignored across exec, which would make a
/// shell pipeline in the new program see EPIPE errors instead of exiting.
fn reset_sigpipe() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL installs no handler code, so no Rust code can run in
    // signal context; the call only changes the process's signal table.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &default) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        let exec_error = |errno| LaunchError::Exec {
            program: "x".to_owned(),
            errno,
        };

        assert_eq!(exec_error(Errno::ENOENT).exit_code(), 127);
        assert_eq!(exec_error(Errno::EACCES).exit_code(), 126);
        assert_eq!(
            exec_error(Errno::ENOENT).to_string(),
            "failed to run x: ENOENT: No such file or directory"
        );
    }

    #[test]
    fn nul_byte_is_rejected_before_exec() {
        let argv = [OsString::from("sh"), OsString::from("a\0b")];
        let error = exec(&argv, &Env::default());

        assert!(matches!(error, LaunchError::Nul(_)));
        assert_eq!(error.exit_code(), 126);
    }
}
