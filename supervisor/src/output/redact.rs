//! Redaction of secrets in text: passwords, tokens, URL credentials and card
//! numbers.
//!
//! Built-in rules, on while redaction is enabled:
//!
//! - The value after a secret key: `password`, `passwd`, `pwd`, `passphrase`,
//!   `secret`, `token`, `api_key`, `api-key`, `apikey`, `auth` and
//!   `authorization`, in any case, also as the last part of a longer name
//!   such as `DB_PASSWORD` or `X-Auth-Token`, or followed by more parts such
//!   as `password_confirmation`. The key must be followed by `=`, `:` or
//!   `=>`, optionally after a closing quote or bracket, so `key=value`,
//!   `key: value`, JSON's `"key":"value"` and PHP's `'key' => 'value'` and
//!   `[key] => value` all match, while prose such as "password reset email
//!   sent", "auth failed" or "tokenizer" does not. A quoted value is
//!   replaced up to its closing quote, any other value up to the next space
//!   or delimiter. The scheme of `Authorization: Bearer xyz` is kept. A
//!   `null` value is kept.
//! - The password in a URL's user information, `scheme://user:password@host`,
//!   for every scheme. The user is kept.
//! - Card numbers: 13 to 19 digits, either in one run or in groups
//!   separated by single spaces or dashes (the first group of 4 digits, the
//!   others of 3 to 6), that start with 2 to 6 as the major card networks
//!   do and pass the Luhn check. The first-digit rule keeps Unix
//!   timestamps in milliseconds and longer units, which start with 1.
//!
//! Configured key names join the built-in keys. A configured regular
//! expression replaces its first capture group, or its whole match when it
//! has no group.
//!
//! One Aho-Corasick search finds every key and `://` in a line, so a line
//! without any of them costs that search and one pass over its digits.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

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
];

/// Authorization schemes kept in front of a redacted credential.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest", "token", "bot"];

/// Bytes that end an unquoted value.
fn ends_value(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || matches!(byte, b',' | b';' | b'&' | b'"' | b'\'' | b'<' | b'>')
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
    /// Every key name, then `://`.
    searcher: Option<AhoCorasick>,
    /// Index of the `://` pattern in `searcher`.
    url_pattern: usize,
    regexes: Vec<(Regex, Option<String>)>,
}

impl Redactor {
    /// Builds a redactor from redaction settings.
    pub fn new(settings: &Redaction) -> Redactor {
        let mut keys: Vec<String> = SECRET_KEYS.iter().map(|key| (*key).to_owned()).collect();
        let mut regexes = Vec::new();
        for pattern in &settings.patterns {
            match pattern {
                RedactionPattern::Key(key) => keys.push(key.clone()),
                RedactionPattern::Regex { regex, replacement } => {
                    regexes.push((regex.clone(), replacement.clone()));
                }
            }
        }
        let url_pattern = keys.len();
        keys.push("://".to_owned());

        // Building fails only for pattern sets far beyond any configuration.
        let searcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&keys)
            .ok();
        Redactor {
            enabled: settings.enabled,
            placeholder: settings.placeholder.clone(),
            searcher,
            url_pattern,
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
        let mut spans = Vec::new();
        self.find_keys_and_urls(text, &mut spans);
        find_card_numbers(text, &mut spans);
        for (regex, replacement) in &self.regexes {
            find_regex(regex, replacement.as_deref(), text, &mut spans);
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(self.replace(text, &mut spans))
    }

    /// Tells whether a field named `key` holds a secret, by the same key
    /// rules as `key=value` text: `password`, `db_password`, `X-Auth-Token`.
    pub fn is_secret_key(&self, key: &str) -> bool {
        let Some(searcher) = self.searcher.as_ref().filter(|_| self.enabled) else {
            return false;
        };
        let bytes = key.as_bytes();
        searcher.find_iter(key).any(|found| {
            found.pattern().as_usize() != self.url_pattern
                && starts_name(bytes, found.start())
                && name_end(bytes, found.end()) == Some(bytes.len())
        })
    }

    fn find_keys_and_urls<'r>(&'r self, text: &str, spans: &mut Vec<Span<'r>>) {
        let Some(searcher) = &self.searcher else {
            return;
        };
        let bytes = text.as_bytes();
        for found in searcher.find_iter(text) {
            let span = if found.pattern().as_usize() == self.url_pattern {
                url_password(bytes, found.start())
            } else {
                key_value(bytes, found.start(), found.end())
            };
            spans.extend(span.map(|(start, end)| Span {
                start,
                end,
                replacement: None,
            }));
        }
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

/// Tells whether a key match at `start` begins a name: the byte before it
/// is not a letter or digit.
fn starts_name(bytes: &[u8], start: usize) -> bool {
    start == 0
        || bytes
            .get(start - 1)
            .is_some_and(|byte| !byte.is_ascii_alphanumeric())
}

/// Returns where a key name that matched up to `end` ends, after further
/// `_part`, `-part` or `.part` segments. Returns `None` if a letter or digit
/// follows the match at once, as in `tokenizer`.
fn name_end(bytes: &[u8], mut end: usize) -> Option<usize> {
    if bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    while matches!(bytes.get(end), Some(b'_' | b'-' | b'.'))
        && bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            end += 1;
        }
    }
    Some(end)
}

