//! Decoding helpers: reading mappings key by key and scalars by the type of their field.
//!
//! Every reader records what is wrong in the [`Decoder`]'s problems and
//! returns `None`, so the schema code can go on and report the next problem.
//! A null value (`key:` or `key: ~`) counts as if the key were absent.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::node::{Entry, Node, Origin, Value};
use super::report::{did_you_mean, Problem, Problems};
use super::substitute::{substitute, Lookup};
use super::values::{self, Invalid};

/// The state of one decoding run: the problems found and the environment.
pub(crate) struct Decoder<'e> {
    /// Everything reported so far.
    pub(crate) problems: Problems,
    env: &'e dyn Lookup,
}

/// A value read from a mapping, with the dotted path used in problems.
#[derive(Debug, Clone)]
pub(crate) struct Field<'n> {
    /// The value node.
    pub(crate) node: &'n Node,
    /// Dotted path of the value, like `processes.web.scale`.
    pub(crate) path: String,
}

/// The keys of one mapping, tracking which were read so the rest can be
/// reported as unknown.
pub(crate) struct Fields<'n> {
    path: String,
    entries: &'n [Entry],
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// Reads a value and marks its key as known. Returns none when the key is
    /// absent or its value is null.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<Field<'n>> {
        self.known.push(key);
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        self.used[index] = true;

        let node = &self.entries[index].value;
        let path = join(&self.path, key);
        (!node.is_null()).then_some(Field { node, path })
    }

    /// Reads whichever of two spellings of a key is present, reporting an
    /// error when both are.
    pub(crate) fn get_either(
        &mut self,
        decoder: &mut Decoder<'_>,
        key: &'static str,
        other: &'static str,
    ) -> Option<Field<'n>> {
        let first = self.get(key);
        let second = self.get(other);
        match (first, second) {
            (Some(_), Some(duplicate)) => {
                let message = format!("both `{key}` and `{other}` are set");
                decoder
                    .error(&duplicate, message)
                    .set_hint("keep one of them");
                None
            }
            (first, second) => first.or(second),
        }
    }

    /// Marks every key that starts with `prefix` as read, so it is ignored.
    pub(crate) fn skip_prefixed(&mut self, prefix: &str) {
        for (entry, used) in self.entries.iter().zip(&mut self.used) {
            *used |= entry.key.starts_with(prefix);
        }
    }

    /// Reports the keys that were never read.
    ///
    /// A key matching one of `inert` (exactly, or by prefix when the pattern
    /// ends in `*`) gets a warning that it has no effect. Any other key is an
    /// error, with a suggestion when a known key is close.
    pub(crate) fn finish(&self, decoder: &mut Decoder<'_>, inert: &[&str]) {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let path = join(&self.path, &entry.key);
            let at = &entry.key_origin;
            if inert
                .iter()
                .any(|pattern| matches_pattern(pattern, &entry.key))
            {
                let message = format!(
                    "`{}` is accepted for compatibility with PHPeek PM 1.x \
                     but has no effect in this version",
                    entry.key
                );
                decoder.problems.warning(at, &path, message);
                continue;
            }

            let exact_inert = inert.iter().filter(|pattern| !pattern.ends_with('*'));
            let candidates = self.known.iter().chain(exact_inert).copied();
            let problem = decoder
                .problems
                .error(at, &path, format!("unknown key `{}`", entry.key));
            if let Some(hint) = did_you_mean(&entry.key, candidates) {
                problem.set_hint(hint);
            }
        }
    }
}

