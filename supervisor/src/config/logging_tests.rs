use std::time::Duration;

use super::super::model::{LogFormat, LogOverflow};
use super::super::testing::{config, errors, loaded, only_error, position};
use super::*;

const WEB: &str = "processes:\n  web:\n    command: [nginx]\n";

fn keys(patterns: &[RedactionPattern]) -> Vec<String> {
    patterns
        .iter()
        .map(|pattern| match pattern {
            RedactionPattern::Key(key) => format!("key {key}"),
            RedactionPattern::Regex { regex, replacement } => {
                format!("regex {} {replacement:?}", regex.as_str())
            }
        })
        .collect()
}

#[test]
fn log_pipeline_defaults_apply() {
    let config = config(WEB);
    let global = &config.global;
    let logging = &config.processes[0].logging;

    assert_eq!(global.log_overflow, LogOverflow::Block);
    assert!(global.log_multiline.enabled);
    assert!(global.log_multiline.start_pattern.is_none());
    assert_eq!(global.log_multiline.timeout, Duration::from_millis(500));
    assert_eq!(global.log_multiline.max_lines, 100);
    assert!(global.log_redaction.enabled);
    assert!(global.log_redaction.patterns.is_empty());
    assert_eq!(global.log_redaction.placeholder, "***REDACTED***");
    assert_eq!(logging.format, LogFormat::Json);
    assert_eq!(logging.min_level, LineLevel::Trace);
    assert!(logging.multiline.enabled);
    assert!(logging.redaction.enabled);
    assert!(logging.level_detection.enabled);
    assert!(logging.level_detection.patterns.is_empty());
    assert_eq!(logging.level_detection.default_level, None);
    assert!(logging.json);
    assert!(logging.filters.include.is_empty());
    assert!(logging.filters.exclude.is_empty());
}

#[test]
fn global_log_keys_are_read() {
    let yaml = format!(
        "global:\n  log_format: text\n  log_overflow: drop\n  log_multiline:\n    \
         enabled: false\n    pattern: '^\\['\n    timeout: 250ms\n    max_lines: 20\n  \
         log_redaction:\n    enabled: true\n    patterns: 'password, pin ,sk_live_\\w+'\n    \
         placeholder: '[x]'\n{WEB}"
    );
    let config = config(&yaml);
    let global = &config.global;

    assert_eq!(global.log_overflow, LogOverflow::Drop);
    assert!(!global.log_multiline.enabled);
    let pattern = global
        .log_multiline
        .start_pattern
        .as_ref()
        .map(Regex::as_str);
    assert_eq!(pattern, Some("^\\["));
    assert_eq!(global.log_multiline.timeout, Duration::from_millis(250));
    assert_eq!(global.log_multiline.max_lines, 20);
    assert_eq!(
        keys(&global.log_redaction.patterns),
        ["key password", "key pin", "regex sk_live_\\w+ None"]
    );
    assert_eq!(global.log_redaction.placeholder, "[x]");

    let logging = &config.processes[0].logging;
    assert_eq!(logging.format, LogFormat::Text);
    assert!(!logging.multiline.enabled);
    assert_eq!(logging.redaction.placeholder, "[x]");
}

#[test]
fn process_logging_keys_are_read() {
    let yaml = "processes:\n  web:\n    command: [nginx]\n    logging:\n      format: text\n      \
                min_level: warning\n      multiline: {enabled: false}\n      \
                redaction: {enabled: false}\n      level_detection:\n        enabled: true\n        \
                default_level: debug\n        patterns:\n          warn: '^W '\n          \
                critical: '^C '\n      json: {enabled: false}\n      filters:\n        \
                include: ['GET ']\n        exclude: ['/health', '/ping']\n";
    let logging = config(yaml).processes.remove(0).logging;

    assert_eq!(logging.format, LogFormat::Text);
    assert_eq!(logging.min_level, LineLevel::Warn);
    assert!(!logging.multiline.enabled);
    assert!(!logging.redaction.enabled);
    assert_eq!(
        logging.level_detection.default_level,
        Some(LineLevel::Debug)
    );
    let levels: Vec<(LineLevel, &str)> = logging
        .level_detection
        .patterns
        .iter()
        .map(|(level, regex)| (*level, regex.as_str()))
        .collect();
    assert_eq!(
        levels,
        [(LineLevel::Fatal, "^C "), (LineLevel::Warn, "^W ")]
    );
    assert!(!logging.json);
    assert_eq!(logging.filters.include.len(), 1);
    assert_eq!(logging.filters.exclude.len(), 2);
}

#[test]
fn process_blocks_inherit_unset_global_keys() {
    let yaml = "global:\n  log_multiline: {timeout: 2s, max_lines: 7}\n  \
                log_redaction: {placeholder: '#', patterns: [pin]}\n\
                processes:\n  web:\n    command: [nginx]\n    logging:\n      \
                multiline: {max_lines: 3}\n      redaction: {patterns: [otp]}\n";
    let logging = config(yaml).processes.remove(0).logging;

    assert_eq!(logging.multiline.timeout, Duration::from_secs(2));
    assert_eq!(logging.multiline.max_lines, 3);
    assert_eq!(logging.redaction.placeholder, "#");
    assert_eq!(keys(&logging.redaction.patterns), ["key otp"]);
}

#[test]
fn go_redaction_pattern_mappings_are_read() {
    let yaml = "processes:\n  web:\n    command: [nginx]\n    logging:\n      redaction:\n        \
                enabled: true\n        patterns:\n          - name: stripe\n            \
                pattern: 'sk_live_\\w+'\n            replacement: '***'\n          - token\n";
    let logging = config(yaml).processes.remove(0).logging;

    assert_eq!(
        keys(&logging.redaction.patterns),
        ["regex sk_live_\\w+ Some(\"***\")", "key token"]
    );
}

