//! Validators for environment values: one [`Check`] per kind of value.
//!
//! Every value ends up inside an nginx, php-fpm, php.ini or YAML file. A
//! check first rejects characters that could end a directive or start a
//! new one (a line break, `;`, `{`, `}`, quotes). Then it accepts only the
//! forms that the directive itself accepts. The second step alone would be
//! enough, but the first gives a clearer message.

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

use super::Value;

/// The kind of value a variable takes, with its validation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// true/false, 1/0, yes/no or on/off, in any case.
    Bool,
    /// A TCP port, 1 to 65535.
    Port,
    /// A whole number within the bounds.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A size: digits with an optional k, m or g suffix.
    Size,
    /// A PHP memory limit: a size, or -1 for no limit.
    MemoryLimit,
    /// An nginx time: digits with an optional ms, s, m, h or d suffix.
    Time,
    /// A php-fpm time: digits with an optional s, m, h or d suffix.
    FpmTime,
    /// A cache lifetime for static files: `off`, or digits with an optional
    /// s, m, h, d, w, M (30 days) or y (365 days) suffix.
    Expires,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// `phpeek-pm`; unset selects the default mode.
    ProcessManager,
    /// One or more of the listed words, separated by spaces.
    Words(&'static [&'static str]),
    /// An absolute path.
    Path,
    /// A program name looked up in PATH, or a path to one.
    Program,
    /// A user name.
    Account,
    /// A numeric user or group id.
    Id,
    /// A TCP address, `host:port`.
    HostPort,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// IP addresses or CIDR ranges, separated by spaces or commas.
    CidrList,
    /// File names separated by spaces.
    FileNames,
    /// MIME types separated by spaces.
    MimeTypes,
    /// nginx `try_files` fallbacks: URIs or `=code`, separated by spaces.
    TryFiles,
    /// An HTTP header value. Empty leaves the header out.
    HeaderValue,
    /// An HTTP header name.
    HeaderName,
    /// A name made of letters, digits, `_`, `.` and `-`.
    Token,
    /// Any text on a single line.
    Text,
    /// A time zone name, such as `Europe/Berlin`.
    TimeZone,
    /// A PHP `error_reporting` expression, such as `E_ALL & ~E_DEPRECATED`.
    ErrorReporting,
    /// An `opcache.jit` mode.
    OpcacheJit,
    /// The nginx access log target: on (stdout), off, or a file.
    AccessLog,
    /// The nginx error log target: `stderr` or a file.
    ErrorLog,
    /// PHP `display_errors`: a boolean, `stderr` or `stdout`.
    DisplayErrors,
    /// nginx `open_file_cache`: `off`, or `max=N` with an optional
    /// `inactive=TIME`.
    OpenFileCache,
    /// nginx buffers: a count and a size, such as `16 16k`.
    Buffers,
    /// nginx `worker_processes`: `auto` or a count.
    WorkerProcesses,
}

static SIZE: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]+[kKmMgG]?$"));
static TIME: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]+(ms|s|m|h|d)?$"));
static FPM_TIME: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]+[smhd]?$"));
static EXPIRES: LazyLock<Regex> = LazyLock::new(|| regex(r"^(off|[0-9]+[smhdwMy]?)$"));
static PROGRAM: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9_./+-]+$"));
static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$"));
static HOST_PORT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$"));
static FILE_NAME: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9_./-]+$"));
static MIME_TYPE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^([A-Za-z0-9.+-]+/[A-Za-z0-9.+*-]+|\*)$"));
static URI: LazyLock<Regex> = LazyLock::new(|| regex(r"^(/[A-Za-z0-9_./$?&=%@:+~-]*|=[0-9]{3})$"));
static HEADER_NAME: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9-]+$"));
static TOKEN: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9_.-]+$"));
static TIME_ZONE: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z][A-Za-z0-9_+/-]*$"));
static ERROR_REPORTING: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Z0-9_ &|~^()-]+$"));
static OPCACHE_JIT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(disable|off|on|tracing|function|[0-9]{4})$"));
static OPEN_FILE_CACHE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(off|max=[0-9]+( inactive=[0-9]+(ms|s|m|h|d)?)?)$"));
static BUFFERS: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]+ [0-9]+[kKmM]?$"));
static WORKER_PROCESSES: LazyLock<Regex> = LazyLock::new(|| regex(r"^(auto|[1-9][0-9]{0,3})$"));

/// Compiles one of the fixed patterns above.
fn regex(pattern: &str) -> Regex {
    // The patterns are constants, and the unit tests compile every one.
    Regex::new(pattern).unwrap_or_else(|error| unreachable!("invalid pattern {pattern}: {error}"))
}

