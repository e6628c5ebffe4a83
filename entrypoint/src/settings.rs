//! Settings: the container environment validated through the variable
//! table.
//!
//! [`Settings::resolve`] checks every variable in [`vars::VARIABLES`] at
//! once and returns all invalid ones, so a user fixes them in one go. The
//! rest of the entrypoint reads values only from [`Settings`], never from
//! the environment directly.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::vars::{self, DefaultValue, Value};

/// A snapshot of environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Takes the environment of this process. Names and values that are
    /// not UTF-8 are converted lossily.
    pub(crate) fn from_process() -> Env {
        let vars = std::env::vars_os()
            .map(|(name, value)| {
                let name = name.to_string_lossy().into_owned();
                (name, value.to_string_lossy().into_owned())
            })
            .collect();
        Env { vars }
    }

    /// Builds an environment from name and value pairs.
    #[cfg(test)]
    pub(crate) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        let vars = pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Env { vars }
    }

    /// Returns the value of `name`, or none when it is unset.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Sets `name`, replacing any value it had.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// Removes every variable for which `remove` returns true, and returns
    /// the removed names in order.
    pub(crate) fn remove_where(&mut self, remove: impl Fn(&str) -> bool) -> Vec<String> {
        let names: Vec<String> = self
            .vars
            .keys()
            .filter(|name| remove(name))
            .cloned()
            .collect();
        for name in &names {
            self.vars.remove(name);
        }
        names
    }

    /// Iterates over the variables in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

impl phpeek::config::Lookup for Env {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// Lists every variable, so the loader applies the `PHPEEK_PM_*`
    /// overlay from this environment as phpeek-pm will from its own.
    fn vars(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// An environment variable with an invalid value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VarError {
    /// The variable's name.
    pub(crate) name: String,
    /// The value as set.
    pub(crate) value: String,
    /// The reason it is invalid, with the accepted forms.
    pub(crate) reason: String,
}

impl fmt::Display for VarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: invalid value {:?}: {}",
            self.name, self.value, self.reason
        )
    }
}

#[derive(Debug, Clone)]
struct Setting {
    value: Option<Value>,
    explicit: bool,
}

/// Every variable of the table, validated, with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    values: BTreeMap<&'static str, Setting>,
}

