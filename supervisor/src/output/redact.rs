//! Redaction of secrets in text: passwords, tokens, URL credentials and card
//! numbers.
//!
//! Built-in rules, on while redaction is enabled:
//!
//! - The value after a secret key: `password`, `passwd`, `pwd`, `pass`,
//!   `passphrase`, `secret`, `token`, `api_key`, `api-key`, `apikey`,
//!   `auth`, `authorization`, `app_key` (Laravel's encryption key),
//!   `laravel_session` or `phpsessid` (session cookies), in any case. A key
//!   may also be one part of a longer name, such as `DB_PASSWORD`,
//!   `X-Auth-Token` or `password_confirmation`, and a key of five letters
//!   or more may end a part, as in `PGPASSWORD`, `accessToken` or
//!   `clientSecret`. The key must be followed by `=`, `:` or
//!   `=>`, optionally after a closing quote or bracket, so `key=value`,
//!   `key: value`, JSON's `"key":"value"` and PHP's `'key' => 'value'` and
//!   `[key] => value` all match, while prose such as "password reset email
//!   sent", "auth failed" or "tokenizer" does not. A quoted value is
//!   replaced up to its closing quote, any other value up to the next space
//!   or delimiter. The scheme of `Authorization: Bearer xyz` is kept. A
//!   `null` value is kept.
//! - The value after a command-line option named by a secret key and a
//!   space, as in `--password hunter2` or `--db-token "x y"`. A value that
//!   starts with `-` is the next option and is kept.
//! - The string after a secret key in PHP's `serialize()` output, as in
//!   `s:8:"password";s:7:"hunter2";`.
//! - The password in a URL's user information, `scheme://user:password@host`,
//!   for every scheme. The user is kept.
//! - Card numbers that pass the Luhn check, as [`card`](super::card)
//!   describes.
//!
//! Configured key names join the built-in keys. A configured regular
//! expression replaces its first capture group, or its whole match when it
//! has no group.
//!
//! The search starts from the separators: one `memchr3` pass finds every
//! `=` and `:`, and only the name right before each one is compared with
//! the keys, and only `://` starts a URL check. The same pass finds `-`,
//! and only `--` starts an option check. A line costs that pass, a few
//! byte comparisons per separator and one pass over its digits. A
//! search for the keys themselves, with an ASCII case-insensitive
//! Aho-Corasick automaton, took about a quarter of the pipeline's time in
//! `bench/log-throughput.sh`.

use std::borrow::Cow;

use regex::Regex;

use super::card::find_card_numbers;
use crate::config::{Redaction, RedactionPattern};

/// Key names whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "auth",
    "authorization",
    "pass",
    "app_key",
    "laravel_session",
    "phpsessid",
];

/// Shortest key that may end a longer part of a name: `token` ends
/// `accessToken`, while `pass` doesn't end `bypass`.
const MIN_SUFFIX_KEY: usize = 5;

/// Authorization schemes kept in front of a redacted credential.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest", "token", "bot"];

/// Reads `8:"password";`, the rest of a serialized string from `from`, and
/// returns where its contents start and end and where the next value
/// starts. The length counts bytes, as PHP writes it.
fn serialized_string(bytes: &[u8], from: usize) -> Option<(usize, usize, usize)> {
    let digits = bytes
        .get(from..)?
        .iter()
        .take(10)
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    let length: usize = std::str::from_utf8(&bytes[from..from + digits])
        .ok()?
        .parse()
        .ok()?;
    let start = from + digits + 2;
    if bytes.get(from + digits..start) != Some(b":\"") {
        return None;
    }
    let end = start.checked_add(length)?;
    if bytes.get(end..end + 2) != Some(b"\";") {
        return None;
    }
    Some((start, end, end + 2))
}

/// Bytes that end an unquoted value.
fn ends_value(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || matches!(byte, b',' | b';' | b'&' | b'"' | b'\'' | b'`' | b'<' | b'>')
        || matches!(byte, b')' | b']' | b'}')
}

