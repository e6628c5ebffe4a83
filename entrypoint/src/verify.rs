//! Checks of the rendered configs before anything starts: `php-fpm -t`,
//! `nginx -t` and the phpeek-pm config loader.
//!
//! On failure the validator's own output is copied to stderr unchanged,
//! followed by one line naming the file and the exit code.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::message;
use crate::settings::Env;

/// A config that a validator rejected, or a validator that didn't run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyError {
    /// The validator exited non-zero; its output is already on stderr.
    #[error("`{command}` rejected {path} (exit code {code}); its output is above")]
    Rejected {
        /// The command line, for the message.
        command: String,
        /// The config file.
        path: String,
        /// The validator's exit code, or -1 when a signal ended it.
        code: i32,
    },
    /// The validator could not be started.
    #[error("failed to run {program} (set {variable} to the right program)")]
    NotRun {
        /// The program.
        program: String,
        /// The variable that names it.
        variable: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The phpeek-pm config has errors; they are listed in the message.
    #[error("invalid phpeek-pm config {path}:\n{report}")]
    InvalidPmConfig {
        /// The config file.
        path: String,
        /// Every problem, one per line.
        report: String,
    },
}

/// Runs `php-fpm -t` on the rendered php-fpm config, with `env`, which
/// includes PHP_INI_SCAN_DIR, so the php.ini drop-in is read as well.
///
/// # Errors
///
/// Returns an error when php-fpm can't run or rejects the config.
pub(crate) fn php_fpm(program: &str, config: &Path, env: &Env) -> Result<(), VerifyError> {
    let mut command = Command::new(program);
    command.arg("-t").arg("--fpm-config").arg(config);
    run(command, env, ("PHP_FPM_BIN", program), config)?;
    message::info(format_args!("php-fpm -t accepted {}", config.display()));
    Ok(())
}

/// Runs `nginx -t` on the rendered nginx config. `-e stderr` keeps nginx
/// from opening its compiled-in error log first, which fails without root.
///
/// # Errors
///
/// Returns an error when nginx can't run or rejects the config.
pub(crate) fn nginx(
    program: &str,
    prefix: &str,
    config: &Path,
    env: &Env,
) -> Result<(), VerifyError> {
    let mut command = Command::new(program);
    command
        .args(["-t", "-q", "-p", prefix, "-e", "stderr", "-c"])
        .arg(config);
    run(command, env, ("NGINX_BIN", program), config)?;
    message::info(format_args!("nginx -t accepted {}", config.display()));
    Ok(())
}

