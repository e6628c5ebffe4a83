//! Command-line arguments of `phpeek-pm`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use phpeek::ctl::ScaleChange;

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
    /// Probe /readyz and exit 0 when every process is ready, else 1
    ///
    /// For a container HEALTHCHECK or a Kubernetes exec probe. The URL
    /// defaults to http://127.0.0.1:<metrics_port>/readyz, with the port
    /// from the config file, else 9090. Exits 1 when the metrics endpoint is
    /// disabled in the config, since nothing serves /readyz then.
    Health {
        /// URL to probe instead of the local /readyz
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Control a running phpeek-pm through its management API
    ///
    /// The API must be enabled (global.api_enabled). Failures exit 1 with
    /// the server's message.
    Ctl(CtlArgs),
}

/// Arguments of `phpeek-pm ctl`.
#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// Base URL of the management API
    ///
    /// Default: the api_address and api_port of the config file (see -c),
    /// else http://127.0.0.1:9180.
    #[arg(long, env = "PHPEEK_PM_API_URL", value_name = "URL")]
    pub(crate) url: Option<String>,

    /// Bearer token, as set in global.api_auth
    ///
    /// Default: the config file's api_auth.
    #[arg(
        long,
        env = "PHPEEK_PM_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) token: Option<String>,

    /// Print the server's JSON response instead of a table
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Subcommand
    #[command(subcommand)]
    pub(crate) action: CtlAction,
}

/// Subcommands of `phpeek-pm ctl`.
#[derive(Debug, Subcommand)]
pub(crate) enum CtlAction {
    /// Show every process and its instances, or one process
    Status {
        /// Process name; all when omitted
        name: Option<String>,
    },
    /// Set the number of instances
    ///
    /// COUNT is a number of instances (3), or a change of the current
    /// number (+2, -1). Scaling down stops the highest-numbered instances
    /// gracefully.
    Scale {
        /// Process name
        name: String,
        /// New instance count, or +N / -N
        #[arg(allow_hyphen_values = true, value_name = "COUNT")]
        count: ScaleChange,
    },
    /// Start the instances of a process that are not running
    Start {
        /// Process name
        name: String,
    },
    /// Stop every instance of a process gracefully
    Stop {
        /// Process name
        name: String,
    },
    /// Restart every instance of a process gracefully
    Restart {
        /// Process name
        name: String,
    },
    /// Print the recent output records of a process
    Logs {
        /// Process name
        name: String,
        /// Number of newest records, 1 to 1000
        #[arg(long, short = 'n', default_value_t = 100)]
        limit: u32,
    },
    /// Start a run of a scheduled task now
    Trigger {
        /// Process name
        name: String,
    },
}

impl CtlAction {
    /// Converts the parsed subcommand into the library's action.
    pub(crate) fn into_action(self) -> phpeek::ctl::Action {
        use phpeek::ctl::Action;
        match self {
            CtlAction::Status { name } => Action::Status(name),
            CtlAction::Scale { name, count } => Action::Scale {
                name,
                change: count,
            },
            CtlAction::Start { name } => Action::Start(name),
            CtlAction::Stop { name } => Action::Stop(name),
            CtlAction::Restart { name } => Action::Restart(name),
            CtlAction::Logs { name, limit } => Action::Logs { name, limit },
            CtlAction::Trigger { name } => Action::Trigger(name),
        }
    }
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
    fn ctl_scale_accepts_negative_delta() {
        let cli =
            Cli::try_parse_from(["phpeek-pm", "ctl", "scale", "queue", "-1"]).expect("parses");
        let Some(Command::Ctl(args)) = cli.command else {
            panic!("expected ctl");
        };
        assert!(matches!(
            args.action,
            CtlAction::Scale {
                count: ScaleChange::By(-1),
                ..
            }
        ));
    }

    #[test]
    fn health_takes_url() {
        let cli = Cli::try_parse_from(["phpeek-pm", "health", "--url", "http://x/readyz"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Some(Command::Health { url: Some(_) })
        ));
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