/// A part of the input to replace, by byte offsets.
#[derive(Debug, Clone, Copy)]
struct Span<'r> {
    start: usize,
    end: usize,
    /// Replacement text, or `None` for the placeholder.
    replacement: Option<&'r str>,
}

/// Replaces secrets in text. Build one per redaction setting and share it.
#[derive(Debug)]
pub struct Redactor {
    enabled: bool,
    placeholder: String,
    /// Every key name, in lower case.
    keys: Vec<Vec<u8>>,
    /// Whether a byte, in either case, starts one of `keys`.
    key_starts: [bool; 256],
    /// The keys that may end a longer part of a name: letters and digits
    /// only, at least [`MIN_SUFFIX_KEY`] long.
    suffix_keys: Vec<Vec<u8>>,
    /// Whether a byte, in either case, ends one of `suffix_keys`.
    suffix_ends: [bool; 256],
    regexes: Vec<(Regex, Option<String>)>,
}

impl Redactor {
    /// Builds a redactor from redaction settings.
    pub fn new(settings: &Redaction) -> Redactor {
        let mut keys: Vec<Vec<u8>> = SECRET_KEYS
            .iter()
            .map(|key| key.as_bytes().to_vec())
            .collect();
        let mut regexes = Vec::new();
        for pattern in &settings.patterns {
            match pattern {
                RedactionPattern::Key(key) if !key.is_empty() => {
                    keys.push(key.to_ascii_lowercase().into_bytes());
                }
                RedactionPattern::Key(_) => {}
                RedactionPattern::Regex { regex, replacement } => {
                    regexes.push((regex.clone(), replacement.clone()));
                }
            }
        }
        let mut key_starts = [false; 256];
        for key in &keys {
            if let Some(&first) = key.first() {
                key_starts[usize::from(first.to_ascii_lowercase())] = true;
                key_starts[usize::from(first.to_ascii_uppercase())] = true;
            }
        }
        let suffix_keys: Vec<Vec<u8>> = keys
            .iter()
            .filter(|key| key.len() >= MIN_SUFFIX_KEY && key.iter().all(u8::is_ascii_alphanumeric))
            .cloned()
            .collect();
        let mut suffix_ends = [false; 256];
        for last in suffix_keys.iter().filter_map(|key| key.last()) {
            suffix_ends[usize::from(last.to_ascii_lowercase())] = true;
            suffix_ends[usize::from(last.to_ascii_uppercase())] = true;
        }
        Redactor {
            enabled: settings.enabled,
            placeholder: settings.placeholder.clone(),
            keys,
            key_starts,
            suffix_keys,
            suffix_ends,
            regexes,
        }
    }

    /// Returns a redactor that changes nothing.
    pub fn disabled() -> Redactor {
        Redactor::new(&Redaction {
            enabled: false,
            ..Redaction::default()
        })
    }

    /// Returns whether this redactor changes anything.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Returns the text written in place of a secret.
    pub fn placeholder(&self) -> &str {
        &self.placeholder
    }

