//! phpeek-entrypoint: the container entrypoint of the PHPeek PHP images.
//!
//! It prepares the PHP app, renders nginx, php-fpm, php.ini and phpeek-pm
//! configs from environment variables, checks them, and then replaces
//! itself with phpeek-pm, or with the user's command.
//!
//! # How it works
//!
//! 1. `args` decides between starting the stack and running a command.
//! 2. `settings` validates every environment variable listed in
//!    `vars`, reporting all invalid ones at once.
//! 3. `framework` detects Laravel, Symfony or WordPress; `accounts`
//!    applies PUID/PGID as root; `folders` creates the writable folders
//!    and hands them to the app user.
//! 4. `render` fills the templates; `verify` runs `php-fpm -t`,
//!    `nginx -t` and the phpeek-pm loader on the results.
//! 5. `init_scripts` runs the user's scripts, then `launch` execs
//!    phpeek-pm, so it becomes PID 1.
//!
//! # Exit codes
//!
//! The entrypoint exits by itself only when the start fails:
//!
//! - 78 (EX_CONFIG): an invalid variable, template or config. This
//!   includes a config that `php-fpm -t` or `nginx -t` rejects, whose own
//!   exit code is printed.
//! - 1: an init script failed, or a file could not be written.
//! - 126 or 127: the final program can't run or isn't found.
//! - 64 (EX_USAGE): invalid `wait-for` arguments.
//!
//! Otherwise the exit code is that of phpeek-pm or the command.

mod accounts;
mod args;
mod folders;
mod framework;
mod init_scripts;
mod laravel;
mod launch;
mod message;
mod mode;
mod render;
mod settings;
mod start;
mod vars;
mod verify;
mod wait_for;

use std::ffi::OsString;
use std::io::Write;

use args::Invocation;

/// Exit code for invalid command-line arguments, as sysexits.h's EX_USAGE.
const EX_USAGE: u8 = 64;

/// Runs the entrypoint with the arguments after the program name and
/// returns the exit code. When the start succeeds this doesn't return,
/// because the process has become phpeek-pm or the user's command.
pub fn run(args: Vec<OsString>) -> u8 {
    match Invocation::parse(args) {
        Invocation::PrintEnvTable => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(vars::markdown_table().as_bytes()) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Invocation::WaitFor(args) => match wait_for::WaitFor::parse(&args) {
            Ok(wait) if wait.run() => 0,
            Ok(_) => 1,
            Err(usage) => {
                message::error(format_args!(
                    "wait-for: {usage}; usage: phpeek-entrypoint wait-for HOST:PORT \
                     [--timeout SECONDS]"
                ));
                EX_USAGE
            }
        },
        Invocation::Stack(extra) => fail(start::run(start::Target::Stack(extra))),
        Invocation::Command(argv) => fail(start::run(start::Target::Command(argv))),
    }
}

fn fail(failure: start::Failure) -> u8 {
    failure.report();
    failure.exit_code()
}
