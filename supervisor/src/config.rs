//! Configuration: reading, checking and resolving `phpeek-pm.yaml`.
//!
//! # How loading works
//!
//! 1. The YAML text is parsed into a tree of nodes that remember their line
//!    and column. Duplicate keys and a second document are errors.
//! 2. `PHPEEK_PM_*` environment variables are applied onto the tree, as
//!    described in the `overlay` module. Their values replace values of the
//!    file and remember the variable that set them, so the steps below treat
//!    both alike and name the variable in problems.
//! 3. The tree is decoded field by field into the types in [`model`]. Each
//!    scalar is read as the type of its field, after `${VAR}` references in it
//!    are substituted ([`substitute()`]). Unknown keys are errors, and keys
//!    that PHPeek PM 1.x accepts but this version ignores are warnings.
//! 4. Checks that span processes run last: dependencies must name enabled
//!    processes and form no cycle. The enabled processes are sorted in start
//!    order.
//!
//! Every problem found on the way is collected, not only the first, so
//! `phpeek-pm check-config` can list them all.

use std::path::Path;

mod credentials;
mod decode;
mod emit;
mod endpoints;
mod fields;
mod health;
mod logging;
pub mod model;
mod node;
mod overlay;
mod process;
mod report;
mod schedule;
mod substitute;
#[cfg(test)]
mod testing;
mod validate;
mod values;
mod yaml;

pub use model::*;
pub use report::{Problem, Report, Severity};
pub use substitute::{substitute, Lookup, ProcessEnv, SubstituteError};

use fields::Decoder;
use node::{Node, Origin};
use report::Problems;

/// A configuration that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Problems that didn't stop loading, in file order.
    pub warnings: Vec<Problem>,
}

/// Reads and validates the configuration file at `path`, substituting
/// `${VAR}` references and applying `PHPEEK_PM_*` variables from `env`.
///
/// # Errors
///
/// Returns a [`Report`] with every error and warning when the file can't be
/// read or has any error. A failed read is a single problem naming the path
/// and the OS error.
pub fn load_file(path: &Path, env: &impl Lookup) -> Result<Loaded, Report> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        let message = format!("failed to read the configuration file: {error}");
        Report::new(vec![Problem::about_file(&name, message)])
    })?;

    let (mut loaded, _) = load(&text, &name, env)?;
    loaded.config.source = Some(path.to_owned());
    Ok(loaded)
}

/// Validates configuration text, substituting `${VAR}` references and
/// applying `PHPEEK_PM_*` variables from `env`. `origin_name` names the text
/// in problems, like a file name would.
///
/// # Errors
///
/// Returns a [`Report`] with every error and warning when the text has any
/// error.
pub fn load_str(text: &str, origin_name: &str, env: &impl Lookup) -> Result<Loaded, Report> {
    load(text, origin_name, env).map(|(loaded, _)| loaded)
}

/// Validates configuration text like [`load_str`], and also returns the
/// effective configuration: the text with the `PHPEEK_PM_*` variables
/// applied, as YAML (see [`to_yaml`]).
///
/// Loading the effective text again with the same environment gives the same
/// configuration. It may contain secrets from variables such as
/// `PHPEEK_PM_API_TOKEN`, so write it where only phpeek-pm's user can read it.
///
/// # Errors
///
/// Returns a [`Report`] with every error and warning when the text has any
/// error.
pub fn load_str_effective(
    text: &str,
    origin_name: &str,
    env: &impl Lookup,
) -> Result<(Loaded, String), Report> {
    let (loaded, root) = load(text, origin_name, env)?;
    let yaml = root.as_ref().map(emit::emit).unwrap_or_default();
    Ok((loaded, yaml))
}

/// Applies the `PHPEEK_PM_*` variables from `env` to configuration text and
/// returns the result as YAML, without decoding or validating it.
///
/// Key order is kept, and strings are quoted where needed so that the output
/// parses back to the same keys and values. Comments, anchors and aliases
/// are not kept: aliases and merge keys are written out expanded. `${VAR}`
/// references are kept as written, to be substituted when the output is
/// loaded. Empty text without overlay variables gives empty output.
///
/// # Errors
///
/// Returns a [`Report`] when the text is not valid YAML or a variable can't
/// be applied: an unknown `PHPEEK_PM_*` name, an invalid list value, or two
/// variables that set one setting to different values. Warnings are
/// returned only with errors.
pub fn to_yaml(text: &str, origin_name: &str, env: &impl Lookup) -> Result<String, Report> {
    let mut problems = Problems::new(origin_name);
    let (root, _) = parse_overlaid(text, env, &mut problems);
    if problems.has_errors() {
        return Err(Report::new(problems.into_vec()));
    }
    Ok(root.as_ref().map(emit::emit).unwrap_or_default())
}

