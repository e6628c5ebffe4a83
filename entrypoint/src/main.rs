//! `phpeek-entrypoint`: the container ENTRYPOINT. All logic is in the
//! library; see its documentation for the steps and exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    ExitCode::from(phpeek_entrypoint::run(args))
}