impl Check {
    /// Describes the accepted forms, for error messages and the reference
    /// table.
    pub(crate) fn describe(&self) -> String {
        let text = match self {
            Check::Bool => "true/false, 1/0, yes/no or on/off (any case)",
            Check::Port => "a TCP port from 1 to 65535",
            Check::Int { min, max } => return format!("a whole number from {min} to {max}"),
            Check::Size => "a size: digits with an optional k, m or g suffix, like 100M",
            Check::MemoryLimit => "a size like 256M, or -1 for no limit",
            Check::Time => "a time: digits with an optional ms, s, m, h or d suffix, like 60s",
            Check::FpmTime => "a time: digits with an optional s, m, h or d suffix, like 10s",
            Check::Expires => {
                "off, or digits with an optional s, m, h, d, w, M (30 days) or y suffix, like 1y"
            }
            Check::Choice(words) => return format!("one of: {}", words.join(", ")),
            Check::ProcessManager => "phpeek-pm, or unset for the default mode",
            Check::Words(words) => {
                return format!("one or more of, separated by spaces: {}", words.join(", "))
            }
            Check::Path => "an absolute path without quotes, `\\`, `$`, `;`, `{` or `}`",
            Check::Program => "a program name or path (letters, digits and _ . / + -)",
            Check::Account => "a user name (letters, digits and _ . -, at most 32)",
            Check::Id => "a numeric id from 0 to 4294967294",
            Check::HostPort => "host:port, like 127.0.0.1:9000 or db:5432",
            Check::IpAddress => "an IPv4 or IPv6 address, like 127.0.0.1",
            Check::CidrList => "IP addresses or CIDR ranges separated by spaces or commas",
            Check::FileNames => "file names separated by spaces, like index.php index.html",
            Check::MimeTypes => "MIME types separated by spaces, like text/css application/json",
            Check::TryFiles => "URIs starting with / or a status like =404, separated by spaces",
            Check::HeaderValue => "a header value without `\"`, `\\` or `$`; empty leaves it out",
            Check::HeaderName => "a header name (letters, digits and -)",
            Check::Token => "a name made of letters, digits and _ . -",
            Check::Text => "any text on one line",
            Check::TimeZone => "an IANA time zone name, like UTC or Europe/Berlin",
            Check::ErrorReporting => "an error_reporting expression, like E_ALL & ~E_DEPRECATED",
            Check::OpcacheJit => "disable, off, on, tracing, function or a four-digit mode",
            Check::AccessLog => "on (stdout), off, or an absolute file path",
            Check::ErrorLog => "stderr, or an absolute file path",
            Check::DisplayErrors => "a boolean, stderr or stdout",
            Check::OpenFileCache => "off, or max=N with an optional inactive=TIME",
            Check::Buffers => "a count and a size, like 16 16k",
            Check::WorkerProcesses => "auto, or a count from 1 to 9999",
        };
        text.to_owned()
    }

    /// Returns whether an empty value is a value of its own (it turns a header or a
    /// list off) rather than the same as unset.
    pub(crate) fn allows_empty(&self) -> bool {
        matches!(self, Check::HeaderValue | Check::CidrList)
    }

    /// Validates `raw` and returns its normalized value, or the reason it is
    /// invalid.
    pub(crate) fn parse(&self, raw: &str) -> Result<Value, String> {
        let expected = || format!("expected {}", self.describe());
        if let Some(problem) = forbidden_character(raw, self.forbidden()) {
            return Err(format!("{problem}; {}", expected()));
        }
        if *self == Check::TimeZone {
            return parse_time_zone(raw).ok_or_else(|| unknown_time_zone(raw, &expected()));
        }
        self.parse_form(raw).ok_or_else(expected)
    }