/// Lists the short environment variable names for common global settings,
/// such as `PHPEEK_PM_LOG_LEVEL`, each with the key under `global` that it
/// sets (`log_level`). When the `PHPEEK_PM_GLOBAL_*` name of the same key is
/// set too, that one wins.
pub fn short_variable_names() -> &'static [(&'static str, &'static str)] {
    overlay::SHORT_NAMES
}

/// Returns the short names whose bare whole numbers are milliseconds, such
/// as `PHPEEK_PM_LOG_MULTILINE_TIMEOUT=500`, where the setting they set reads
/// a bare number as seconds.
pub fn millisecond_variable_names() -> &'static [&'static str] {
    overlay::MILLISECOND_NAMES
}

/// Parses the text and applies the overlay. Returns the tree that was
/// decoded, if any, with the configuration.
fn load(text: &str, name: &str, env: &dyn Lookup) -> Result<(Loaded, Option<Node>), Report> {
    let mut decoder = Decoder::new(name, env);
    let (root, applied) = parse_overlaid(text, env, &mut decoder.problems);
    let config = root
        .as_ref()
        .and_then(|root| decode_root(&mut decoder, root));

    let has_errors = decoder.problems.has_errors();
    let mut problems = decoder.problems.into_vec();
    overlay::finish(&mut problems, &applied);
    match config {
        Some(config) if !has_errors => {
            let warnings = Report::new(problems).into_problems();
            Ok((Loaded { config, warnings }, root))
        }
        Some(_) => Err(Report::new(problems)),
        None => {
            // No config and no error means the file had no content: every
            // other way to get no config records an error.
            if !has_errors {
                let mut empty = Problem::about_file(name, "the configuration is empty");
                empty.set_hint("define at least one process under `processes`");
                problems.push(empty);
            }
            Err(Report::new(problems))
        }
    }
}

/// Parses `text` and applies the `PHPEEK_PM_*` overlay from `env`.
fn parse_overlaid(
    text: &str,
    env: &dyn Lookup,
    problems: &mut Problems,
) -> (Option<Node>, overlay::Applied) {
    // YAML allows a byte order mark, but the parser would read it as text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = yaml::parse(text, problems);
    // A parse that stopped has no tree to apply the variables to.
    if root.is_none() && problems.has_errors() {
        return (None, overlay::Applied::default());
    }
    overlay::apply(root, env, problems)
}

