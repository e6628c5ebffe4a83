//! The environment variables that phpeek-pm reads itself.
//!
//! The entrypoint passes them to phpeek-pm unchanged, except that default
//! mode removes the process and global ones. They are listed in the
//! reference but not validated here, because the phpeek-pm loader checks
//! them when the entrypoint checks the config.

/// One row of the reference for a variable that phpeek-pm reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PmVar {
    /// The name, or a pattern such as `PHPEEK_PM_GLOBAL_<KEY>`.
    pub(crate) name: String,
    /// The value used when it is unset.
    pub(crate) default: String,
    /// The accepted forms.
    pub(crate) accepted: String,
    /// The change it makes, in one sentence.
    pub(crate) effect: String,
}

/// A row whose texts are all fixed.
type FixedRow = (&'static str, &'static str, &'static str, &'static str);

/// The overlay patterns, which set any key of the config.
#[rustfmt::skip]
const PATTERNS: &[FixedRow] = &[
    ("PHPEEK_PM_PROCESS_<NAME>_<KEY>", "from the config", "a value of the key's type; see Environment overlay above",
        "Sets `processes.<name>.<key>`, such as `PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE`; a name without a process in the config defines a new one. Full mode only."),
    ("PHPEEK_PM_PROCESS_<NAME>_ENV_<VAR>", "from the config", "any text",
        "Sets the variable `<VAR>`, as written, in the environment of process `<name>`. Full mode only."),
    ("PHPEEK_PM_GLOBAL_<KEY>", "from the config", "a value of the key's type",
        "Sets `global.<key>`, with `_` for the `.` of nested keys: `PHPEEK_PM_GLOBAL_LOG_MULTILINE_ENABLED`. Full mode only."),
];

/// Variables that phpeek-pm reads outside the overlay patterns and the
/// short names.
#[rustfmt::skip]
const OTHERS: &[FixedRow] = &[
    ("PHPEEK_DEBUG", "unset", "true/false, 1/0, yes/no or on/off (any case)",
        "With a true value, sets `global.log_level` to `debug`, unless a variable sets the log level."),
    ("TZ", "unset (UTC)", "an IANA time zone name, like Europe/Berlin",
        "Time zone of `schedule` expressions without `schedule_timezone`; an unknown name is a config error."),
    ("PHP_FPM_CONFIG", "`/usr/local/etc/php-fpm.conf`", "an absolute path",
        "php-fpm config of phpeek-pm's built-in config, which runs only when phpeek-pm gets no config file; the entrypoint always gives one."),
    ("NGINX_PREFIX", "`/etc/nginx/`", "an absolute path ending in /",
        "nginx prefix of phpeek-pm's built-in config, like PHP_FPM_CONFIG."),
    ("NGINX_CONFIG", "`/etc/nginx/nginx.conf`", "an absolute path",
        "nginx config of phpeek-pm's built-in config, like PHP_FPM_CONFIG."),
];

/// Returns the rows for the variables phpeek-pm reads: the overlay
/// patterns, the library's short names, then the others.
pub(crate) fn rows() -> Vec<PmVar> {
    let fixed = |(name, default, accepted, effect): &FixedRow| PmVar {
        name: (*name).to_owned(),
        default: (*default).to_owned(),
        accepted: (*accepted).to_owned(),
        effect: (*effect).to_owned(),
    };
    let mut rows: Vec<PmVar> = PATTERNS.iter().map(fixed).collect();
    for (name, key) in phpeek::config::short_variable_names() {
        let long = format!(
            "PHPEEK_PM_GLOBAL_{}",
            key.to_ascii_uppercase().replace('.', "_")
        );
        let accepted = if phpeek::config::millisecond_variable_names().contains(name) {
            format!("a whole number of milliseconds, or a value of `global.{key}` with a unit, like `2s`")
        } else {
            format!("a value of `global.{key}`")
        };
        rows.push(PmVar {
            name: (*name).to_owned(),
            default: "from the config".to_owned(),
            accepted,
            effect: format!(
                "Short name: sets `global.{key}`; {long} wins when both are set. Both modes."
            ),
        });
    }
    rows.extend(OTHERS.iter().map(fixed));
    rows
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Loads a one-process config with `name=value` set and returns the
    /// warnings and errors.
    fn load_with(name: &str, value: &str) -> Vec<String> {
        let env: HashMap<String, String> = [(name.to_owned(), value.to_owned())].into();
        let yaml = "processes:\n  web:\n    command: [nginx]\n";
        match phpeek::config::load_str(yaml, "test.yaml", &env) {
            Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
            Err(report) => report
                .into_problems()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    #[test]
    fn listed_names_are_known_to_phpeek_pm() {
        for row in rows() {
            if !row.name.starts_with("PHPEEK_") || row.name.contains('<') {
                continue;
            }
            let problems = load_with(&row.name, "");
            let unknown = problems
                .iter()
                .find(|p| p.contains("unknown phpeek-pm variable"));

            assert_eq!(unknown, None, "{}", row.name);
        }
    }

    #[test]
    fn debug_sets_the_log_level() {
        let env: HashMap<String, String> = [("PHPEEK_DEBUG".to_owned(), "yes".to_owned())].into();
        let yaml = "processes:\n  web:\n    command: [nginx]\n";
        let level = phpeek::config::load_str(yaml, "test.yaml", &env)
            .map(|loaded| loaded.config.global.log_level);

        assert!(
            matches!(level, Ok(phpeek::config::LogLevel::Debug)),
            "{level:?}"
        );
    }

    #[test]
    fn rows_are_sentences() {
        for row in rows() {
            assert!(row.effect.ends_with('.'), "{}", row.name);
            assert!(!row.default.is_empty(), "{}", row.name);
        }
    }
}
