//! Finding the level of a child output line from its text.
//!
//! The built-in rules read the start of a line as a sequence of tokens. They
//! take a level only where a log format puts one:
//!
//! - in brackets: `[ERROR]`, nginx's `[warn]`;
//! - as a word ending in a colon: `ERROR:`, php-fpm's `WARNING:`;
//! - as an upper-case word: `INFO - Cache cleared`;
//! - as a Monolog channel suffix: `local.ERROR:`;
//! - in PHP's own phrases: `PHP Fatal error:`;
//! - as a `level=` key, or as a syslog priority such as `<3>`.
//!
//! Before it may come timestamps, bracketed prefixes such as a pool name,
//! numbers, `key=value` pairs and one program tag such as `mysql:` or
//! `php artisan:`. Any other word ends the search, so prose such as
//! "0 errors found" or "error_log path" gets no level.
//!
//! Levels map onto one scale: NOTICE and NOTE are INFO, CAUTION and
//! DEPRECATED are WARN, SEVERE is ERROR, and CRITICAL, ALERT, EMERGENCY and
//! PANIC are FATAL, as are PHP's fatal and parse errors.

use regex::RegexSet;

use crate::config::{LevelDetection, LineLevel};

/// Bytes at the start of a line that are searched for a level.
const WINDOW: usize = 256;

/// Tokens read before the search gives up.
const MAX_TOKENS: usize = 10;

/// Longest bracketed prefix, such as a timestamp, that is skipped.
const MAX_BRACKET: usize = 64;

/// PHP's error phrases, written with or without a `PHP ` prefix.
const PHP_PHRASES: &[(&str, LineLevel)] = &[
    ("Fatal error:", LineLevel::Fatal),
    ("Parse error:", LineLevel::Fatal),
    ("Catchable fatal error:", LineLevel::Error),
    ("Recoverable fatal error:", LineLevel::Error),
    ("Strict Standards:", LineLevel::Info),
];

/// Detects levels with configured patterns first, then the built-in rules.
#[derive(Debug)]
pub(crate) struct LevelDetector {
    enabled: bool,
    /// Configured patterns, most severe level first, as one set so a line
    /// is scanned once.
    patterns: Option<(RegexSet, Vec<LineLevel>)>,
    default_level: Option<LineLevel>,
}

impl LevelDetector {
    /// Builds a detector from the `level_detection` settings.
    pub(crate) fn new(settings: &LevelDetection) -> LevelDetector {
        let levels = settings.patterns.iter().map(|(level, _)| *level).collect();
        let regexes = settings.patterns.iter().map(|(_, regex)| regex.as_str());
        // Every pattern compiled alone during config loading, so the set
        // compiles too unless it is too big, and then only the built-in
        // rules are used.
        let set = RegexSet::new(regexes).ok().filter(|set| !set.is_empty());
        LevelDetector {
            enabled: settings.enabled,
            patterns: set.map(|set| (set, levels)),
            default_level: settings.default_level,
        }
    }

    /// Returns the level that `line` states, if any rule finds one.
    pub(crate) fn detect(&self, line: &str) -> Option<LineLevel> {
        if !self.enabled {
            return None;
        }
        if let Some((set, levels)) = &self.patterns {
            let first = set.matches(line).into_iter().next();
            if let Some(level) = first.and_then(|index| levels.get(index)) {
                return Some(*level);
            }
        }
        detect_builtin(line)
    }

    /// Returns the configured level for lines without one, if set.
    pub(crate) fn default_level(&self) -> Option<LineLevel> {
        self.default_level
    }
}

/// Returns the level that `line` states by the built-in rules.
pub(crate) fn detect_builtin(line: &str) -> Option<LineLevel> {
    let bytes = line.as_bytes();
    detect_in(&bytes[..bytes.len().min(WINDOW)])
}

