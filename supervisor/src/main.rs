//! `phpeek-pm`: parse arguments, load the config, run the supervisor.

mod cli;
mod client;
mod name_services;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;

use phpeek::config::{self, Loaded, Report};
use phpeek::output::{Output, OutputSettings};

use cli::{Cli, Command, DEFAULT_CONFIG_PATH};

/// The configuration used when no config file exists.
const BUILT_IN_CONFIG: &str = include_str!("../../templates/phpeek-pm.default.yaml");

/// Maximum wait at exit for child pipes to reach end of file.
const CAPTURE_DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Maximum wait at exit for tasks still running on the runtime's threads.
const RUNTIME_SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Maximum wait at exit for stdout to take the last records. A reader that
/// stopped reading must not keep phpeek-pm alive after its children.
const OUTPUT_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

fn main() -> ExitCode {
    name_services::pin_to_builtin_services();
    // An empty variable means "not set", as in a compose file that writes
    // `PHPEEK_PM_CONFIG:` with no value.
    if std::env::var_os("PHPEEK_PM_CONFIG").is_some_and(|value| value.is_empty()) {
        std::env::remove_var("PHPEEK_PM_CONFIG");
    }
    let cli = Cli::parse();
    let source = ConfigSource::resolve(cli.config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&source),
        Command::CheckConfig { json } => check_config(&source, json),
        Command::Version => {
            let linkage = if name_services::STATIC_LIBC {
                "statically linked"
            } else {
                "dynamically linked"
            };
            println!("phpeek-pm {} ({linkage})", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Health { url } => client::health(&source, url),
        Command::Ctl(args) => client::ctl(&source, args),
    }
}

/// Source of the configuration.
pub(crate) enum ConfigSource {
    File(PathBuf),
    BuiltIn,
}

impl ConfigSource {
    fn resolve(given: Option<PathBuf>) -> ConfigSource {
        match given {
            Some(path) => ConfigSource::File(path),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                ConfigSource::File(PathBuf::from(DEFAULT_CONFIG_PATH))
            }
            None => ConfigSource::BuiltIn,
        }
    }

    pub(crate) fn load(&self) -> Result<Loaded, Report> {
        let env = config::ProcessEnv;
        match self {
            ConfigSource::File(path) => config::load_file(path, &env),
            ConfigSource::BuiltIn => config::load_str(BUILT_IN_CONFIG, "<built-in config>", &env),
        }
    }
}

fn serve(source: &ConfigSource) -> ExitCode {
    // Hold back the signals phpeek-pm handles until its handlers exist. As
    // PID 1 the kernel drops a signal that has no handler, so a SIGTERM that
    // arrives while the config loads would otherwise be lost.
    phpeek::supervisor::hold_signals();
    let loaded = match source.load() {
        Ok(loaded) => loaded,
        Err(report) => {
            eprintln!("phpeek-pm: invalid configuration\n{report}");
            return ExitCode::from(phpeek::ExitCode::InvalidConfig as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("phpeek-pm: could not start the async runtime: {error}");
            return ExitCode::from(phpeek::ExitCode::StartFailed as u8);
        }
    };
    let code = runtime.block_on(run(loaded));
    // Dropping the runtime would wait for blocking tasks, such as a host
    // name lookup stuck on an unreachable DNS server; the exit must not.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_LIMIT);
    ExitCode::from(code as u8)
}

async fn run(loaded: Loaded) -> phpeek::ExitCode {
    let global = &loaded.config.global;
    let output = match Output::start(OutputSettings::from_config(global)) {
        Ok(output) => output,
        Err(error) => {
            eprintln!("phpeek-pm: {error}");
            return phpeek::ExitCode::StartFailed;
        }
    };
    let subscriber = tracing_subscriber::registry().with(output.layer(global.log_level));
    // Only fails when a subscriber is already set, which main never does.
    let _ = tracing::subscriber::set_global_default(subscriber);

    for warning in &loaded.warnings {
        tracing::warn!(warning = %warning, "config warning");
    }
    let listeners = match phpeek::http::Listeners::bind(global).await {
        Ok(listeners) => listeners,
        Err(error) => {
            tracing::error!(error = %error, cause = %error.source, "could not start an HTTP listener");
            output.shutdown().await;
            return phpeek::ExitCode::StartFailed;
        }
    };
    let code = match phpeek::http::run_supervised(loaded.config, output.handle(), listeners).await {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = %error, "could not install signal handling");
            phpeek::ExitCode::StartFailed
        }
    };
    output.handle().wait_for_captures(CAPTURE_DRAIN_LIMIT).await;
    if tokio::time::timeout(OUTPUT_FLUSH_LIMIT, output.shutdown())
        .await
        .is_err()
    {
        eprintln!("phpeek-pm: stdout is not being read; exiting without the last log records");
    }
    code
}

fn check_config(source: &ConfigSource, json: bool) -> ExitCode {
    let result = source.load();
    if json {
        println!("{}", report_json(&result));
    } else {
        match &result {
            Ok(loaded) if loaded.warnings.is_empty() => println!("configuration is valid"),
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    println!("{warning}");
                }
                println!(
                    "configuration is valid, with {} warning(s)",
                    loaded.warnings.len()
                );
            }
            Err(report) => eprintln!("{report}"),
        }
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(phpeek::ExitCode::InvalidConfig as u8),
    }
}

/// Renders a check result as `{"valid", "errors", "warnings"}`.
fn report_json(result: &Result<Loaded, Report>) -> String {
    let (errors, warnings): (Vec<&config::Problem>, Vec<&config::Problem>) = match result {
        Ok(loaded) => (Vec::new(), loaded.warnings.iter().collect()),
        Err(report) => (report.errors().collect(), report.warnings().collect()),
    };
    let value = serde_json::json!({
        "valid": result.is_ok(),
        "errors": errors,
        "warnings": warnings,
    });
    value.to_string()
}