    /// Characters the value may not hold besides line breaks and control
    /// characters. Header values are written inside double quotes, where
    /// `;`, `{`, `}` and `'` are plain characters but `$` starts an nginx
    /// variable. Free text is never written into a config file.
    fn forbidden(&self) -> &'static [char] {
        match self {
            Check::HeaderValue => &['"', '\\', '$'],
            Check::Text => &[],
            _ => &[';', '{', '}', '"', '\'', '\\'],
        }
    }

    fn parse_form(&self, raw: &str) -> Option<Value> {
        let text = || Some(Value::Text(raw.to_owned()));
        let matches = |pattern: &Regex| pattern.is_match(raw);
        match self {
            Check::Bool => parse_bool(raw).map(Value::Bool),
            Check::Port => parse_int(raw, 1, 65535).map(Value::Int),
            Check::Int { min, max } => parse_int(raw, *min, *max).map(Value::Int),
            Check::Size if matches(&SIZE) => text(),
            Check::MemoryLimit if raw == "-1" || matches(&SIZE) => text(),
            Check::Time if matches(&TIME) => text(),
            Check::FpmTime if matches(&FPM_TIME) => text(),
            Check::Expires if matches(&EXPIRES) => text(),
            Check::Choice(words) if words.contains(&raw) => text(),
            Check::ProcessManager if raw == "phpeek-pm" => text(),
            Check::Words(words) => words_from(raw, |word| words.contains(&word)),
            Check::Path if is_path(raw) => text(),
            Check::Program if matches(&PROGRAM) => text(),
            Check::Account if matches(&ACCOUNT) => text(),
            Check::Id => parse_int(raw, 0, i64::from(u32::MAX) - 1).map(Value::Int),
            Check::HostPort => parse_host_port(raw).then(text).flatten(),
            Check::IpAddress => raw.parse::<IpAddr>().ok().and_then(|_| text()),
            Check::CidrList => parse_cidr_list(raw),
            Check::FileNames => words_from(raw, |word| FILE_NAME.is_match(word)),
            Check::MimeTypes => words_from(raw, |word| MIME_TYPE.is_match(word)),
            Check::TryFiles => words_from(raw, |word| URI.is_match(word)),
            Check::HeaderValue => text(),
            Check::HeaderName if matches(&HEADER_NAME) => text(),
            Check::Token if matches(&TOKEN) => text(),
            Check::Text => text(),
            Check::ErrorReporting if matches(&ERROR_REPORTING) => text(),
            Check::OpcacheJit if matches(&OPCACHE_JIT) => text(),
            Check::AccessLog => parse_access_log(raw),
            Check::ErrorLog if raw == "stderr" || is_path(raw) => text(),
            Check::DisplayErrors => parse_display_errors(raw),
            Check::OpenFileCache if matches(&OPEN_FILE_CACHE) => text(),
            Check::Buffers if matches(&BUFFERS) => text(),
            Check::WorkerProcesses if matches(&WORKER_PROCESSES) => text(),
            _ => None,
        }
    }
}

/// Parses the boolean forms accepted everywhere: true/false, 1/0, yes/no and
/// on/off, in any case.
pub(crate) fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_int(raw: &str, min: i64, max: i64) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>()
        .ok()
        .filter(|value| (min..=max).contains(value))
}

/// Returns why `raw` can't be used, when it contains a line break, a control
/// character or one of `forbidden`, any of which could end or split a
/// directive.
fn forbidden_character(raw: &str, forbidden: &[char]) -> Option<String> {
    if raw.contains(['\n', '\r']) {
        return Some("contains a line break".to_owned());
    }
    if let Some(control) = raw.chars().find(|c| c.is_control()) {
        return Some(format!("contains the control character {control:?}"));
    }
    raw.chars()
        .find(|c| forbidden.contains(c))
        .map(|c| format!("contains `{c}`"))
}

fn is_path(raw: &str) -> bool {
    raw.starts_with('/') && !raw.contains(['"', '\'', '\\', '$', ';', '{', '}'])
}

fn parse_host_port(raw: &str) -> bool {
    HOST_PORT
        .captures(raw)
        .and_then(|captures| captures.get(2))
        .and_then(|port| parse_int(port.as_str(), 1, 65535))
        .is_some()
}

/// Splits `raw` at spaces and accepts it when there is at least one word and
/// every word passes `valid`.
fn words_from(raw: &str, valid: impl Fn(&str) -> bool) -> Option<Value> {
    let words: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() || !words.iter().all(|word| valid(word)) {
        return None;
    }
    Some(Value::Text(words.join(" ")))
}

fn parse_cidr_list(raw: &str) -> Option<Value> {
    let entries: Vec<String> = raw
        .split([' ', ','])
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    entries
        .iter()
        .all(|entry| is_cidr(entry))
        .then_some(Value::List(entries))
}

fn is_cidr(entry: &str) -> bool {
    let (address, prefix) = match entry.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (entry, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max_prefix = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| parse_int(prefix, 0, max_prefix).is_some())
}

/// Accepts a zone of the IANA database in any case, and returns it as the
/// database spells it.
fn parse_time_zone(raw: &str) -> Option<Value> {
    if !TIME_ZONE.is_match(raw) {
        return None;
    }
    let zone = super::time_zone::canonical(raw)?;
    Some(Value::Text(zone.to_owned()))
}