fn detect_in(window: &[u8]) -> Option<LineLevel> {
    let mut at = 0;
    let mut after_plain_word = false;
    let mut tag_seen = false;

    for _ in 0..MAX_TOKENS {
        at = skip_blanks(window, at);
        let rest = window.get(at..)?;
        let first = *rest.first()?;

        if let Some(level) = php_phrase(rest) {
            return Some(level);
        }
        if let Some(close) = closing_bracket(first) {
            let inner_len = rest
                .iter()
                .skip(1)
                .take(MAX_BRACKET)
                .position(|&byte| byte == close)?;
            let inner = &rest[1..1 + inner_len];
            if let Some(level) = bracket_level(first, inner) {
                return Some(level);
            }
            at += inner_len + 2;
            // `app[123]:` and `[pool www]:` are tags too.
            if window.get(at) == Some(&b':') {
                at += 1;
            }
            continue;
        }

        let end = rest
            .iter()
            .position(|&byte| byte.is_ascii_whitespace() || byte == b'[')
            .unwrap_or(rest.len());
        let token = &rest[..end];
        at += end;
        match classify(token, after_plain_word, tag_seen) {
            Token::Level(level) => return Some(forwarded_level(&window[at..]).unwrap_or(level)),
            Token::Prefix => after_plain_word = false,
            Token::Tag => {
                tag_seen = true;
                after_plain_word = false;
            }
            Token::PlainWord => after_plain_word = true,
            Token::End => return None,
        }
    }
    None
}

/// Returns the level of a PHP error that php-fpm passes on after its own
/// level, as in `NOTICE: PHP message: PHP Fatal error: …` or
/// `WARNING: [pool www] child 12 said into stderr: "PHP Warning: …"`, where
/// `rest` is the text after php-fpm's level.
fn forwarded_level(rest: &[u8]) -> Option<LineLevel> {
    const PHP_MESSAGE: &[u8] = b"PHP message: ";
    const STDERR_MARKER: &[u8] = b" said into stderr: \"";

    let mut rest = &rest[skip_blanks(rest, 0)..];
    if let Some(message) = rest.strip_prefix(PHP_MESSAGE) {
        return detect_in(message);
    }
    if rest.first() == Some(&b'[') {
        let close = rest
            .iter()
            .take(MAX_BRACKET)
            .position(|&byte| byte == b']')?;
        rest = &rest[skip_blanks(rest, close + 1)..];
    }
    if !rest.starts_with(b"child ") {
        return None;
    }
    let head = &rest[..rest.len().min(MAX_BRACKET)];
    let marker = memchr::memmem::find(head, STDERR_MARKER)?;
    let quoted = &rest[marker + STDERR_MARKER.len()..];
    let message = quoted.strip_prefix(PHP_MESSAGE).unwrap_or(quoted);
    detect_in(message)
}

/// What one whitespace-separated token at the start of a line is.
enum Token {
    /// It states a level.
    Level(LineLevel),
    /// A timestamp, number, `key=value` pair or `PHP`, which may come before
    /// a level.
    Prefix,
    /// A program tag such as `mysql:`.
    Tag,
    /// A word that may come before a tag, like `php` in `php artisan:`, or
    /// before a level with a colon, like `Got` in `mysqldump: Got error:`.
    PlainWord,
    /// Anything else: the line states no level.
    End,
}

fn classify(token: &[u8], after_plain_word: bool, tag_seen: bool) -> Token {
    if is_timestamp_part(token) {
        return if after_plain_word {
            Token::End
        } else {
            Token::Prefix
        };
    }

    let colon = token.iter().position(|&byte| byte == b':');
    let word = &token[..colon.unwrap_or(token.len())];
    if colon.is_some() {
        if let Some(level) = word_level(word).or_else(|| monolog_level(word)) {
            return Token::Level(level);
        }
        if word == b"LOG" {
            // PostgreSQL's level for routine messages.
            return Token::Level(LineLevel::Info);
        }
    } else if is_upper(word) && !after_plain_word {
        if let Some(level) = word_level(word) {
            return Token::Level(level);
        }
    }
    if after_plain_word {
        // Only `word tag:` may follow a plain word.
        let is_tag = colon.is_some_and(|colon| colon + 1 == token.len());
        return if is_tag && !tag_seen {
            Token::Tag
        } else {
            Token::End
        };
    }

    if let Some(level) = key_value_level(token) {
        return level;
    }
    if word == b"PHP" && colon.is_none() {
        return Token::Prefix;
    }
    match colon {
        Some(colon) if colon + 1 == token.len() && !tag_seen && !word.is_empty() => Token::Tag,
        None if word.iter().all(u8::is_ascii_alphanumeric) => Token::PlainWord,
        _ => Token::End,
    }
}

