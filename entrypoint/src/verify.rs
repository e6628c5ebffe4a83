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
    #[error(
        "`{command}` rejected {path} (exit code {code}); its output is above{}",
        hint.as_deref().map(|hint| format!(". {hint}")).unwrap_or_default()
    )]
    Rejected {
        /// The command line, for the message.
        command: String,
        /// The config file.
        path: String,
        /// The validator's exit code, or -1 when a signal ended it.
        code: i32,
        /// The likely fix, when the output shows a known cause.
        hint: Option<String>,
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
    run(command, env, ("PHP_FPM_BIN", program), config, |_| None)?;
    message::info(format_args!("php-fpm -t accepted {}", config.display()));
    Ok(())
}

/// Runs `nginx -t` on the rendered nginx config, which listens on `port`.
/// `-e stderr` keeps nginx from opening its compiled-in error log first,
/// which fails without root.
///
/// # Errors
///
/// Returns an error when nginx can't run or rejects the config. When nginx
/// could not bind `port` because it isn't root, the error names
/// NGINX_HTTP_PORT as the fix.
pub(crate) fn nginx(
    program: &str,
    prefix: &str,
    config: &Path,
    port: Option<i64>,
    env: &Env,
) -> Result<(), VerifyError> {
    let mut command = Command::new(program);
    command
        .args(["-t", "-q", "-p", prefix, "-e", "stderr", "-c"])
        .arg(config);
    let is_root = nix::unistd::Uid::effective().is_root();
    let hint = |output: &Output| privileged_port_hint(output, port, is_root);
    run(command, env, ("NGINX_BIN", program), config, hint)?;
    message::info(format_args!("nginx -t accepted {}", config.display()));
    Ok(())
}

/// Returns the fix for nginx's `bind() ... (13: Permission denied)`
/// without root. Linux lets only privileged processes bind ports below
/// net.ipv4.ip_unprivileged_port_start, which is 1024 unless the runtime
/// lowers it (Docker 20.10 and later set 0; podman and Kubernetes keep
/// 1024 by default).
fn privileged_port_hint(output: &Output, port: Option<i64>, is_root: bool) -> Option<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let denied = stderr.contains("bind() to ") && stderr.contains("(13: Permission denied)");
    if is_root || !denied {
        return None;
    }
    let port = port.map_or_else(|| "NGINX_HTTP_PORT".to_owned(), |port| port.to_string());
    Some(format!(
        "Without root, nginx may not listen on port {port}: set NGINX_HTTP_PORT to 1024 or \
         above, like NGINX_HTTP_PORT=8080, and publish that port (`-p 80:8080`)"
    ))
}

fn run(
    mut command: Command,
    env: &Env,
    (variable, program): (&'static str, &str),
    config: &Path,
    hint: impl Fn(&Output) -> Option<String>,
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
        hint: hint(&output),
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
        let error = run(
            command,
            &env,
            ("PHP_FPM_BIN", "sh"),
            Path::new("/x.conf"),
            |_| None,
        )
        .err();

        assert!(matches!(
            error,
            Some(VerifyError::Rejected { code: 78, .. })
        ));
    }

    fn nginx_output(stderr: &str) -> Output {
        use std::os::unix::process::ExitStatusExt;

        Output {
            status: std::process::ExitStatus::from_raw(1 << 8),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn privileged_port_hint_names_the_variable() {
        let denied = nginx_output(
            "nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)\n\
             nginx: configuration file /tmp/phpeek/nginx.conf test failed\n",
        );

        let hint = privileged_port_hint(&denied, Some(80), false).unwrap_or_default();

        assert!(hint.contains("port 80"), "{hint}");
        assert!(
            hint.contains("set NGINX_HTTP_PORT to 1024 or above"),
            "{hint}"
        );
        assert!(hint.contains("NGINX_HTTP_PORT=8080"), "{hint}");
        assert_eq!(privileged_port_hint(&denied, Some(80), true), None);
    }

    #[test]
    fn privileged_port_hint_only_for_denied_bind() {
        let in_use =
            nginx_output("nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address in use)\n");
        let typo = nginx_output("nginx: [emerg] unknown directive \"lisen\"\n");

        assert_eq!(privileged_port_hint(&in_use, Some(80), false), None);
        assert_eq!(privileged_port_hint(&typo, Some(80), false), None);
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