fn matches_pattern(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

/// Appends `key` to a dotted path.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'e> Decoder<'e> {
    /// Starts decoding a file named `file`, substituting from `env`.
    pub(crate) fn new(file: &str, env: &'e dyn Lookup) -> Decoder<'e> {
        Decoder {
            problems: Problems::new(file),
            env,
        }
    }

    /// Returns the value of an environment variable of phpeek-pm, from the
    /// same environment that `${VAR}` references read.
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        self.env.var(name)
    }

    /// Records an error about a field.
    pub(crate) fn error(&mut self, field: &Field<'_>, message: impl Into<String>) -> &mut Problem {
        self.problems
            .error(&field.node.origin, &field.path, message)
    }

    /// Records a warning about a field.
    pub(crate) fn warning(
        &mut self,
        field: &Field<'_>,
        message: impl Into<String>,
    ) -> &mut Problem {
        self.problems
            .warning(&field.node.origin, &field.path, message)
    }

    fn invalid(&mut self, field: &Field<'_>, invalid: Invalid) {
        let problem = self.error(field, invalid.message);
        if let Some(hint) = invalid.hint {
            problem.set_hint(hint);
        }
    }

    /// Opens a mapping for reading. A null node reads as an empty mapping.
    pub(crate) fn fields<'n>(&mut self, node: &'n Node, path: &str) -> Option<Fields<'n>> {
        let entries: &'n [Entry] = match &node.value {
            Value::Mapping(entries) => entries,
            _ if node.is_null() => &[],
            _ => {
                let message = format!("expected a mapping, found {}", node.kind());
                self.problems.error(&node.origin, path, message);
                return None;
            }
        };
        Some(Fields {
            path: path.to_owned(),
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
        })
    }

    /// Reads a scalar as text, with `${VAR}` references substituted.
    pub(crate) fn text(&mut self, field: &Field<'_>) -> Option<String> {
        let Value::Scalar(scalar) = &field.node.value else {
            let message = format!("expected a single value, found {}", field.node.kind());
            self.error(field, message);
            return None;
        };
        match substitute(&scalar.text, self.env) {
            Ok(text) => Some(text),
            Err(error) => {
                let hint = error.hint();
                self.error(field, error.to_string()).set_hint(hint);
                None
            }
        }
    }

    /// Reads text that must not be empty once substituted.
    pub(crate) fn nonempty_text(&mut self, field: &Field<'_>) -> Option<String> {
        let text = self.text(field)?;
        if text.is_empty() {
            self.error(field, "must not be empty");
            return None;
        }
        Some(text)
    }

    /// Reads text, treating an empty result as unset, for optional settings
    /// such as `user: ${APP_USER:-}`.
    pub(crate) fn optional_text(&mut self, field: Option<&Field<'_>>) -> Option<String> {
        self.text(field?).filter(|text| !text.is_empty())
    }

    fn parse<T>(
        &mut self,
        field: &Field<'_>,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let text = self.text(field)?;
        parse(&text)
            .map_err(|invalid| self.invalid(field, invalid))
            .ok()
    }

    /// Reads a boolean.
    pub(crate) fn bool(&mut self, field: &Field<'_>) -> Option<bool> {
        self.parse(field, values::parse_bool)
    }

    /// Reads an integer between `min` and `max`.
    pub(crate) fn int(&mut self, field: &Field<'_>, min: i64, max: i64) -> Option<i64> {
        self.parse(field, |text| values::parse_int(text, min, max))
    }

    /// Reads an integer from `min` to `max`, like [`Decoder::int`], except
    /// that a number below `min` gets `below`'s message and hint.
    pub(crate) fn int_with_floor(
        &mut self,
        field: &Field<'_>,
        min: i64,
        max: i64,
        below: (&str, &str),
    ) -> Option<i64> {
        self.parse(field, |text| match text.parse::<i64>() {
            Ok(value) if value < min => Err(Invalid::new(below.0.to_owned(), below.1)),
            _ => values::parse_int(text, min, max),
        })
    }

    /// Reads a count of at least `min`.
    pub(crate) fn count(&mut self, field: &Field<'_>, min: u32) -> Option<u32> {
        let value = self.int(field, i64::from(min), i64::from(u32::MAX))?;
        u32::try_from(value).ok()
    }

    /// Reads a duration, which may be zero.
    pub(crate) fn duration(&mut self, field: &Field<'_>) -> Option<Duration> {
        self.parse(field, values::parse_duration)
    }

    /// Reads a duration that must be greater than zero.
    pub(crate) fn positive_duration(&mut self, field: &Field<'_>) -> Option<Duration> {
        let duration = self.duration(field)?;
        if duration.is_zero() {
            self.error(field, "must be greater than 0");
            return None;
        }
        Some(duration)
    }

    /// Reads a size in bytes.
    pub(crate) fn size(&mut self, field: &Field<'_>) -> Option<usize> {
        self.parse(field, values::parse_size)
    }

    /// Reads a signal name.
    pub(crate) fn signal(&mut self, field: &Field<'_>) -> Option<Signal> {
        self.parse(field, values::parse_signal)
    }

    /// Reads one of a fixed set of names. `setting` names the setting in messages.
    pub(crate) fn choice<T: Copy + PartialEq>(
        &mut self,
        field: &Field<'_>,
        setting: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        self.parse(field, |text| values::parse_choice(text, setting, choices))
    }

    /// Reads a list of single values as text.
    pub(crate) fn text_list(&mut self, field: &Field<'_>) -> Option<Vec<String>> {
        let Value::Sequence(items) = &field.node.value else {
            let message = format!("expected a list, found {}", field.node.kind());
            self.error(field, message);
            return None;
        };
        let mut texts = Vec::with_capacity(items.len());
        let mut complete = true;
        for (index, node) in items.iter().enumerate() {
            let item = Field {
                node,
                path: format!("{}[{index}]", field.path),
            };
            match self.text(&item) {
                Some(text) => texts.push(text),
                None => complete = false,
            }
        }
        complete.then_some(texts)
    }

    /// Reads a command: a list of arguments, or one string split into words
    /// as a POSIX shell would. Quotes and backslashes group, a `#` that starts
    /// a word begins a comment, and nothing is expanded.
    pub(crate) fn command(&mut self, field: &Field<'_>) -> Option<Vec<String>> {
        let words = if let Value::Scalar(_) = field.node.value {
            let text = self.text(field)?;
            match shell_words::split(&text) {
                Ok(words) => words,
                Err(_) => {
                    let hint = "close the quote, or write the command as a list";
                    self.error(field, "command has an unclosed quote")
                        .set_hint(hint);
                    return None;
                }
            }
        } else {
            self.text_list(field)?
        };

        if words.first().is_none_or(String::is_empty) {
            let hint = "give the program and its arguments, like [php-fpm, -F]";
            self.error(field, "command is empty").set_hint(hint);
            return None;
        }
        if words.iter().any(|word| word.contains('\0')) {
            self.error(field, "command contains a NUL character");
            return None;
        }
        Some(words)
    }

    /// Reads a `command` that must be present. A missing command is reported
    /// at `at` and `path`, naming the `owner` ("hook") and showing `example`.
    pub(crate) fn required_command(
        &mut self,
        command: Option<Field<'_>>,
        (at, path): (&Origin, &str),
        owner: &str,
        example: &str,
    ) -> Option<Vec<String>> {
        let Some(command) = command else {
            let hint = format!("give the program and its arguments, like {example}");
            let message = format!("{owner} has no `command`");
            self.problems.error(at, path, message).set_hint(hint);
            return None;
        };
        self.command(&command)
    }

    /// Reads a mapping of environment variables. Single values of any type
    /// become strings, and a null value becomes the empty string.
    pub(crate) fn env_map(&mut self, field: &Field<'_>) -> Vec<(String, String)> {
        let Some(entries) = field.node.entries() else {
            let message = format!(
                "expected a mapping of names to values, found {}",
                field.node.kind()
            );
            self.error(field, message);
            return Vec::new();
        };
        let mut variables = Vec::with_capacity(entries.len());
        for entry in entries {
            let item = Field {
                node: &entry.value,
                path: join(&field.path, &entry.key),
            };
            if !is_env_name(&entry.key) {
                let message = format!("invalid environment variable name `{}`", entry.key);
                let hint = "use a name without `=` or NUL characters";
                self.problems
                    .error(&entry.key_origin, &item.path, message)
                    .set_hint(hint);
                continue;
            }
            let value = if item.node.is_null() {
                Some(String::new())
            } else {
                self.text(&item)
            };
            match value {
                Some(value) if value.contains('\0') => {
                    self.error(&item, "value contains a NUL character");
                }
                Some(value) => variables.push((entry.key.clone(), value)),
                None => {}
            }
        }
        variables
    }

    /// Reads the value of `key` with `read`, when the key is present and not null.
    pub(crate) fn read<'n, T>(
        &mut self,
        fields: &mut Fields<'n>,
        key: &'static str,
        read: impl FnOnce(&mut Self, &Field<'n>) -> Option<T>,
    ) -> Option<T> {
        let field = fields.get(key)?;
        read(self, &field)
    }

    /// Records an error at an origin that isn't a field value, such as a key.
    pub(crate) fn error_at(
        &mut self,
        at: &Origin,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Problem {
        self.problems.error(at, path, message)
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0')
}