#[test]
fn invalid_regexes_name_key_line_and_column() {
    let yaml = "global:\n  log_multiline:\n    pattern: '(unclosed'\n\
                processes:\n  web:\n    command: [nginx]\n    logging:\n      filters:\n        \
                exclude: ['ok', '[z-a]']\n      level_detection:\n        patterns: {error: '*'}\n";
    let errors = errors(yaml);

    let found: Vec<(&str, Option<usize>, Option<usize>)> = errors
        .iter()
        .map(|error| (error.path.as_str(), error.line, error.column))
        .collect();
    assert_eq!(
        found,
        [
            ("global.log_multiline.pattern", Some(3), Some(14)),
            (
                "processes.web.logging.filters.exclude[1]",
                Some(9),
                Some(25)
            ),
            (
                "processes.web.logging.level_detection.patterns.error",
                Some(11),
                Some(27)
            ),
        ]
    );
    assert!(errors[0]
        .message
        .starts_with("invalid regular expression `(unclosed`: "));
    assert!(!errors[0].message.contains('\n'), "{}", errors[0].message);
}

#[test]
fn guide_multiline_pattern_compiles_with_literal_brace() {
    let yaml = format!("global:\n  log_multiline:\n    pattern: '^\\[|^\\d{{4}}-|^{{\"'\n{WEB}");
    let config = config(&yaml);

    let pattern = config
        .global
        .log_multiline
        .start_pattern
        .as_ref()
        .expect("pattern");
    for line in ["[2026-12-04] x", "2026-12-04 x", "{\"level\":\"info\"}"] {
        assert!(pattern.is_match(line), "{line:?}");
    }
    for line in ["#0 /app/x.php(1)", "  at Foo", "202-12-04"] {
        assert!(!pattern.is_match(line), "{line:?}");
    }
}

#[test]
fn braces_outside_repetitions_become_literals() {
    let cases = [
        ("^{\"", "^\\{\""),
        ("a{2}", "a{2}"),
        ("a{2,}b{2,5}", "a{2,}b{2,5}"),
        ("x{", "x\\{"),
        ("x{a}", "x\\{a}"),
        ("x{2", "x\\{2"),
        ("[{]", "[{]"),
        ("[]{]{", "[]{]\\{"),
        ("\\{", "\\{"),
        ("é{", "é\\{"),
    ];
    for (pattern, expected) in cases {
        assert_eq!(literal_braces(pattern), expected, "{pattern}");
    }
}

#[test]
fn invalid_regex_in_redaction_list_is_an_error() {
    let yaml = format!("global:\n  log_redaction: {{patterns: ['a(b']}}\n{WEB}");
    let error = only_error(&yaml);

    assert_eq!(error.path, "global.log_redaction.patterns[0]");
    assert_eq!(position(&error), (Some(2), Some(30)));
}

#[test]
fn invalid_choices_are_errors() {
    let yaml = "global:\n  log_overflow: discard\nprocesses:\n  web:\n    command: [nginx]\n    \
                logging:\n      min_level: loud\n      format: xml\n      \
                level_detection: {patterns: {severe: x}}\n";
    let errors = errors(yaml);

    let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "global.log_overflow",
            "processes.web.logging.min_level",
            "processes.web.logging.format",
            "processes.web.logging.level_detection.patterns.severe",
        ]
    );
    assert_eq!(errors[0].message, "invalid log overflow mode `discard`");
    assert_eq!(errors[0].hint.as_deref(), Some("use one of: block, drop"));
}

#[test]
fn zero_max_lines_and_timeout_are_errors() {
    let yaml = format!("global:\n  log_multiline: {{max_lines: 0, timeout: 0}}\n{WEB}");
    let paths: Vec<String> = errors(&yaml).into_iter().map(|error| error.path).collect();

    assert_eq!(
        paths,
        [
            "global.log_multiline.max_lines",
            "global.log_multiline.timeout"
        ]
    );
}

#[test]
fn go_logging_keys_load_with_warnings() {
    let yaml = "processes:\n  web:\n    command: [nginx]\n    logging:\n      stdout: true\n      \
                labels: {team: web}\n      json: {enabled: true, detect_auto: true, \
                merge_fields: true}\n      multiline: {enabled: true, pattern: '^\\[', \
                max_lines: 100, timeout: 1}\n";
    let loaded = loaded(yaml);

    let paths: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "processes.web.logging.stdout",
            "processes.web.logging.labels",
            "processes.web.logging.json.detect_auto",
            "processes.web.logging.json.merge_fields",
        ]
    );
    let multiline = &loaded.config.processes[0].logging.multiline;
    assert_eq!(multiline.timeout, Duration::from_secs(1));
}

#[test]
fn unknown_logging_key_suggests_known_one() {
    let yaml = "processes:\n  web:\n    command: [nginx]\n    logging:\n      filter: {}\n";
    let error = only_error(yaml);

    assert_eq!(error.path, "processes.web.logging.filter");
    assert_eq!(error.hint.as_deref(), Some("did you mean `filters`?"));
}

#[test]
fn key_names_are_told_from_regexes() {
    for key in ["password", "api_key", "x-auth", "db.pass"] {
        assert!(is_key_name(key), "{key}");
    }
    for regex in ["sk_live_\\w+", "a|b", "pin=\\d+", ""] {
        assert!(!is_key_name(regex), "{regex}");
    }
}