/// Returns the span of the value after a key matched at `start..end`, if
/// the key is followed by a separator and a value.
fn key_value(bytes: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    if !starts_name(bytes, start) {
        return None;
    }
    let mut at = name_end(bytes, end)?;

    // A closing quote or bracket of the key: `"password"`, `\"password\"`,
    // `[password]`.
    if bytes.get(at) == Some(&b'\\') && matches!(bytes.get(at + 1), Some(b'"' | b'\'')) {
        at += 2;
    } else if matches!(bytes.get(at), Some(b'"' | b'\'' | b']')) {
        at += 1;
    }
    at = skip_spaces(bytes, at);
    match (bytes.get(at), bytes.get(at + 1)) {
        (Some(b'='), Some(b'>')) => at += 2,
        (Some(b'='), _) => at += 1,
        // `Token::create()` is PHP code, and `auth://` a URL.
        (Some(b':'), Some(b':' | b'/')) => return None,
        (Some(b':'), _) => at += 1,
        _ => return None,
    }
    at = skip_spaces(bytes, at);
    value_span(bytes, at)
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

/// Adds a span for every card number in `text`.
fn find_card_numbers(text: &str, spans: &mut Vec<Span<'_>>) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(offset) = bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
    {
        let start = at + offset;
        let (end, number) = digit_groups(bytes, start);
        at = end.max(start + 1);

        let separate =
            starts_name(bytes, start) && !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if separate && number.is_card() {
            spans.push(Span {
                start,
                end,
                replacement: None,
            });
        }
    }
}

/// The digits of a possible card number, at most 19 of them.
struct DigitGroups {
    digits: [u8; 19],
    count: usize,
    groups: usize,
    /// Whether the grouping fits a card: one run, or a first group of 4
    /// and the others of 3 to 6 digits.
    well_grouped: bool,
}

impl DigitGroups {
    fn is_card(&self) -> bool {
        let number = &self.digits[..self.count.min(19)];
        (13..=19).contains(&self.count)
            && self.well_grouped
            && matches!(number.first(), Some(b'2'..=b'6'))
            && passes_luhn(number)
    }
}

/// Reads digit groups from `start`, separated by one space or dash, and
/// returns where they end.
fn digit_groups(bytes: &[u8], start: usize) -> (usize, DigitGroups) {
    let mut number = DigitGroups {
        digits: [0; 19],
        count: 0,
        groups: 0,
        well_grouped: true,
    };
    let mut at = start;
    loop {
        let group_start = at;
        while let Some(&digit) = bytes.get(at).filter(|byte| byte.is_ascii_digit()) {
            if let Some(slot) = number.digits.get_mut(number.count) {
                *slot = digit;
            }
            number.count += 1;
            at += 1;
        }
        let length = at - group_start;
        number.groups += 1;
        if number.groups == 2 && number.count - length != 4 {
            number.well_grouped = false;
        }
        if number.groups > 1 && !(3..=6).contains(&length) {
            number.well_grouped = false;
        }

        let separator = matches!(bytes.get(at), Some(b' ' | b'-'));
        let digit_follows = bytes.get(at + 1).is_some_and(u8::is_ascii_digit);
        if !separator || !digit_follows || number.count > 19 {
            return (at, number);
        }
        at += 1;
    }
}

/// Checks the Luhn checksum of ASCII digits (ISO/IEC 7812-1, annex B).
fn passes_luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (index, digit) in digits.iter().rev().enumerate() {
        let mut value = u32::from(digit - b'0');
        if index % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
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