    /// Returns `text` with every secret replaced, borrowing it when nothing
    /// needed replacing.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.enabled {
            return Cow::Borrowed(text);
        }
        let mut spans = self.spans(text);
        self.replace_spans(text, &mut spans)
    }

    /// Replaces the secrets found when `before` and `after`, two parts of a
    /// line cut in two, are read as one text, each part losing its share of
    /// a secret that spans the cut. Secrets inside one part are replaced too.
    pub(crate) fn redact_across<'b, 'a>(
        &self,
        before: &'b str,
        after: &'a str,
    ) -> (Cow<'b, str>, Cow<'a, str>) {
        if !self.enabled {
            return (Cow::Borrowed(before), Cow::Borrowed(after));
        }
        let joined = [before, after].concat();
        let cut = before.len();
        let mut head = Vec::new();
        let mut tail = Vec::new();
        for span in self.spans(&joined) {
            if span.start < cut {
                head.push(Span {
                    end: span.end.min(cut),
                    ..span
                });
            }
            if span.end > cut {
                tail.push(Span {
                    start: span.start.max(cut) - cut,
                    end: span.end - cut,
                    ..span
                });
            }
        }
        (
            self.replace_spans(before, &mut head),
            self.replace_spans(after, &mut tail),
        )
    }

    /// Returns the spans of every secret in `text`, in no order.
    fn spans(&self, text: &str) -> Vec<Span<'_>> {
        let mut spans = Vec::new();
        self.find_keys_and_urls(text, &mut spans);
        find_card_numbers(text, |start, end| {
            spans.push(Span {
                start,
                end,
                replacement: None,
            });
        });
        for (regex, replacement) in &self.regexes {
            find_regex(regex, replacement.as_deref(), text, &mut spans);
        }
        spans
    }

    /// Tells whether a field named `key` holds a secret, by the same key
    /// rules as `key=value` text: `password`, `db_password`, `X-Auth-Token`.
    pub fn is_secret_key(&self, key: &str) -> bool {
        self.enabled && self.is_secret_name(key.as_bytes())
    }

    /// Returns whether one of the keys starts a part of `name` and ends at
    /// the end of a part, or ends a longer part. Parts are separated by any
    /// byte that is not an ASCII letter or digit, so `api_key` matches
    /// `X-Api-Key`, `password` matches `password_confirmation` and
    /// `PGPASSWORD` but not `passwords`.
    fn is_secret_name(&self, name: &[u8]) -> bool {
        let mut start = 0;
        while start < name.len() {
            let rest = &name[start..];
            if self.key_starts[usize::from(rest[0])] && self.starts_with_key(rest) {
                return true;
            }
            let boundary = rest.iter().position(|byte| !byte.is_ascii_alphanumeric());
            let part = &rest[..boundary.unwrap_or(rest.len())];
            if part
                .last()
                .is_some_and(|&last| self.suffix_ends[usize::from(last)])
                && self.ends_with_key(part)
            {
                return true;
            }
            let Some(boundary) = boundary else {
                return false;
            };
            start += boundary + 1;
        }
        false
    }

    fn ends_with_key(&self, part: &[u8]) -> bool {
        self.suffix_keys.iter().any(|key| {
            part.len() > key.len() && part[part.len() - key.len()..].eq_ignore_ascii_case(key)
        })
    }

    fn starts_with_key(&self, part: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            let ends_part = part
                .get(key.len())
                .is_none_or(|byte| !byte.is_ascii_alphanumeric());
            ends_part
                && part
                    .get(..key.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(key))
        })
    }

    /// Adds the spans of key values, option values and URL passwords.
    ///
    /// A separator inside a value already found is skipped: its own value
    /// would end inside that one, and searching it again made a line such
    /// as `token=token=token=…` cost time in the square of its length.
    fn find_keys_and_urls(&self, text: &str, spans: &mut Vec<Span<'_>>) {
        let bytes = text.as_bytes();
        let mut covered = 0;
        for at in memchr::memchr3_iter(b'=', b':', b'-', bytes) {
            if at < covered {
                continue;
            }
            let span = if bytes[at] == b'-' {
                match bytes.get(at + 1) {
                    Some(b'-') => self.option_value(bytes, at),
                    _ => None,
                }
            } else if bytes.get(at + 1..at + 3) == Some(b"//") {
                url_password(bytes, at)
            } else {
                self.serialized_value(bytes, at)
                    .or_else(|| self.key_value(bytes, at))
            };
            if let Some((start, end)) = span {
                covered = end;
                spans.push(Span {
                    start,
                    end,
                    replacement: None,
                });
            }
        }
    }

    /// Returns the span of the string after a secret key in PHP's
    /// `serialize()` form, `s:8:"password";s:7:"hunter2";`, where `at` is
    /// the colon after the key's `s`.
    fn serialized_value(&self, bytes: &[u8], at: usize) -> Option<(usize, usize)> {
        let starts_string =
            at > 0 && bytes[at - 1] == b's' && (at == 1 || !bytes[at - 2].is_ascii_alphanumeric());
        if !starts_string {
            return None;
        }
        let (key_start, key_end, next) = serialized_string(bytes, at + 1)?;
        if !self.is_secret_name(&bytes[key_start..key_end]) {
            return None;
        }
        if bytes.get(next..next + 2) != Some(b"s:") {
            return None;
        }
        let (start, end, _) = serialized_string(bytes, next + 2)?;
        (end > start).then_some((start, end))
    }

    /// Returns the span of the value of the option that starts with the
    /// `--` at `dashes`, if its name is a secret key and a space follows
    /// it. `--password=x` is left to the `=` rule.
    fn option_value(&self, bytes: &[u8], dashes: usize) -> Option<(usize, usize)> {
        let starts_word =
            dashes == 0 || matches!(bytes[dashes - 1], b' ' | b'\t' | b'"' | b'\'' | b'(' | b'[');
        if !starts_word {
            return None;
        }
        let name_start = dashes + 2;
        let name_length = bytes[name_start..]
            .iter()
            .position(|&byte| !(byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-')))
            .unwrap_or(bytes.len() - name_start);
        let name_end = name_start + name_length;
        if !matches!(bytes.get(name_end), Some(b' ' | b'\t')) {
            return None;
        }
        if !self.is_secret_name(&bytes[name_start..name_end]) {
            return None;
        }
        let at = skip_spaces(bytes, name_end);
        if matches!(bytes.get(at), None | Some(b'-')) {
            return None;
        }
        value_span(bytes, at)
    }

    /// Returns the span of the value after the separator at `separator`, if
    /// the name before it is a secret key.
    fn key_value(&self, bytes: &[u8], separator: usize) -> Option<(usize, usize)> {
        let name = name_before(bytes, separator)?;
        if !self.is_secret_name(name) {
            return None;
        }
        let mut at = separator + 1;
        match (bytes[separator], bytes.get(at)) {
            (b'=', Some(b'>')) => at += 1,
            // `Token::create()` is PHP code.
            (b':', Some(b':')) => return None,
            _ => {}
        }
        value_span(bytes, skip_spaces(bytes, at))
    }

    /// Returns `text` with `spans` replaced, borrowing it when there are none.
    fn replace_spans<'t>(&self, text: &'t str, spans: &mut [Span<'_>]) -> Cow<'t, str> {
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(self.replace(text, spans))
    }

    /// Builds the output from `text` and the spans, merging overlaps.
    fn replace(&self, text: &str, spans: &mut [Span<'_>]) -> String {
        spans.sort_unstable_by_key(|span| (span.start, span.end));
        let mut out = String::with_capacity(text.len() + 16);
        let mut copied = 0;
        let mut index = 0;
        while let Some(span) = spans.get(index) {
            let mut end = span.end;
            index += 1;
            while let Some(next) = spans.get(index).filter(|next| next.start < end) {
                end = end.max(next.end);
                index += 1;
            }
            let start = span.start.max(copied);
            if let (Some(before), true) = (text.get(copied..start), text.is_char_boundary(end)) {
                out.push_str(before);
                out.push_str(span.replacement.unwrap_or(&self.placeholder));
                copied = end;
            }
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        out
    }
}

/// Returns the name that ends before `separator`, after optional spaces
/// and a closing quote or bracket: `password` in `"password": "x"`,
/// `\"password\":`, `[password] =>` and `password =`. Returns `None` for
/// the second `:` of `::`.
fn name_before(bytes: &[u8], separator: usize) -> Option<&[u8]> {
    let mut end = separator;
    if bytes[separator] == b':' && end > 0 && bytes[end - 1] == b':' {
        return None;
    }
    while end > 0 && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'' | b']') {
        end -= 1;
        if end > 0 && bytes[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let start = bytes[..end]
        .iter()
        .rposition(|&byte| !(byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')))
        .map_or(0, |position| position + 1);
    (start < end).then(|| &bytes[start..end])
}

/// Returns the span of a value starting at `at`: inside its quotes, or up
/// to the next delimiter, after an authorization scheme.
fn value_span(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = bytes.get(at..)?;
    if rest.starts_with(b"\\\"") || rest.starts_with(b"\\'") {
        let quote = [b'\\', rest[1]];
        let inner = at + 2;
        let length = memchr::memmem::find(bytes.get(inner..)?, &quote);
        let end = length.map_or_else(|| bare_end(bytes, inner), |length| inner + length);
        return (end > inner).then_some((inner, end));
    }
    if let Some(&quote) = rest.first().filter(|byte| matches!(byte, b'"' | b'\'')) {
        let inner = at + 1;
        let end = quoted_end(bytes, inner, quote).unwrap_or_else(|| bare_end(bytes, inner));
        return (end > inner).then_some((inner, end));
    }

    // A nested object is left whole, and its own keys are searched.
    if rest.first() == Some(&b'{') {
        return None;
    }
    let start = skip_auth_scheme(bytes, at);
    let end = bare_end(bytes, start);
    let value = &bytes[start..end];
    if value.is_empty() || value == b"null" {
        return None;
    }
    Some((start, end))
}

/// Returns the offset of the closing `quote` from `at`, skipping
/// backslash escapes.
fn quoted_end(bytes: &[u8], mut at: usize, quote: u8) -> Option<usize> {
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => at += 2,
            _ if byte == quote => return Some(at),
            _ => at += 1,
        }
    }
    None
}

fn bare_end(bytes: &[u8], at: usize) -> usize {
    let rest = bytes.get(at..).unwrap_or_default();
    at + rest
        .iter()
        .position(|&byte| ends_value(byte))
        .unwrap_or(rest.len())
}

/// Skips `Bearer ` and similar, so only the credential is replaced.
fn skip_auth_scheme(bytes: &[u8], at: usize) -> usize {
    let rest = bytes.get(at..).unwrap_or_default();
    for scheme in AUTH_SCHEMES {
        let length = scheme.len();
        let matches = rest
            .get(..length)
            .is_some_and(|word| word.eq_ignore_ascii_case(scheme.as_bytes()));
        if matches && rest.get(length) == Some(&b' ') {
            return skip_spaces(bytes, at + length);
        }
    }
    at
}

fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// Returns the span of the password in `scheme://user:password@host`, where
/// `://` starts at `separator`.
fn url_password(bytes: &[u8], separator: usize) -> Option<(usize, usize)> {
    let has_scheme = separator > 0 && bytes[separator - 1].is_ascii_alphanumeric();
    if !has_scheme {
        return None;
    }
    let start = separator + 3;
    let rest = bytes.get(start..)?;
    let authority_len = rest
        .iter()
        .position(|&byte| {
            byte.is_ascii_whitespace()
                || matches!(byte, b'/' | b'?' | b'#' | b'"' | b'\'')
                || matches!(byte, b'<' | b'>' | b'\\')
        })
        .unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let at_sign = memchr::memrchr(b'@', authority)?;
    let colon = memchr::memchr(b':', &authority[..at_sign])?;
    (colon + 1 < at_sign).then_some((start + colon + 1, start + at_sign))
}

fn find_regex<'r>(
    regex: &Regex,
    replacement: Option<&'r str>,
    text: &str,
    spans: &mut Vec<Span<'r>>,
) {
    let span = |start, end| Span {
        start,
        end,
        replacement,
    };
    if regex.captures_len() > 1 {
        for captures in regex.captures_iter(text) {
            let group = captures.get(1).or_else(|| captures.get(0));
            spans.extend(group.map(|found| span(found.start(), found.end())));
        }
    } else {
        spans.extend(
            regex
                .find_iter(text)
                .map(|found| span(found.start(), found.end())),
        );
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