impl Settings {
    /// Validates every variable of the table in `env`.
    ///
    /// An empty value counts as unset, except where the check gives empty a
    /// meaning of its own. A variable that is unset gets its fixed default;
    /// derived defaults are left to the accessors that compute them.
    ///
    /// # Errors
    ///
    /// Returns every invalid variable, in table order.
    pub(crate) fn resolve(env: &Env) -> Result<Settings, Vec<VarError>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for var in vars::VARIABLES {
            let raw = env
                .get(var.name)
                .filter(|raw| !raw.is_empty() || var.check.allows_empty());
            let (text, explicit) = match (raw, var.default) {
                (Some(raw), _) => (Some(raw), true),
                (None, DefaultValue::Value(default)) => (Some(default), false),
                (None, _) => (None, false),
            };
            let value = match text {
                Some("") => None,
                Some(text) => match var.check.parse(text) {
                    Ok(value) => Some(value),
                    Err(reason) => {
                        errors.push(VarError {
                            name: var.name.to_owned(),
                            value: text.to_owned(),
                            reason,
                        });
                        None
                    }
                },
                None => None,
            };
            values.insert(var.name, Setting { value, explicit });
        }
        if errors.is_empty() {
            Ok(Settings { values })
        } else {
            Err(errors)
        }
    }

    fn setting(&self, name: &str) -> Option<&Setting> {
        let setting = self.values.get(name);
        debug_assert!(setting.is_some(), "{name} is missing from vars::VARIABLES");
        setting
    }

    /// Returns the value of `name`, or none when it is unset without a
    /// default.
    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.setting(name)?.value.as_ref()
    }

    /// Returns a text value.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        match self.value(name)? {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Returns a boolean; unset counts as false.
    pub(crate) fn flag(&self, name: &str) -> bool {
        matches!(self.value(name), Some(Value::Bool(true)))
    }

    /// Returns a boolean only when the user set it.
    pub(crate) fn explicit_flag(&self, name: &str) -> Option<bool> {
        if !self.is_explicit(name) {
            return None;
        }
        match self.value(name)? {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// Returns a whole number.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        match self.value(name)? {
            Value::Int(number) => Some(*number),
            _ => None,
        }
    }

    /// Returns a port or id that the check has already bounded.
    pub(crate) fn u32(&self, name: &str) -> Option<u32> {
        self.int(name).and_then(|number| u32::try_from(number).ok())
    }

    /// Returns whether the user set `name` to a non-empty value (or to an
    /// empty one, where empty has a meaning).
    pub(crate) fn is_explicit(&self, name: &str) -> bool {
        self.setting(name).is_some_and(|setting| setting.explicit)
    }

    /// Returns the app directory: PHPEEK_APP_DIR, else WORKDIR.
    pub(crate) fn app_dir(&self) -> PathBuf {
        let dir = self.text("PHPEEK_APP_DIR").or(self.text("WORKDIR"));
        PathBuf::from(dir.unwrap_or("/var/www/html"))
    }

    /// Returns the path in `name`, which has a fixed default.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(self.text(name).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<Settings, Vec<VarError>> {
        Settings::resolve(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() -> Result<(), Vec<VarError>> {
        let settings = resolve(&[("NGINX_HTTP_PORT", "")])?;

        assert_eq!(settings.int("NGINX_HTTP_PORT"), Some(80));
        assert_eq!(settings.text("NGINX_CLIENT_MAX_BODY_SIZE"), Some("100M"));
        assert!(!settings.is_explicit("NGINX_HTTP_PORT"));
        assert_eq!(settings.value("PUID"), None);
        Ok(())
    }

    #[test]
    fn empty_header_turns_it_off() -> Result<(), Vec<VarError>> {
        let settings = resolve(&[("NGINX_HEADER_X_FRAME_OPTIONS", "")])?;

        assert_eq!(settings.value("NGINX_HEADER_X_FRAME_OPTIONS"), None);
        assert!(settings.is_explicit("NGINX_HEADER_X_FRAME_OPTIONS"));
        Ok(())
    }

    #[test]
    fn every_invalid_variable_is_reported() {
        let errors = resolve(&[
            ("NGINX_CLIENT_MAX_BODY_SIZE", "10M;\nevil"),
            ("NGINX_INDEX", "index.php}"),
            ("PHP_MEMORY_LIMIT", "lots"),
            ("LARAVEL_MIGRATE_ENABLED", "maybe"),
        ])
        .err()
        .unwrap_or_default();
        let names: Vec<&str> = errors.iter().map(|error| error.name.as_str()).collect();

        assert_eq!(
            names,
            [
                "LARAVEL_MIGRATE_ENABLED",
                "NGINX_INDEX",
                "NGINX_CLIENT_MAX_BODY_SIZE",
                "PHP_MEMORY_LIMIT"
            ]
        );
        assert_eq!(
            errors[2].to_string(),
            "NGINX_CLIENT_MAX_BODY_SIZE: invalid value \"10M;\\nevil\": contains a line break; \
             expected a size: digits with an optional k, m or g suffix, like 100M"
        );
        assert!(errors[0].to_string().contains("\"maybe\""));
        assert!(errors[1].reason.starts_with("contains `}`"));
    }

    #[test]
    fn explicit_flags_are_told_apart_from_defaults() -> Result<(), Vec<VarError>> {
        let settings = resolve(&[("LARAVEL_OPTIMIZE_CONFIG", "No")])?;

        assert_eq!(
            settings.explicit_flag("LARAVEL_OPTIMIZE_CONFIG"),
            Some(false)
        );
        assert_eq!(settings.explicit_flag("LARAVEL_OPTIMIZE_ROUTE"), None);
        assert!(!settings.flag("LARAVEL_OPTIMIZE_ROUTE"));
        Ok(())
    }

    #[test]
    fn app_dir_prefers_phpeek_app_dir() -> Result<(), Vec<VarError>> {
        let workdir_only = resolve(&[("WORKDIR", "/app")])?;
        let both = resolve(&[("WORKDIR", "/app"), ("PHPEEK_APP_DIR", "/srv/site")])?;

        assert_eq!(resolve(&[])?.app_dir(), PathBuf::from("/var/www/html"));
        assert_eq!(workdir_only.app_dir(), PathBuf::from("/app"));
        assert_eq!(both.app_dir(), PathBuf::from("/srv/site"));
        Ok(())
    }

    #[test]
    fn env_removes_matching_names() {
        let mut env = Env::from_pairs([("A_1", "x"), ("B", "y"), ("A_2", "z")]);
        let removed = env.remove_where(|name| name.starts_with("A_"));

        assert_eq!(removed, ["A_1", "A_2"]);
        assert_eq!(env.iter().collect::<Vec<_>>(), [("B", "y")]);
    }

    #[test]
    fn env_lookup_applies_the_overlay() {
        let env = Env::from_pairs([("PHPEEK_PM_PROCESS_WEB_SCALE", "2")]);
        let yaml = "processes:\n  web:\n    command: [nginx]\n";
        let scale = phpeek::config::load_str(yaml, "test.yaml", &env)
            .map(|loaded| loaded.config.processes[0].scale);

        assert_eq!(scale, Ok(2));
    }
}
