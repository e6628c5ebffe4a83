//! `${VAR}` and `${VAR:-default}` substitution in scalar values.
//!
//! Substitution runs on parsed scalar values, never on the raw file, so a
//! value that contains `:` or `#` can't change the YAML structure. Keys are
//! never substituted.

use std::collections::HashMap;

/// A source of environment variables.
///
/// [`ProcessEnv`] reads the real environment. Closures and maps implement it
/// too, so tests and callers can pass a fixed environment.
pub trait Lookup {
    /// Returns the value of the variable `name`, or none when it is unset.
    fn var(&self, name: &str) -> Option<String>;

    /// Lists every variable as name and value pairs, in no particular order.
    ///
    /// The `PHPEEK_PM_*` overlay reads the variables from this list. The
    /// default lists none, which is what a closure lookup does, because a
    /// closure can only be asked for names it is given.
    fn vars(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

impl<F> Lookup for F
where
    F: Fn(&str) -> Option<String>,
{
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl Lookup for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// The environment of the current process.
///
/// A name or value that is not valid UTF-8 is converted lossily, with U+FFFD
/// in place of the invalid bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
    }

    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .map(|(name, value)| {
                let name = name.to_string_lossy().into_owned();
                (name, value.to_string_lossy().into_owned())
            })
            .collect()
    }
}

/// Error from [`substitute()`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// `${NAME}` without a default names a variable that is not set.
    #[error("environment variable `{name}` is not set")]
    Unset {
        /// The variable name.
        name: String,
    },
    /// A `${` has no closing `}`.
    #[error("`${{` has no closing `}}`")]
    Unclosed,
    /// The text between `${` and `}` is not `NAME` or `NAME:-default`.
    #[error("invalid variable reference `{reference}`")]
    InvalidReference {
        /// The whole reference as written, `${` and `}` included.
        reference: String,
    },
}

impl SubstituteError {
    /// Suggests how to fix the value.
    pub fn hint(&self) -> String {
        match self {
            SubstituteError::Unset { name } => {
                format!("set it, or give a default with `${{{name}:-default}}`")
            }
            SubstituteError::Unclosed => {
                "close it with `}`, or write `$${` for a literal `${`".to_owned()
            }
            SubstituteError::InvalidReference { .. } => {
                "write `${NAME}` or `${NAME:-default}`, where NAME has only letters, digits \
                 and `_`, or write `$${` for a literal `${`"
                    .to_owned()
            }
        }
    }
}

/// Replaces each `${NAME}` and `${NAME:-default}` in `text` with a value from `env`.
///
/// `${NAME:-default}` uses the default when `NAME` is unset or empty, and the
/// default runs to the first `}`. `$${` stands for a literal `${`. A `$` in
/// any other position is kept as written.
///
/// # Errors
///
/// Returns the first problem found: an unset variable without a default, a
/// `${` without `}`, or a name that is not letters, digits and `_`.
pub fn substitute(text: &str, env: &(impl Lookup + ?Sized)) -> Result<String, SubstituteError> {
    let mut output = String::with_capacity(text.len());
    let mut rest = text;

    while let Some(start) = rest.find('$') {
        output.push_str(&rest[..start]);
        rest = &rest[start..];

        if let Some(after) = rest.strip_prefix("$${") {
            output.push_str("${");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after.find('}').ok_or(SubstituteError::Unclosed)?;
            output.push_str(&resolve(&after[..end], env)?);
            rest = &after[end + 1..];
        } else {
            output.push('$');
            rest = &rest[1..];
        }
    }
    output.push_str(rest);
    Ok(output)
}

/// Returns the value of one reference, given the text between `${` and `}`.
fn resolve(reference: &str, env: &(impl Lookup + ?Sized)) -> Result<String, SubstituteError> {
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if !is_variable_name(name) {
        let reference = format!("${{{reference}}}");
        return Err(SubstituteError::InvalidReference { reference });
    }

    match (env.var(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(SubstituteError::Unset {
            name: name.to_owned(),
        }),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        let pairs = [("HOST", "db.local"), ("PORT", "5432"), ("EMPTY", "")];
        pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn run(text: &str) -> Result<String, SubstituteError> {
        substitute(text, &env())
    }

    #[test]
    fn set_variable_is_replaced() {
        assert_eq!(run("${HOST}:${PORT}"), Ok("db.local:5432".to_owned()));
    }

    #[test]
    fn text_without_references_is_unchanged() {
        assert_eq!(
            run("plain $HOST $ 100$ é"),
            Ok("plain $HOST $ 100$ é".to_owned())
        );
    }

    #[test]
    fn default_applies_when_unset() {
        assert_eq!(run("${MISSING:-fallback}"), Ok("fallback".to_owned()));
    }

    #[test]
    fn default_applies_when_empty() {
        assert_eq!(run("${EMPTY:-fallback}"), Ok("fallback".to_owned()));
    }

    #[test]
    fn default_is_ignored_when_set() {
        assert_eq!(run("${PORT:-80}"), Ok("5432".to_owned()));
    }

    #[test]
    fn default_may_be_empty_or_contain_colons() {
        assert_eq!(run("[${MISSING:-}]"), Ok("[]".to_owned()));
        assert_eq!(run("${MISSING:-a:b # c}"), Ok("a:b # c".to_owned()));
    }

    #[test]
    fn empty_variable_without_default_is_empty() {
        assert_eq!(run("<${EMPTY}>"), Ok("<>".to_owned()));
    }

    #[test]
    fn unset_variable_without_default_is_an_error() {
        let error = run("x ${MISSING} y");

        assert_eq!(
            error,
            Err(SubstituteError::Unset {
                name: "MISSING".to_owned()
            })
        );
        let hint = error.err().map(|error| error.hint()).unwrap_or_default();
        assert_eq!(hint, "set it, or give a default with `${MISSING:-default}`");
    }

    #[test]
    fn double_dollar_escapes_reference() {
        assert_eq!(run("$${HOST} ${HOST}"), Ok("${HOST} db.local".to_owned()));
        assert_eq!(run("$$HOST"), Ok("$$HOST".to_owned()));
    }

    #[test]
    fn unclosed_reference_is_an_error() {
        assert_eq!(run("${HOST"), Err(SubstituteError::Unclosed));
    }

    #[test]
    fn invalid_reference_is_an_error() {
        for text in ["${}", "${1X}", "${HOST-x}", "${A B}", "${:-x}"] {
            let result = run(text);

            assert!(
                matches!(result, Err(SubstituteError::InvalidReference { .. })),
                "{text}: {result:?}"
            );
        }
    }

    #[test]
    fn closure_works_as_lookup() {
        let lookup = |name: &str| (name == "X").then(|| "1".to_owned());

        assert_eq!(substitute("${X}${Y:-2}", &lookup), Ok("12".to_owned()));
    }

    #[test]
    fn map_lists_its_variables() {
        let mut vars = env().vars();
        vars.sort();

        assert_eq!(
            vars,
            [
                ("EMPTY".to_owned(), String::new()),
                ("HOST".to_owned(), "db.local".to_owned()),
                ("PORT".to_owned(), "5432".to_owned()),
            ]
        );
    }

    #[test]
    fn closure_lists_no_variables() {
        let lookup = |_: &str| Some("1".to_owned());

        assert!(lookup.vars().is_empty());
    }

    #[test]
    fn process_env_lists_real_environment() {
        let vars = ProcessEnv.vars();

        assert_eq!(vars.len(), std::env::vars_os().count());
        if let Some((name, value)) = vars.first() {
            assert_eq!(ProcessEnv.var(name).as_ref(), Some(value));
        }
    }
}
