//! The command line: what `docker run IMAGE [ARGS...]` requests.
//!
//! The entrypoint takes raw arguments instead of parsing options, because
//! they mostly belong to another program:
//!
//! - none, `phpeek-pm [ARGS...]`, or arguments starting with `-`: start the
//!   stack, passing the arguments on to phpeek-pm;
//! - `wait-for HOST:PORT [--timeout N]`: wait for a TCP port and exit;
//! - `--print-env-table`: print the environment variable reference;
//! - anything else: prepare the app, then run it as a command.

use std::ffi::OsString;
use std::path::Path;

/// The action requested on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// Prepare the app, render and check the configs, exec phpeek-pm with
    /// these extra arguments.
    Stack(Vec<OsString>),
    /// Prepare the app, then exec this command.
    Command(Vec<OsString>),
    /// Wait for a TCP address; the arguments after `wait-for`.
    WaitFor(Vec<String>),
    /// Print the Markdown reference of every environment variable.
    PrintEnvTable,
}

impl Invocation {
    /// Reads the arguments after the program name.
    pub(crate) fn parse(args: Vec<OsString>) -> Invocation {
        let Some(first) = args.first() else {
            return Invocation::Stack(Vec::new());
        };
        let is_pm = Path::new(first).file_name() == Some("phpeek-pm".as_ref());
        if is_pm {
            return Invocation::Stack(args[1..].to_vec());
        }
        match first.to_str() {
            Some("--print-env-table") => Invocation::PrintEnvTable,
            Some("wait-for") => {
                let rest = args[1..]
                    .iter()
                    .map(|arg| arg.to_string_lossy().into_owned())
                    .collect();
                Invocation::WaitFor(rest)
            }
            // Options alone go to phpeek-pm, as official images pass
            // `docker run IMAGE --flag` to their main program.
            Some(text) if text.starts_with('-') => Invocation::Stack(args),
            _ => Invocation::Command(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Invocation {
        Invocation::parse(args.iter().map(OsString::from).collect())
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn no_arguments_start_the_stack() {
        assert_eq!(parse(&[]), Invocation::Stack(Vec::new()));
    }

    #[test]
    fn phpeek_pm_arguments_are_passed_on() {
        let expected = Invocation::Stack(os(&["check-config"]));

        assert_eq!(parse(&["phpeek-pm", "check-config"]), expected);
        assert_eq!(
            parse(&["/usr/local/bin/phpeek-pm", "check-config"]),
            expected
        );
        assert_eq!(parse(&["--json"]), Invocation::Stack(os(&["--json"])));
    }

    #[test]
    fn other_commands_run_after_setup() {
        let expected = Invocation::Command(os(&["php", "artisan", "migrate"]));

        assert_eq!(parse(&["php", "artisan", "migrate"]), expected);
        assert_eq!(parse(&["bash"]), Invocation::Command(os(&["bash"])));
        let not_pm = parse(&["phpeek-pm-helper"]);

        assert_eq!(not_pm, Invocation::Command(os(&["phpeek-pm-helper"])));
    }

    #[test]
    fn subcommands_are_recognized() {
        assert_eq!(parse(&["--print-env-table"]), Invocation::PrintEnvTable);
        let wait = parse(&["wait-for", "db:5432", "--timeout", "5"]);
        let expected = ["db:5432", "--timeout", "5"].map(str::to_owned).to_vec();

        assert_eq!(wait, Invocation::WaitFor(expected));
    }
}
