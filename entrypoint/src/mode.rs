//! The start mode, and the environment phpeek-pm gets in it.
//!
//! Full mode (`PHPEEK_PROCESS_MANAGER=phpeek-pm`) passes every
//! `PHPEEK_PM_PROCESS_*` and `PHPEEK_PM_GLOBAL_*` variable to phpeek-pm,
//! which applies them to its config at load, and turns the Laravel aliases
//! into those variables. Default mode runs php-fpm and nginx only, so it
//! removes those variables.

use crate::message;
use crate::settings::{Env, Settings};

/// The start mode, which decides the processes that run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// php-fpm and nginx, with framework setup and hooks.
    Default,
    /// php-fpm, nginx and every optional process, each enabled by its
    /// `PHPEEK_PM_PROCESS_<NAME>_ENABLED` variable.
    Full,
}

impl Mode {
    /// Reads the mode from PHPEEK_PROCESS_MANAGER, which the settings have
    /// already limited to `phpeek-pm` or unset.
    pub(crate) fn from_settings(settings: &Settings) -> Mode {
        match settings.text("PHPEEK_PROCESS_MANAGER") {
            Some("phpeek-pm") => Mode::Full,
            _ => Mode::Default,
        }
    }
}

/// Aliases and the variable each one sets. For a target named twice, the
/// first alias that is set wins.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("LARAVEL_HORIZON", "PHPEEK_PM_PROCESS_HORIZON_ENABLED"),
    ("LARAVEL_REVERB", "PHPEEK_PM_PROCESS_REVERB_ENABLED"),
    ("LARAVEL_SCHEDULER", "PHPEEK_PM_PROCESS_SCHEDULER_ENABLED"),
    (
        "LARAVEL_SCHEDULER_ENABLED",
        "PHPEEK_PM_PROCESS_SCHEDULER_ENABLED",
    ),
    ("LARAVEL_QUEUE", "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED"),
    ("LARAVEL_QUEUE_HIGH", "PHPEEK_PM_PROCESS_QUEUE_HIGH_ENABLED"),
];

/// Variable prefixes that only full mode passes to phpeek-pm.
const FULL_MODE_PREFIXES: [&str; 2] = ["PHPEEK_PM_PROCESS_", "PHPEEK_PM_GLOBAL_"];

/// Builds the environment phpeek-pm gets from the container's.
///
/// In full mode, each alias that is set writes its target, unless the user
/// set the target: an explicit target wins. In default mode the full-mode
/// variables are removed, and the removed ones and the ignored aliases are
/// reported in one line.
pub(crate) fn pm_environment(env: &Env, settings: &Settings, mode: Mode) -> Env {
    let mut pm_env = env.clone();
    if mode == Mode::Default {
        let mut ignored = pm_env.remove_where(|name| {
            FULL_MODE_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
        });
        let aliases = ALIASES
            .iter()
            .filter(|(alias, _)| settings.is_explicit(alias))
            .map(|(alias, _)| (*alias).to_owned());
        ignored.extend(aliases);
        if !ignored.is_empty() {
            message::info(format_args!(
                "default mode ignores {}; set PHPEEK_PROCESS_MANAGER=phpeek-pm to use them",
                ignored.join(", ")
            ));
        }
        return pm_env;
    }

    for (alias, target) in ALIASES {
        let Some(enabled) = settings.explicit_flag(alias) else {
            continue;
        };
        if pm_env.get(target).is_some_and(|value| !value.is_empty()) {
            continue;
        }
        pm_env.set(target, if enabled { "true" } else { "false" });
    }
    pm_env
}

/// Returns whether `process` (such as `REVERB`) is enabled in the
/// environment phpeek-pm gets.
pub(crate) fn process_enabled(pm_env: &Env, process: &str) -> bool {
    let name = format!("PHPEEK_PM_PROCESS_{process}_ENABLED");
    pm_env
        .get(&name)
        .and_then(crate::vars::parse_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(&str, &str)]) -> Env {
        let env = Env::from_pairs(pairs.iter().copied());
        let Ok(settings) = Settings::resolve(&env) else {
            panic!("invalid test environment {pairs:?}");
        };
        let mode = Mode::from_settings(&settings);
        pm_environment(&env, &settings, mode)
    }

    const FULL: (&str, &str) = ("PHPEEK_PROCESS_MANAGER", "phpeek-pm");
    const SCHEDULER_TARGET: &str = "PHPEEK_PM_PROCESS_SCHEDULER_ENABLED";

    #[test]
    fn alias_sets_its_target() {
        let env = build(&[FULL, ("LARAVEL_HORIZON", "yes"), ("LARAVEL_QUEUE", "0")]);

        assert_eq!(env.get("PHPEEK_PM_PROCESS_HORIZON_ENABLED"), Some("true"));
        assert_eq!(
            env.get("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED"),
            Some("false")
        );
        assert_eq!(env.get("PHPEEK_PM_PROCESS_REVERB_ENABLED"), None);
        assert!(process_enabled(&env, "HORIZON"));
        assert!(!process_enabled(&env, "QUEUE_DEFAULT"));
    }

    #[test]
    fn explicit_target_wins_over_alias() {
        let pairs = [
            FULL,
            ("LARAVEL_REVERB", "true"),
            ("PHPEEK_PM_PROCESS_REVERB_ENABLED", "off"),
        ];
        let env = build(&pairs);

        assert_eq!(env.get("PHPEEK_PM_PROCESS_REVERB_ENABLED"), Some("off"));
        assert!(!process_enabled(&env, "REVERB"));
    }

    #[test]
    fn scheduler_aliases_enable_the_scheduler() {
        for alias in ["LARAVEL_SCHEDULER", "LARAVEL_SCHEDULER_ENABLED"] {
            let env = build(&[FULL, (alias, "on")]);

            assert_eq!(env.get(SCHEDULER_TARGET), Some("true"), "{alias}");
            assert!(process_enabled(&env, "SCHEDULER"), "{alias}");
        }
    }

    #[test]
    fn newer_scheduler_alias_wins() {
        let pairs = [
            FULL,
            ("LARAVEL_SCHEDULER", "false"),
            ("LARAVEL_SCHEDULER_ENABLED", "true"),
        ];
        let env = build(&pairs);

        assert_eq!(env.get(SCHEDULER_TARGET), Some("false"));
    }

    #[test]
    fn default_mode_strips_process_and_global_variables() {
        let pairs = [
            ("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true"),
            ("PHPEEK_PM_GLOBAL_LOG_LEVEL", "debug"),
            ("PHPEEK_PM_CONFIG", "/etc/pm.yaml"),
            ("LARAVEL_HORIZON", "true"),
            ("APP_ENV", "production"),
        ];
        let env = build(&pairs);
        let names: Vec<&str> = env.iter().map(|(name, _)| name).collect();

        assert_eq!(names, ["APP_ENV", "LARAVEL_HORIZON", "PHPEEK_PM_CONFIG"]);
    }

    #[test]
    fn unknown_manager_is_rejected() {
        let env = Env::from_pairs([("PHPEEK_PROCESS_MANAGER", "supervisord")]);
        let errors = Settings::resolve(&env).err().unwrap_or_default();

        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "PHPEEK_PROCESS_MANAGER: invalid value \"supervisord\": expected phpeek-pm, or unset for the default mode"
        );
    }
}
