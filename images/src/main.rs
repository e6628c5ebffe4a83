//! `phpeek-image`: parse arguments, build, print the summary.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use phpeek_image::progress::Progress;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build(args) => {
            let progress = if args.plain_progress {
                Progress::plain()
            } else {
                Progress::detect()
            };
            let options = args.into_options();
            match phpeek_image::build(&options, &progress) {
                Ok(report) => {
                    print!("{}", phpeek_image::summary::render(&report));
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    // {:#} prints the whole cause chain on one line.
                    eprintln!("phpeek-image: error: {:#}", anyhow::Error::new(error));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
