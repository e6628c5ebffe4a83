//! Command-line arguments of `phpeek-pm`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Path of the config file used when neither `-c` nor `PHPEEK_PM_CONFIG`
/// names one.
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/phpeek-pm/phpeek-pm.yaml";

/// Process manager for PHP containers
///
/// phpeek-pm runs as PID 1 and supervises php-fpm, nginx, queue workers and
/// other processes: start order with dependencies and health checks,
/// restarts with backoff, graceful ordered shutdown, zombie reaping and
/// structured logs on stdout.
///
/// The config file is the one given with -c, else $PHPEEK_PM_CONFIG, else
/// /etc/phpeek-pm/phpeek-pm.yaml. When none of these exists, the built-in
/// configuration runs php-fpm and nginx; it reads PHP_FPM_BIN, PHP_FPM_CONFIG,
/// PHP_FPM_LISTEN, NGINX_BIN, NGINX_PREFIX, NGINX_CONFIG and NGINX_HTTP_PORT.
///
/// Exit codes: 0 after a clean shutdown, 1 when the start failed (a pre-start
/// hook or a dependency), 2 for an invalid config, 3 when a process became
/// fatal or every process finished and one of them failed.
#[derive(Debug, Parser)]
#[command(name = "phpeek-pm", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Config file to load
    ///
    /// Default: $PHPEEK_PM_CONFIG, else /etc/phpeek-pm/phpeek-pm.yaml, else
    /// the built-in php-fpm and nginx configuration.
    #[arg(
        short,
        long,
        global = true,
        env = "PHPEEK_PM_CONFIG",
        value_name = "FILE"
    )]
    pub(crate) config: Option<PathBuf>,

    /// Subcommand; `serve` when omitted
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start and supervise the configured processes (the default)
    Serve,
    /// Check the config file and print every problem found
    ///
    /// Exits 0 when the file is valid (warnings allowed) and 2 when it has
    /// errors.
    CheckConfig {
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Print the version
    Version,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default() {
        let cli = Cli::try_parse_from(["phpeek-pm", "-c", "/tmp/x.yaml"]).expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(cli.config, Some(PathBuf::from("/tmp/x.yaml")));
    }

    #[test]
    fn check_config_takes_json_flag() {
        let cli = Cli::try_parse_from(["phpeek-pm", "check-config", "--json"]).expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::CheckConfig { json: true })
        ));
    }
}