fn decode_root(decoder: &mut Decoder<'_>, root: &Node) -> Option<Config> {
    if root.is_null() {
        return None;
    }
    let draft = decode::decode(root, decoder)?;
    let processes_origin = root
        .entries()
        .and_then(|entries| entries.iter().find(|entry| entry.key == "processes"))
        .map_or(Origin::START, |entry| entry.key_origin.clone());
    let processes = validate::order_processes(decoder, draft.processes, &processes_origin);

    Some(Config {
        source: None,
        global: draft.global,
        hooks: draft.hooks,
        processes,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::time::Duration;

    use nix::sys::signal::Signal;

    use super::testing::{self, config, env, errors, load, loaded, names, only_error, position};
    use super::*;

    /// A configuration in the style of PHPeek PM 1.x, with keys this version ignores.
    const GO_STYLE: &str = r#"version: "1.0"

global:
  shutdown_timeout: 30
  log_format: json
  log_level: info
  log_timestamps: true
  restart_policy: always
  max_restart_attempts: 3
  restart_backoff: 5
  restart_backoff_initial: 5s
  restart_backoff_max: 1m
  dependency_timeout: 5m
  health_check_interval: 10
  metrics_enabled: true
  metrics_port: 9090
  metrics_path: /metrics
  api_enabled: true
  api_port: 9180
  api_auth: "${PHPEEK_PM_API_TOKEN:-}"
  api_tls:
    enabled: false
  resource_metrics_enabled: true
  resource_metrics_interval: 5
  audit_enabled: false
  tracing_enabled: false
  readiness:
    enabled: true
    path: /tmp/phpeek-ready
  zombie_reap_interval: 1s

hooks:
  pre-start:
    - name: migrate
      command: ["php", "artisan", "migrate", "--force"]
      timeout: 300
      retry: 2
      retry_delay: 5
      env:
        APP_ENV: "${APP_ENV:-local}"
  post-stop:
    - command: ["sh", "-c", "echo stopped"]
      continue_on_error: true

processes:
  php-fpm:
    enabled: true
    type: longrun
    initial_state: running
    command: ["php-fpm", "-F", "-R"]
    restart: always
    scale: 1
    max_scale: 1
    stdout: true
    stderr: true
    health_check:
      type: tcp
      address: "127.0.0.1:9000"
      initial_delay: 5
      period: 10
      timeout: 3
      failure_threshold: 3
      success_threshold: 1
      mode: both
    shutdown:
      signal: SIGQUIT
      timeout: 30
      kill_signal: SIGKILL
      graceful: true
    logging:
      stdout: true
      redaction:
        enabled: true

  nginx:
    enabled: true
    command: ["nginx", "-g", "daemon off;"]
    depends_on: [php-fpm]
    health_check:
      type: http
      url: "http://127.0.0.1:80/health"
      expected_status: 200

  horizon:
    enabled: true
    command: ["php", "artisan", "horizon"]
    depends_on: ["php-fpm"]
    user: root
    shutdown:
      signal: SIGTERM
      timeout: 60
      pre_stop_hook:
        name: terminate
        command: ["php", "artisan", "horizon:terminate"]
        timeout: 30

  queue-default:
    enabled: true
    command: ["php", "artisan", "queue:work", "--queue=default"]
    scale: 3
    restart: on-failure
    env:
      QUEUE_CONNECTION: redis

  scheduler:
    enabled: false
    command: ["php", "artisan", "schedule:run"]
    schedule: "* * * * *"
"#;

    #[test]
    fn go_style_config_loads_with_warnings_only() {
        let Loaded { config, warnings } = loaded(GO_STYLE);

        assert_eq!(
            names(&config),
            ["php-fpm", "horizon", "nginx", "queue-default"]
        );
        assert_eq!(
            config.global.restart_backoff_initial,
            Duration::from_secs(5)
        );
        assert_eq!(config.global.restart_backoff_max, Duration::from_secs(60));
        assert_eq!(
            config.hooks.pre_start[0].env,
            [("APP_ENV".to_owned(), "production".to_owned())]
        );
        assert_eq!(config.hooks.post_stop[0].name, "sh");
        let fpm = &config.processes[0];
        assert_eq!(fpm.shutdown.signal, Signal::SIGQUIT);
        assert_eq!(
            fpm.health_check.as_ref().map(|check| check.initial_delay),
            Some(Duration::from_secs(5))
        );
        let horizon_hook = config.processes[1].shutdown.pre_stop_hook.as_ref();
        assert_eq!(
            horizon_hook.map(|hook| hook.name.as_str()),
            Some("terminate")
        );

        assert!(warnings
            .iter()
            .all(|warning| warning.severity == Severity::Warning));
        let paths: BTreeSet<&str> = warnings
            .iter()
            .map(|warning| warning.path.as_str())
            .collect();
        let expected: BTreeSet<&str> = [
            "global.log_timestamps",
            "global.health_check_interval",
            "global.api_tls",
            "global.resource_metrics_enabled",
            "global.resource_metrics_interval",
            "global.audit_enabled",
            "global.tracing_enabled",
            "global.readiness",
            "global.zombie_reap_interval",
            "processes.php-fpm.initial_state",
            "processes.php-fpm.stdout",
            "processes.php-fpm.stderr",
            "processes.php-fpm.health_check.mode",
            "processes.php-fpm.shutdown.kill_signal",
            "processes.php-fpm.shutdown.graceful",
            "processes.php-fpm.logging.stdout",
        ]
        .into_iter()
        .collect();
        assert_eq!(paths, expected);
        assert_eq!(warnings.len(), expected.len());
    }

    #[test]
    fn errors_in_every_section_are_all_reported() {
        let yaml = "global:\n  log_level: loud\n\
                    hooks:\n  pre-start:\n    - command: []\n\
                    processes:\n  web:\n    command: [nginx, '${NGINX_CONF}']\n    \
                    depends_on: [php]\n    helth_check: {}\n  \
                    fpm:\n    command: [php-fpm]\n    user: no-such-user-x7\n    \
                    health_check: {type: http, url: 'https://localhost/'}\n";
        let errors = errors(yaml);
        let found: Vec<(usize, &str)> = errors
            .iter()
            .map(|error| (error.line.unwrap_or_default(), error.path.as_str()))
            .collect();

        assert_eq!(
            found,
            [
                (2, "global.log_level"),
                (5, "hooks.pre-start[0].command"),
                (8, "processes.web.command[1]"),
                (9, "processes.web.depends_on"),
                (10, "processes.web.helth_check"),
                (13, "processes.fpm.user"),
                (14, "processes.fpm.health_check.url"),
            ]
        );
        assert_eq!(
            errors[4].hint.as_deref(),
            Some("did you mean `health_check`?")
        );
    }

    #[test]
    fn unset_variable_points_at_value() {
        let error = only_error("processes:\n  web:\n    command: [php, '${MISSING_VAR}']\n");

        assert_eq!(error.path, "processes.web.command[1]");
        assert_eq!(position(&error), (Some(3), Some(20)));
        assert_eq!(
            error.message,
            "environment variable `MISSING_VAR` is not set"
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("set it, or give a default with `${MISSING_VAR:-default}`")
        );
    }

    #[test]
    fn substituted_value_cannot_change_structure() {
        let mut env = env();
        env.insert("TRICKY".to_owned(), "a: b # c\n  - d".to_owned());
        let yaml = "processes:\n  web:\n    command: [x]\n    env:\n      \
                    TRICKY: ${TRICKY}\n      LITERAL: $${HOME}\n      '${APP_ENV}': key\n";
        let loaded = load_str(yaml, testing::FILE, &env);
        let web_env = loaded.map(|loaded| loaded.config.processes[0].env.clone());

        let expected = [
            ("TRICKY".to_owned(), "a: b # c\n  - d".to_owned()),
            ("LITERAL".to_owned(), "${HOME}".to_owned()),
            ("${APP_ENV}".to_owned(), "key".to_owned()),
        ];
        assert_eq!(web_env, Ok(expected.to_vec()));
    }

    #[test]
    fn empty_files_are_errors() {
        for text in ["", "# nothing\n", "---\n", "~\n", "null"] {
            let errors = errors(text);

            assert_eq!(errors.len(), 1, "{text:?}");
            assert_eq!(errors[0].message, "the configuration is empty", "{text:?}");
        }
    }

    #[test]
    fn missing_file_names_path_and_os_error() {
        let path = Path::new("/nonexistent/phpeek-pm.yaml");
        let report = load_file(path, &env()).err().map(Report::into_problems);
        let problems = report.unwrap_or_default();

        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].file, "/nonexistent/phpeek-pm.yaml");
        assert!(problems[0]
            .message
            .starts_with("failed to read the configuration file: "));
        assert!(
            problems[0].message.contains("No such file"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn loaded_file_records_its_source() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("phpeek-pm.yaml");
        std::fs::write(&path, "processes:\n  web:\n    command: [nginx]\n")?;

        let source = load_file(&path, &env())
            .ok()
            .and_then(|loaded| loaded.config.source);

        assert_eq!(source, Some(path));
        Ok(())
    }

    #[test]
    fn problems_in_file_carry_its_name() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bad.yaml");
        std::fs::write(
            &path,
            "processes:\n  web:\n    command: [nginx]\n    scale: 0\n",
        )?;

        let report = load_file(&path, &env())
            .err()
            .map(|report| report.to_string());

        let expected = format!(
            "{}:4:12: processes.web.scale: scale must be at least 1",
            path.display()
        );
        assert!(report.is_some_and(|text| text.starts_with(&expected)));
        Ok(())
    }

    #[test]
    fn weird_input_is_rejected_without_panic() {
        let long_line = format!("processes: {{web: {{command: [{}]}}}}", "x".repeat(100_000));
        let cases: Vec<(&str, bool)> = vec![
            ("\t", false),
            ("processes:\n\tweb: {}\n", false),
            ("a: 1\n---\nb: 2\n", false),
            ("just text", false),
            ("[1, 2]", false),
            ("processes: [web]", false),
            ("processes: {web: [a]}", false),
            ("processes: {web: }", false),
            (
                "processes: {web: {command: [a], scale: 99999999999999999999999999}}",
                false,
            ),
            (
                "processes: {web: {command: [a], priority: -99999999999999999999}}",
                false,
            ),
            (
                "processes: {web: {command: [a], priority: 3000000000}}",
                false,
            ),
            (
                "global: {shutdown_timeout: 1e10}\nprocesses: {web: {command: [a]}}",
                false,
            ),
            (
                "processes: {web: {command: [a], health_check: {type: http, url: 'http://[::1'}}}",
                false,
            ),
            ("processes: {web: {command: [\"a\\0b\"]}}", false),
            ("processes: {web: {command: [a], env: {'': x}}}", false),
            (
                "processes: {web: {command: [a], shutdown: {signal: ''}}}",
                false,
            ),
            ("processes: {web: {command: [a], scale: ''}}", false),
            ("processes: {web: {command: {a: b}}}", false),
            ("{{{{", false),
            ("&a [*a]", false),
            ("*unknown", false),
            ("? [a]\n: b\n", false),
            ("%YAML 1.2\n---\nprocesses: {web: {command: [a]}}", true),
            ("\u{feff}processes: {web: {command: [a]}}", true),
            ("processes: {web: {command: !!binary aGVsbG8=}}", true),
            ("processes: {web: {command: [a]}}\n...\n", true),
            (long_line.as_str(), true),
        ];
        for (text, loads) in cases {
            let result = load(text);

            assert_eq!(result.is_ok(), loads, "{text:.80?}: {result:?}");
            if let Err(report) = result {
                assert!(report.errors().count() > 0, "{text:.80?}");
            }
        }
    }

    #[test]
    fn random_token_soup_never_panics() {
        const TOKENS: &[&str] = &[
            "processes:",
            "global:",
            "hooks:",
            "web:",
            "command:",
            "depends_on:",
            "\n",
            "  ",
            "    ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "- ",
            " ",
            "&a ",
            "*a",
            "<<: ",
            "'",
            "\"",
            "${X",
            "}",
            ": ",
            "#",
            "\t",
            "? ",
            "|",
            ">",
            "!!str ",
            "~",
            "0",
            "-1",
            "99999999999999999999",
            "é",
            "---\n",
            "scale:",
            "type: oneshot",
            "${APP_ENV}",
            "$${",
            "\\",
        ];
        // A fixed-seed linear congruential generator keeps the test repeatable.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap_or_default()
        };

        for _ in 0..3000 {
            let length = next() % 40;
            let text: String = (0..length).map(|_| TOKENS[next() % TOKENS.len()]).collect();
            let _ = load(&text);
        }
    }

    #[test]
    fn process_environment_is_a_lookup() {
        let text = "processes:\n  web:\n    command: [x, '${PHPEEK_TEST_SURELY_UNSET_X9:-d}']\n";
        let command = load_str(text, "t.yaml", &ProcessEnv)
            .map(|loaded| loaded.config.processes[0].command.clone());

        assert_eq!(command, Ok(vec!["x".to_owned(), "d".to_owned()]));
    }

    #[test]
    fn value_from_environment_origin_names_variable() {
        let node = Node::scalar(
            "0",
            false,
            Origin::Env("PHPEEK_PM_PROCESS_WEB_SCALE".to_owned()),
        );
        let env: HashMap<String, String> = HashMap::new();
        let mut decoder = Decoder::new("phpeek-pm.yaml", &env);
        let field = fields::Field {
            node: &node,
            path: "processes.web.scale".to_owned(),
        };

        let _ = decoder.positive_duration(&field);
        let problems = decoder.problems.into_vec();

        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].variable.as_deref(),
            Some("PHPEEK_PM_PROCESS_WEB_SCALE")
        );
        assert_eq!(
            problems[0].to_string(),
            "$PHPEEK_PM_PROCESS_WEB_SCALE: processes.web.scale: must be greater than 0"
        );
    }

    #[test]
    fn config_sorts_enabled_processes_only() {
        let yaml = "processes:\n  b:\n    command: [b]\n  a:\n    command: [a]\n  \
                    c:\n    enabled: false\n    command: [c]\n";

        assert_eq!(names(&config(yaml)), ["a", "b"]);
    }
}
