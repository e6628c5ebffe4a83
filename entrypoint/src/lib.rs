//! phpeek-entrypoint: the container entrypoint of the PHPeek PHP images.
//!
//! It prepares the PHP app, renders nginx, php-fpm, php.ini and phpeek-pm
//! configs from environment variables, checks them, and then replaces
//! itself with phpeek-pm, or with the user's command.
//!
//! # How it works
//!
//! 1. [`args`] decides between starting the stack and running a command.
//! 2. [`settings`] validates every environment variable listed in
//!    [`vars`], reporting all invalid ones at once.
//! 3. [`framework`] detects Laravel, Symfony or WordPress; [`accounts`]
//!    applies PUID/PGID as root; [`folders`] creates the writable folders
//!    and hands them to the app user.
//! 4. [`render`] fills the templates; [`verify`] runs `php-fpm -t`,
//!    `nginx -t` and the phpeek-pm loader on the results.
//! 5. [`init_scripts`] runs the user's scripts, then [`launch`] execs
//!    phpeek-pm, so it becomes PID 1.
//!
//! # Exit codes
//!
//! The entrypoint exits itself only when the start fails: 78 (EX_CONFIG)
//! for an invalid variable, template or config, including a config that
//! `php-fpm -t` or `nginx -t` rejects (their own code is printed); 1 when an
//! init script fails or a file can't be written; 126 or 127 when the final
//! program can't run; 64 (EX_USAGE) for invalid `wait-for` arguments.
//! Otherwise the exit code is that of phpeek-pm or the command.

mod accounts;
mod capabilities;
mod folders;
mod framework;
mod laravel;
mod message;
mod mode;
mod render;
mod settings;
mod vars;

use std::ffi::OsString;
use std::io::Write;

/// Runs the entrypoint with the arguments after the program name and
/// returns the exit code.
pub fn run(args: Vec<OsString>) -> u8 {
    if args.first().is_some_and(|arg| arg == "--print-env-table") {
        let mut stdout = std::io::stdout().lock();
        return match stdout.write_all(vars::markdown_table().as_bytes()) {
            Ok(()) => 0,
            Err(_) => 1,
        };
    }
    message::error("not implemented yet");
    1
}