/// Describes an invalid time zone, with the likely intended zone when the
/// name looks like a typo of one.
fn unknown_time_zone(raw: &str, expected: &str) -> String {
    let suggestion = match super::time_zone::closest(raw) {
        Some(zone) => format!(" (did you mean {zone}?)"),
        None => String::new(),
    };
    format!("not a zone of the IANA time zone database{suggestion}; {expected}")
}

fn parse_access_log(raw: &str) -> Option<Value> {
    match parse_bool(raw) {
        Some(true) => Some(Value::Text("/dev/stdout".to_owned())),
        Some(false) => Some(Value::Text("off".to_owned())),
        None if is_path(raw) => Some(Value::Text(raw.to_owned())),
        None => None,
    }
}

fn parse_display_errors(raw: &str) -> Option<Value> {
    match parse_bool(raw) {
        Some(true) => Some(Value::Text("On".to_owned())),
        Some(false) => Some(Value::Text("Off".to_owned())),
        None if raw == "stderr" || raw == "stdout" => Some(Value::Text(raw.to_owned())),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(check: Check, raw: &str) -> bool {
        check.parse(raw).is_ok()
    }

    #[test]
    fn bool_forms_in_any_case() {
        for raw in ["true", "TRUE", "1", "yes", "Yes", "on", "ON"] {
            assert_eq!(Check::Bool.parse(raw), Ok(Value::Bool(true)), "{raw}");
        }
        for raw in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert_eq!(Check::Bool.parse(raw), Ok(Value::Bool(false)), "{raw}");
        }
    }

    #[test]
    fn bool_rejects_other_words() {
        for raw in ["y", "n", "enabled", "2", "", " true", "true "] {
            let error = Check::Bool.parse(raw).err().unwrap_or_default();

            assert!(
                error.contains("true/false, 1/0, yes/no or on/off"),
                "{raw}: {error}"
            );
        }
    }

    #[test]
    fn hostile_characters_are_named() {
        let cases = [
            ("100M;", "`;`"),
            ("100M\ninclude /etc/passwd", "line break"),
            ("a}", "`}`"),
            ("a{", "`{`"),
            ("\"a", "`\"`"),
            ("'a", "`'`"),
            ("a\0", "control character"),
        ];
        for (raw, expected) in cases {
            let error = Check::Size.parse(raw).err().unwrap_or_default();

            assert!(error.contains(expected), "{raw:?}: {error}");
        }
    }

    #[test]
    fn header_values_may_hold_semicolons_and_quotes() {
        let csp = "default-src 'self'; img-src * data:";

        assert!(accepts(Check::HeaderValue, csp));
        assert!(accepts(Check::HeaderValue, "1; mode=block"));
        assert!(!accepts(Check::HeaderValue, "a\"b"));
        assert!(!accepts(Check::HeaderValue, "a\nb"));
        assert!(!accepts(Check::HeaderValue, "a\\b"));
    }

    #[test]
    fn sizes_and_times() {
        for raw in ["0", "100", "100M", "8k", "1G"] {
            assert!(accepts(Check::Size, raw), "{raw}");
        }
        for raw in ["", "M", "1.5M", "10MB", "-1", "1 M"] {
            assert!(!accepts(Check::Size, raw), "{raw}");
        }
        for raw in ["60", "60s", "500ms", "5m", "1h", "2d"] {
            assert!(accepts(Check::Time, raw), "{raw}");
        }
        for raw in ["1y", "s", "1.5s", "60 s"] {
            assert!(!accepts(Check::Time, raw), "{raw}");
        }
        assert!(accepts(Check::FpmTime, "10s"));
        assert!(!accepts(Check::FpmTime, "10ms"));
        assert!(accepts(Check::MemoryLimit, "-1"));
        assert!(!accepts(Check::MemoryLimit, "-2"));
    }

    #[test]
    fn ports_and_ints_respect_bounds() {
        assert_eq!(Check::Port.parse("80"), Ok(Value::Int(80)));
        for raw in ["0", "65536", "-1", "+80", "8o", "99999999999999999999"] {
            assert!(!accepts(Check::Port, raw), "{raw}");
        }
        let level = Check::Int { min: 1, max: 9 };

        assert!(accepts(level, "9"));
        assert!(!accepts(level, "10"));
    }

    #[test]
    fn addresses() {
        for raw in [
            "127.0.0.1:9000",
            "db:5432",
            "[::1]:9000",
            "my-db.internal:3306",
        ] {
            assert!(accepts(Check::HostPort, raw), "{raw}");
        }
        for raw in [
            "127.0.0.1",
            "db:0",
            "db:70000",
            ":80",
            "unix:/run/fpm.sock",
            "a b:1",
        ] {
            assert!(!accepts(Check::HostPort, raw), "{raw}");
        }
        assert!(accepts(Check::IpAddress, "::1"));
        assert!(!accepts(Check::IpAddress, "localhost"));
    }

    #[test]
    fn cidr_lists_split_on_spaces_and_commas() {
        let parsed = Check::CidrList.parse("10.0.0.0/8, 172.16.0.0/12 fd00::/8");
        let expected = ["10.0.0.0/8", "172.16.0.0/12", "fd00::/8"].map(str::to_owned);

        assert_eq!(parsed, Ok(Value::List(expected.to_vec())));
        assert!(!accepts(Check::CidrList, "10.0.0.0/33"));
        assert!(!accepts(Check::CidrList, "proxy.local"));
    }

    #[test]
    fn word_lists_are_normalized() {
        let parsed = Check::FileNames.parse("index.php   index.html");

        assert_eq!(parsed, Ok(Value::Text("index.php index.html".to_owned())));
        assert!(!accepts(Check::FileNames, "   "));
        assert!(accepts(Check::TryFiles, "/index.php?$query_string"));
        assert!(accepts(Check::TryFiles, "=404"));
        assert!(!accepts(Check::TryFiles, "index.php"));
        assert!(accepts(Check::MimeTypes, "text/css image/svg+xml"));
        assert!(!accepts(Check::MimeTypes, "css"));
        let proxied = Check::Words(&["any", "expired"]);

        assert!(accepts(proxied, "expired any"));
        assert!(!accepts(proxied, "all"));
    }

    #[test]
    fn paths_must_be_absolute_and_plain() {
        assert!(accepts(Check::Path, "/var/www/my app"));
        for raw in ["relative/dir", "/a$b", "/a;b", "/a\"b", ""] {
            assert!(!accepts(Check::Path, raw), "{raw}");
        }
    }

    #[test]
    fn log_targets_are_normalized() {
        let stdout = Ok(Value::Text("/dev/stdout".to_owned()));
        let off = Ok(Value::Text("off".to_owned()));

        assert_eq!(Check::AccessLog.parse("on"), stdout);
        assert_eq!(Check::AccessLog.parse("FALSE"), off);
        assert!(accepts(Check::AccessLog, "/var/log/nginx/access.log"));
        assert!(accepts(Check::ErrorLog, "stderr"));
        assert!(!accepts(Check::ErrorLog, "stdout"));
        let display = Check::DisplayErrors.parse("yes");

        assert_eq!(display, Ok(Value::Text("On".to_owned())));
    }

    #[test]
    fn php_specific_forms() {
        assert!(accepts(Check::ErrorReporting, "E_ALL & ~E_DEPRECATED"));
        assert!(!accepts(Check::ErrorReporting, "E_ALL; x"));
        assert!(accepts(Check::OpcacheJit, "1255"));
        assert!(!accepts(Check::OpcacheJit, "fast"));
        assert!(accepts(Check::TimeZone, "America/Argentina/Buenos_Aires"));
        assert!(!accepts(Check::TimeZone, "../etc"));
        assert!(!accepts(Check::TimeZone, "Europe/Berln"));
        assert!(accepts(Check::OpenFileCache, "max=10000 inactive=20s"));
        assert!(!accepts(Check::OpenFileCache, "max=10000 inactive=forever"));
    }

    #[test]
    fn time_zone_is_spelled_as_the_database() {
        let zone = Check::TimeZone.parse("europe/berlin");

        assert_eq!(zone, Ok(Value::Text("Europe/Berlin".to_owned())));
    }

    #[test]
    fn unknown_time_zone_suggests_the_fix() {
        let error = Check::TimeZone
            .parse("Europe/Berln")
            .err()
            .unwrap_or_default();

        assert!(error.contains("IANA time zone database"), "{error}");
        assert!(error.contains("did you mean Europe/Berlin?"), "{error}");
        assert!(error.contains("like UTC or Europe/Berlin"), "{error}");
    }

    #[test]
    fn every_description_is_a_phrase() {
        let checks = [
            Check::Bool,
            Check::Choice(&["a", "b"]),
            Check::Int { min: 1, max: 2 },
        ];
        for check in checks {
            assert!(!check.describe().ends_with('.'), "{check:?}");
        }
    }
}
