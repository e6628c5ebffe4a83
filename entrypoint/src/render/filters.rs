//! Template filters that quote values for the file they land in.
//!
//! The settings are validated before rendering, so these filters are a
//! second line of defence: they also protect templates that users supply
//! through PHPEEK_TEMPLATE_DIR. A value a filter can't quote safely fails
//! the render instead of being written.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

/// Adds every filter of this module to `env`.
pub(crate) fn register(env: &mut Environment<'_>) {
    env.add_filter("yaml_str", yaml_str);
    env.add_filter("yaml_list", yaml_list);
    env.add_filter("nginx_str", nginx_str);
    env.add_filter("ini_str", ini_str);
    env.add_filter("on_off", on_off);
    env.add_filter("ini_bool", ini_bool);
    env.add_filter("int_bool", int_bool);
}

/// Returns `value` as text, rejecting none and undefined, which would
/// otherwise render as an empty or "none" string.
fn text_of(value: &Value, filter: &str) -> Result<String, Error> {
    if value.is_undefined() || value.is_none() {
        let message = format!("{filter} got no value");
        return Err(Error::new(ErrorKind::InvalidOperation, message));
    }
    Ok(match value.as_str() {
        Some(text) => text.to_owned(),
        None => value.to_string(),
    })
}

/// Quotes a value as a double-quoted YAML scalar (YAML 1.2, section 5.7).
///
/// `${` is written as `$${`, because the phpeek-pm loader substitutes
/// `${VAR}` in every value and an environment value must stay literal.
pub(crate) fn yaml_str(value: Value) -> Result<String, Error> {
    Ok(quote_yaml(&text_of(&value, "yaml_str")?))
}

/// Writes a sequence as a YAML flow sequence of double-quoted strings.
pub(crate) fn yaml_list(value: Value) -> Result<String, Error> {
    let items = value
        .try_iter()?
        .map(yaml_str)
        .collect::<Result<Vec<String>, Error>>()?;
    Ok(format!("[{}]", items.join(", ")))
}

fn quote_yaml(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            '$' if rest.starts_with('{') => quoted.push_str("$$"),
            // C0 and C1 controls, DEL, and the line and paragraph
            // separators that YAML would treat as line breaks.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                quoted.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Quotes a value as an nginx string. Rejects `"`, `\`, `$` and control
/// characters, which would end the string, escape or interpolate.
pub(crate) fn nginx_str(value: Value) -> Result<String, Error> {
    let text = text_of(&value, "nginx_str")?;
    reject(&text, &['"', '\\', '$'], "nginx_str")?;
    Ok(format!("\"{text}\""))
}

/// Quotes a value as a php.ini or php-fpm.conf string. Rejects `"`, `\`,
/// `$` and control characters: PHP expands `${VAR}` inside double quotes.
pub(crate) fn ini_str(value: Value) -> Result<String, Error> {
    let text = text_of(&value, "ini_str")?;
    reject(&text, &['"', '\\', '$'], "ini_str")?;
    Ok(format!("\"{text}\""))
}

fn reject(text: &str, forbidden: &[char], filter: &str) -> Result<(), Error> {
    match text
        .chars()
        .find(|c| c.is_control() || forbidden.contains(c))
    {
        Some(c) => {
            let message = format!("{filter} can't quote {text:?}: it contains {c:?}");
            Err(Error::new(ErrorKind::InvalidOperation, message))
        }
        None => Ok(()),
    }
}

/// Writes a boolean as nginx's `on`/`off`.
fn on_off(value: Value) -> &'static str {
    if value.is_true() {
        "on"
    } else {
        "off"
    }
}

/// Writes a boolean as php.ini's `On`/`Off`.
fn ini_bool(value: Value) -> &'static str {
    if value.is_true() {
        "On"
    } else {
        "Off"
    }
}

/// Writes a boolean as `1`/`0`.
fn int_bool(value: Value) -> &'static str {
    if value.is_true() {
        "1"
    } else {
        "0"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn yaml(text: &str) -> String {
        yaml_str(Value::from(text)).unwrap_or_default()
    }

    #[test]
    fn yaml_strings_round_trip_through_the_loader() {
        let hostile = [
            "plain",
            "a: b # c\n  - d",
            "quote \" and backslash \\",
            "tab\tand\rreturn",
            "${HOME} and $${X} and $ alone",
            "bell \u{7} and nel \u{85} and ls \u{2028}",
            "'single' {flow} [seq] &anchor *alias !tag %",
            "",
        ];
        let env: HashMap<String, String> = HashMap::new();
        for text in hostile {
            let config = format!(
                "processes:\n  web:\n    command: [\"x\"]\n    env:\n      VALUE: {}\n",
                yaml(text)
            );
            let loaded = phpeek::config::load_str(&config, "test.yaml", &env);
            let value = loaded.map(|loaded| loaded.config.processes[0].env.clone());

            assert_eq!(
                value,
                Ok(vec![("VALUE".to_owned(), text.to_owned())]),
                "{text:?}"
            );
        }
    }

    #[test]
    fn yaml_str_writes_numbers_as_strings() {
        assert_eq!(
            yaml_str(Value::from(8080)).ok(),
            Some("\"8080\"".to_owned())
        );
        assert!(yaml_str(Value::from(())).is_err());
    }

    #[test]
    fn yaml_list_quotes_items() {
        let list = Value::from(vec!["php", "artisan", "queue:work"]);

        assert_eq!(
            yaml_list(list).ok(),
            Some("[\"php\", \"artisan\", \"queue:work\"]".to_owned())
        );
    }

    #[test]
    fn nginx_and_ini_strings_reject_breakouts() {
        for text in ["a\"b", "a\nb", "a\\b", "${HOME}"] {
            assert!(nginx_str(Value::from(text)).is_err(), "{text:?}");
            assert!(ini_str(Value::from(text)).is_err(), "{text:?}");
        }
        let root = nginx_str(Value::from("/var/www/my app"));

        assert_eq!(root.ok(), Some("\"/var/www/my app\"".to_owned()));
    }

    #[test]
    fn booleans_in_each_dialect() {
        assert_eq!(on_off(Value::from(true)), "on");
        assert_eq!(ini_bool(Value::from(false)), "Off");
        assert_eq!(int_bool(Value::from(true)), "1");
    }
}