fn run(
    mut command: Command,
    env: &Env,
    (variable, program): (&'static str, &str),
    config: &Path,
) -> Result<(), VerifyError> {
    command.env_clear().envs(env.iter()).stdin(Stdio::null());
    let line = describe(&command);
    let output: Output = command.output().map_err(|source| VerifyError::NotRun {
        program: program.to_owned(),
        variable,
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    message::passthrough(&output.stdout);
    message::passthrough(&output.stderr);
    Err(VerifyError::Rejected {
        command: line,
        path: config.display().to_string(),
        code: output.status.code().unwrap_or(-1),
    })
}

fn describe(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    parts.join(" ")
}

/// Loads the phpeek-pm config at `path` with the library's loader
/// (`load_str`), as phpeek-pm will, with the environment phpeek-pm gets.
///
/// # Errors
///
/// Returns every problem the loader found when the config has errors.
pub(crate) fn pm_config(path: &Path, env: &Env) -> Result<(), VerifyError> {
    let text = std::fs::read_to_string(path).map_err(|error| VerifyError::InvalidPmConfig {
        path: path.display().to_string(),
        report: format!("failed to read the file: {error}"),
    })?;
    let name = path.display().to_string();
    let loaded = phpeek::config::load_str(&text, &name, env).map_err(|report| {
        VerifyError::InvalidPmConfig {
            path: name.clone(),
            report: report.to_string(),
        }
    })?;
    report_valid(path, &loaded);
    Ok(())
}

/// Applies the `PHPEEK_PM_*` variables of `env` to the rendered config
/// `text` and checks the result, as phpeek-pm will when it loads the file
/// at `path`. Returns the effective config, which is what phpeek-pm runs,
/// as YAML after a comment that names its sources.
///
/// # Errors
///
/// Returns every problem the loader found when the config has errors. Line
/// numbers in it refer to `text`.
pub(crate) fn effective_pm_config(
    text: &str,
    path: &Path,
    env: &Env,
) -> Result<String, VerifyError> {
    let name = path.display().to_string();
    let (loaded, effective) =
        phpeek::config::load_str_effective(text, &name, env).map_err(|report| {
            VerifyError::InvalidPmConfig {
                path: name.clone(),
                report: report.to_string(),
            }
        })?;
    report_valid(path, &loaded);
    Ok(format!("{EFFECTIVE_HEADER}{effective}"))
}

/// First lines of the effective phpeek-pm config.
const EFFECTIVE_HEADER: &str = "\
# Written by phpeek-entrypoint at every start: templates/phpeek-pm.yaml.j2
# rendered, then the PHPEEK_PM_* environment variables applied. To use a
# file of your own, mount it and set PHPEEK_PM_CONFIG to its path.
";

/// Prints one line with the number of enabled processes and warnings.
fn report_valid(path: &Path, loaded: &phpeek::config::Loaded) {
    let warnings = loaded.warnings.len();
    let count = loaded.config.processes.len();
    let suffix = match warnings {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        _ => format!(", {warnings} warnings"),
    };
    message::info(format_args!(
        "phpeek-pm config {} is valid: {count} enabled processes{suffix}",
        path.display()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_variable() {
        let error = php_fpm(
            "/nonexistent/php-fpm",
            Path::new("/tmp/x.conf"),
            &Env::default(),
        )
        .err()
        .map(|error| error.to_string());

        assert_eq!(
            error.as_deref(),
            Some("failed to run /nonexistent/php-fpm (set PHP_FPM_BIN to the right program)")
        );
    }

    #[test]
    fn failing_validator_reports_exit_code() {
        let env = Env::from_pairs([("PATH", "/usr/bin:/bin")]);
        let mut command = Command::new("sh");
        command.args(["-c", "exit 78"]);
        let error = run(command, &env, ("PHP_FPM_BIN", "sh"), Path::new("/x.conf")).err();

        assert!(matches!(
            error,
            Some(VerifyError::Rejected { code: 78, .. })
        ));
    }

    #[test]
    fn pm_config_errors_are_listed() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pm.yaml");
        std::fs::write(&path, "processes:\n  web:\n    scale: 0\n")?;
        let error = pm_config(&path, &Env::default())
            .err()
            .map(|error| error.to_string());
        let text = error.unwrap_or_default();

        assert!(text.contains("process has no `command`"), "{text}");
        assert!(text.contains("scale must be at least 1"), "{text}");
        Ok(())
    }

    #[test]
    fn effective_config_has_the_overlay_applied() {
        let env = Env::from_pairs([
            ("PHPEEK_PM_PROCESS_WORKER_ENABLED", "yes"),
            ("PHPEEK_PM_PROCESS_WORKER_SCALE", "2"),
        ]);
        let yaml = "processes:\n  web:\n    command: [nginx]\n  \
                    worker:\n    enabled: false\n    command: [php, worker.php]\n";
        let effective = effective_pm_config(yaml, Path::new("/x/pm.yaml"), &env);
        let text = effective.unwrap_or_else(|error| error.to_string());

        assert!(text.contains("  worker:\n    enabled: yes\n"), "{text}");
        assert!(text.contains("    scale: 2\n"), "{text}");
    }

    #[test]
    fn effective_config_errors_name_the_variable() {
        let env = Env::from_pairs([("PHPEEK_PM_PROCESS_WEB_SCALE", "0")]);
        let yaml = "processes:\n  web:\n    command: [nginx]\n";
        let error = effective_pm_config(yaml, Path::new("/x/pm.yaml"), &env)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();

        assert!(
            error.starts_with("invalid phpeek-pm config /x/pm.yaml:"),
            "{error}"
        );
        assert!(error.contains("$PHPEEK_PM_PROCESS_WEB_SCALE"), "{error}");
    }
}