/// Reads `level=error` and similar. Other `key=value` pairs, such as a
/// logfmt `time=…`, are prefixes.
fn key_value_level(token: &[u8]) -> Option<Token> {
    let equals = token.iter().position(|&byte| byte == b'=')?;
    let (key, value) = (&token[..equals], &token[equals + 1..]);
    if key.is_empty() || !key.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let is_level_key = [&b"level"[..], b"lvl", b"severity", b"loglevel"]
        .iter()
        .any(|name| key.eq_ignore_ascii_case(name));
    if !is_level_key {
        return Some(Token::Prefix);
    }
    let value = value.trim_ascii_start();
    let value = value.strip_prefix(b"\"").unwrap_or(value);
    let value = value.strip_suffix(b"\"").unwrap_or(value);
    Some(word_level(value).map_or(Token::End, Token::Level))
}

/// Returns the level of a bracketed token: a level word, or a syslog
/// priority such as `<3>`.
fn bracket_level(open: u8, inner: &[u8]) -> Option<LineLevel> {
    if open == b'<' {
        return syslog_level(inner);
    }
    word_level(inner.trim_ascii())
}

fn syslog_level(inner: &[u8]) -> Option<LineLevel> {
    if inner.is_empty() || inner.len() > 3 || !inner.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let priority = inner
        .iter()
        .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
    // The syslog severity is the low three bits of the priority.
    Some(match priority & 7 {
        0..=2 => LineLevel::Fatal,
        3 => LineLevel::Error,
        4 => LineLevel::Warn,
        5 | 6 => LineLevel::Info,
        _ => LineLevel::Debug,
    })
}

fn closing_bracket(open: u8) -> Option<u8> {
    match open {
        b'[' => Some(b']'),
        b'(' => Some(b')'),
        b'<' => Some(b'>'),
        _ => None,
    }
}

/// Matches PHP's multi-word error phrases at the start of `rest`, after an
/// optional `PHP ` prefix.
fn php_phrase(rest: &[u8]) -> Option<LineLevel> {
    let rest = rest
        .strip_prefix(b"PHP ")
        .unwrap_or(rest)
        .trim_ascii_start();
    if !matches!(rest.first(), Some(b'F' | b'P' | b'C' | b'R' | b'S')) {
        return None;
    }
    PHP_PHRASES
        .iter()
        .find(|(phrase, _)| rest.starts_with(phrase.as_bytes()))
        .map(|(_, level)| *level)
}

/// Reads Monolog's `channel.LEVEL`, as Laravel and Symfony write it.
fn monolog_level(word: &[u8]) -> Option<LineLevel> {
    let dot = word.iter().rposition(|&byte| byte == b'.')?;
    let (channel, level) = (&word[..dot], &word[dot + 1..]);
    if channel.is_empty() || !is_upper(level) {
        return None;
    }
    word_level(level)
}

/// Returns the level a word names, in any case: `error`, `WARNING`, `crit`.
pub(crate) fn word_level(word: &[u8]) -> Option<LineLevel> {
    let mut lower = [0u8; 12];
    let target = lower.get_mut(..word.len())?;
    for (slot, byte) in target.iter_mut().zip(word) {
        *slot = byte.to_ascii_lowercase();
    }

    Some(match &*target {
        b"trace" => LineLevel::Trace,
        b"debug" | b"dbg" => LineLevel::Debug,
        b"info" | b"information" | b"notice" | b"note" => LineLevel::Info,
        b"warn" | b"warning" | b"caution" | b"deprecated" => LineLevel::Warn,
        b"error" | b"err" | b"severe" => LineLevel::Error,
        b"fatal" | b"critical" | b"crit" | b"alert" | b"emerg" | b"emergency" | b"panic" => {
            LineLevel::Fatal
        }
        _ => return None,
    })
}

fn is_upper(word: &[u8]) -> bool {
    !word.is_empty() && word.iter().all(u8::is_ascii_uppercase)
}

/// Tells whether a token can be part of a timestamp or is a number: it
/// starts with a digit and has only digits and `-:/.,+TZ_`, or it is a
/// month, weekday or time zone abbreviation.
fn is_timestamp_part(token: &[u8]) -> bool {
    const NAMES: &[&[u8]] = &[
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun", b"UTC", b"GMT", b"AM",
        b"PM",
    ];
    let numeric = token.first().is_some_and(u8::is_ascii_digit)
        && token.iter().all(|&byte| {
            byte.is_ascii_digit()
                || matches!(byte, b'-' | b':' | b'/' | b'.' | b',' | b'+')
                || matches!(byte, b'T' | b'Z' | b'_')
        });
    numeric || NAMES.contains(&token)
}

fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

#[cfg(test)]
#[path = "level_tests.rs"]
mod tests;
