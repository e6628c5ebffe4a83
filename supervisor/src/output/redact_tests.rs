use regex::Regex;

use super::*;
use crate::output::testing::{MUST_KEEP, MUST_REDACT};

fn redactor() -> Redactor {
    Redactor::new(&Redaction::default())
}

#[test]
fn every_must_redact_sample_loses_its_secret() {
    let redactor = redactor();
    for (line, secret) in MUST_REDACT {
        let redacted = redactor.redact(line);

        assert!(!redacted.contains(secret), "{line:?} became {redacted:?}");
        assert!(
            redacted.contains("***REDACTED***"),
            "{line:?} became {redacted:?}"
        );
    }
}

#[test]
fn every_must_keep_sample_is_unchanged() {
    let redactor = redactor();
    for line in MUST_KEEP {
        let redacted = redactor.redact(line);

        assert!(
            matches!(redacted, Cow::Borrowed(_)),
            "{line:?} became {redacted:?}"
        );
    }
}

#[test]
fn spec_example_comes_out_as_in_spec() {
    let before = r#"{"password":"secret123","api_key":"sk_live_abc"}"#;

    let after = redactor().redact(before);

    assert_eq!(
        after,
        r#"{"password":"***REDACTED***","api_key":"***REDACTED***"}"#
    );
}

#[test]
fn redaction_keeps_structure_around_secrets() {
    let redactor = redactor();
    let cases = [
        ("password=a user=b", "password=***REDACTED*** user=b"),
        (
            "Authorization: Bearer xyz",
            "Authorization: Bearer ***REDACTED***",
        ),
        ("mysql://app:pw@db/app", "mysql://app:***REDACTED***@db/app"),
        (
            "'password' => 'x', 'user' => 'y'",
            "'password' => '***REDACTED***', 'user' => 'y'",
        ),
        ("card 4111 1111 1111 1111.", "card ***REDACTED***."),
        (
            "token=a;token=b",
            "token=***REDACTED***;token=***REDACTED***",
        ),
        ("pwd=\"a\\\"b\" next", "pwd=\"***REDACTED***\" next"),
        (
            "mysql --password s3 --user app",
            "mysql --password ***REDACTED*** --user app",
        ),
        ("cmd --token 'a b' x", "cmd --token '***REDACTED***' x"),
        (
            "could not start `app --password=hunter2`: not found",
            "could not start `app --password=***REDACTED***`: not found",
        ),
        (
            r#"C29 {"auth":{"user":"bob","pass":"hunter2"}}"#,
            r#"C29 {"auth":{"user":"bob","pass":"***REDACTED***"}}"#,
        ),
        ("password=[hunter2] x", "password=***REDACTED***] x"),
    ];
    for (line, expected) in cases {
        assert_eq!(redactor.redact(line), expected, "{line:?}");
    }
}

#[test]
fn placeholder_is_configurable() {
    let redactor = Redactor::new(&Redaction {
        placeholder: "[hidden]".to_owned(),
        ..Redaction::default()
    });

    assert_eq!(redactor.redact("token=abc"), "token=[hidden]");
    assert_eq!(redactor.placeholder(), "[hidden]");
}

#[test]
fn disabled_redactor_changes_nothing() {
    let redactor = Redactor::disabled();

    assert_eq!(redactor.redact("password=hunter2"), "password=hunter2");
    assert!(!redactor.is_secret_key("password"));
}

#[test]
fn configured_keys_and_regexes_apply() {
    let redactor = Redactor::new(&Redaction {
        patterns: vec![
            RedactionPattern::Key("pin".to_owned()),
            RedactionPattern::Regex {
                regex: Regex::new(r"sk_live_[A-Za-z0-9]+").expect("valid"),
                replacement: None,
            },
            RedactionPattern::Regex {
                regex: Regex::new(r"ssn (\d{3}-\d{2}-\d{4})").expect("valid"),
                replacement: Some("XXX".to_owned()),
            },
        ],
        ..Redaction::default()
    });

    assert_eq!(redactor.redact("pin=1234"), "pin=***REDACTED***");
    assert_eq!(
        redactor.redact("key sk_live_abc1 used"),
        "key ***REDACTED*** used"
    );
    assert_eq!(redactor.redact("ssn 123-45-6789 ok"), "ssn XXX ok");
    assert_eq!(redactor.redact("pinned=1"), "pinned=1");
}

#[test]
fn secret_keys_are_recognized_by_name() {
    let redactor = redactor();
    for key in [
        "password",
        "DB_PASSWORD",
        "password_confirmation",
        "X-Auth-Token",
        "api_key",
    ] {
        assert!(redactor.is_secret_key(key), "{key}");
    }
    for key in ["tokenizer", "author", "passwords", "user", "url", "oauth"] {
        assert!(!redactor.is_secret_key(key), "{key}");
    }
}

#[test]
fn overlapping_secrets_are_replaced_once() {
    let line = "token=mysql://u:4111111111111111@h";

    assert_eq!(redactor().redact(line), "token=***REDACTED***");
}

#[test]
fn odd_input_does_not_panic() {
    let redactor = redactor();
    let cases = [
        "password=",
        "password",
        "token:",
        "token: \"",
        "token=\"unterminated",
        "://",
        "a://",
        "x://@",
        "x://:@",
        "auth:\\\"",
        "€password=€",
        "password=\u{0}",
        "4",
        "4111 ",
        "4111 1111 1111 1111 1111 1111",
        "password=\"\\",
        "[password]",
    ];
    for line in cases {
        let _ = redactor.redact(line);
    }
    assert_eq!(
        redactor.redact("€password=€x y"),
        "€password=***REDACTED*** y"
    );
}

#[test]
fn separators_inside_a_value_are_not_searched_again() {
    let redactor = redactor();
    let lines = [
        "token=".repeat(2000),
        "password:".repeat(2000),
        format!("token=\"{}", "password:".repeat(2000)),
        format!("GET /?{} HTTP/1.1", "api_key=token=".repeat(1000)),
    ];
    for line in &lines {
        let spans = redactor.spans(line);

        assert_eq!(spans.len(), 1, "{} spans in {:?}", spans.len(), &line[..40]);
        assert!(!redactor.redact(line).contains("token=token"));
    }
}
