use std::sync::Arc;
use std::time::SystemTime;

use regex::Regex;
use serde_json::Value;
use tokio::time::Instant;

use super::*;
use crate::config::{LogFormat, ProcessLogging};
use crate::output::child::ChildRecords;
use crate::output::{Pipeline, Source, Stream};

/// Runs `line` alone through a pipeline without multiline on stdout and
/// returns the level of its record.
fn record_level(line: &str) -> String {
    let mut logging = ProcessLogging::default();
    logging.multiline.enabled = false;
    let pipeline = Arc::new(Pipeline::new(&logging));
    let source = Source::new("app", "app-0");
    let mut records = ChildRecords::new(pipeline, 65536, &source, Stream::Stdout);
    let mut out = Vec::new();
    records.push(line.as_bytes(), SystemTime::now(), Instant::now(), &mut out);
    records.finish(SystemTime::now(), &mut out);

    let text = String::from_utf8_lossy(&out);
    let record: Value = serde_json::from_str(text.trim_end()).expect("one JSON record");
    record["level"].as_str().unwrap_or_default().to_owned()
}

/// Real lines from PHP, Laravel, Symfony, php-fpm, nginx, MySQL, PostgreSQL
/// and JSON loggers, with the level each must get on stdout.
const REAL_WORLD_LINES: &[(&str, &str)] = &[
    // PHP
    ("PHP Fatal error:  Uncaught Exception: boom in /app/index.php:3", "FATAL"),
    ("PHP Warning:  Undefined variable $user in /app/index.php on line 12", "WARN"),
    ("PHP Notice:  Undefined index: id in /app/a.php on line 4", "INFO"),
    ("PHP Parse error:  syntax error, unexpected token \"}\" in /app/b.php on line 9", "FATAL"),
    ("PHP Deprecated:  strlen(): Passing null to parameter #1 ($string) is deprecated", "WARN"),
    ("PHP Catchable fatal error:  Object of class Foo could not be converted to string", "ERROR"),
    ("Fatal error: Uncaught Error: Call to undefined function foo() in /app/x.php:2", "FATAL"),
    ("Warning: Undefined array key \"name\" in /app/x.php on line 5", "WARN"),
    // Laravel
    ("[2026-12-04 10:00:00] local.ERROR: SQLSTATE[HY000] [2002] Connection refused {\"exception\":\"[object] (PDOException(code: 2002))\"}", "ERROR"),
    ("[2026-12-04 10:00:00] production.WARNING: Slow query detected {\"ms\":1200}", "WARN"),
    ("[2026-12-04 10:00:00] production.INFO: User logged in {\"id\":5}", "INFO"),
    ("[2026-12-04 10:00:00] local.DEBUG: Cache miss", "DEBUG"),
    ("[2026-12-04 10:00:00] production.CRITICAL: Payment gateway unreachable", "FATAL"),
    ("[2026-12-04 10:00:00] production.EMERGENCY: Disk full", "FATAL"),
    ("[2026-12-04 10:00:00] production.NOTICE: Queue backlog growing", "INFO"),
    ("   INFO  Running migrations.", "INFO"),
    ("   ERROR  Command \"foo\" is not defined.", "ERROR"),
    ("   WARN  The [public/storage] link already exists.", "WARN"),
    ("  2026-12-04 10:00:00 App\\Jobs\\SendMail ........ RUNNING", "INFO"),
    ("php artisan: INFO - Cache cleared", "INFO"),
    // Symfony
    ("[2026-12-04T10:00:00.123456+00:00] request.CRITICAL: Uncaught PHP Exception RuntimeException: \"boom\" at /app/src/Controller.php line 20", "FATAL"),
    ("[2026-12-04T10:00:00.123456+00:00] app.ERROR: Order sync failed", "ERROR"),
    ("[2026-12-04T10:00:00.123456+00:00] php.INFO: User Deprecated: Method \"x\" is deprecated", "INFO"),
    (" [ERROR] The \"--foo\" option does not exist.", "ERROR"),
    (" [OK] Cache for the \"prod\" environment was successfully cleared.", "INFO"),
    ("10:00:00 WARNING   [messenger] Error thrown while handling message App\\Message\\Foo.", "WARN"),
    // php-fpm
    ("[04-Dec-2026 10:00:00] NOTICE: fpm is running, pid 1", "INFO"),
    ("[04-Dec-2026 10:00:00] NOTICE: ready to handle connections", "INFO"),
    ("[04-Dec-2026 10:00:00] WARNING: [pool www] child 12 said into stderr: \"PHP Warning:  foo\"", "WARN"),
    ("[04-Dec-2026 10:00:00] WARNING: [pool www] child 12 said into stderr: \"PHP Fatal error:  Uncaught Exception: boom\"", "FATAL"),
    ("[04-Dec-2026 10:00:00] WARNING: [pool www] child 12 said into stderr: \"NOTICE: PHP message: PHP Parse error:  x\"", "FATAL"),
    ("[04-Dec-2026 10:00:00] WARNING: [pool www] child 12 said into stderr: \"app started\"", "WARN"),
    ("[04-Dec-2026 10:00:00] NOTICE: PHP message: PHP Fatal error:  Uncaught RuntimeException: boom in /app/index.php:5", "FATAL"),
    ("NOTICE: PHP message: PHP Warning:  user warning in /app/index.php on line 5", "WARN"),
    ("NOTICE: PHP message: app error via error_log", "INFO"),
    ("[04-Dec-2026 10:00:00] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it", "WARN"),
    ("[04-Dec-2026 10:00:00] ERROR: unable to bind listening socket for address '127.0.0.1:9000': Address already in use (98)", "ERROR"),
    ("[04-Dec-2026 10:00:00] ALERT: oops, unknown child (123) exited with code 1", "FATAL"),
    // nginx
    ("2026/12/04 10:00:00 [error] 12#12: *3 open() \"/var/www/html/favicon.ico\" failed (2: No such file or directory)", "ERROR"),
    ("2026/12/04 10:00:00 [warn] 1#1: the \"user\" directive makes sense only if the master process runs with super-user privileges", "WARN"),
    ("2026/12/04 10:00:00 [notice] 1#1: start worker processes", "INFO"),
    ("2026/12/04 10:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)", "FATAL"),
    ("2026/12/04 10:00:00 [crit] 7#7: *1 connect() to unix:/run/php/php-fpm.sock failed", "FATAL"),
    ("2026/12/04 10:00:00 [alert] 1#1: worker process 8 exited on signal 9", "FATAL"),
    ("2026/12/04 10:00:00 [info] 7#7: *5 client closed connection while waiting for request", "INFO"),
    ("nginx: [emerg] unknown directive \"sever\" in /etc/nginx/conf.d/default.conf:1", "FATAL"),
    ("127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] \"GET /error_log HTTP/1.1\" 404 153 \"-\" \"curl/8.5.0\"", "INFO"),
    // MySQL clients and server
    ("ERROR 2002 (HY000): Can't connect to local MySQL server through socket '/run/mysqld/mysqld.sock' (2)", "ERROR"),
    ("ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.5' (using password: YES)", "ERROR"),
    ("mysql: [Warning] Using a password on the command line interface can be insecure.", "WARN"),
    ("mysqldump: Got error: 1049: Unknown database 'app' when selecting the database", "ERROR"),
    ("2026-12-04T10:00:00.123456Z 0 [Warning] [MY-010068] [Server] CA certificate ca.pem is self signed.", "WARN"),
    ("2026-12-04T10:00:00.123456Z 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections.", "INFO"),
    ("2026-12-04T10:00:00.123456Z 8 [Note] [MY-010914] [Server] Aborted connection 8 to db: 'app'", "INFO"),
    // PostgreSQL, Python, Go, syslog, Redis
    ("2026-12-04 10:00:00.000 UTC [1] LOG:  database system is ready to accept connections", "INFO"),
    ("2026-12-04 10:00:00.000 UTC [57] FATAL:  password authentication failed for user \"app\"", "FATAL"),
    ("ERROR:root:Task failed", "ERROR"),
    ("level=error ts=2026-12-04T10:00:00Z caller=main.go:12 msg=\"scrape failed\"", "ERROR"),
    ("time=\"2026-12-04T10:00:00Z\" level=warning msg=\"retrying\"", "WARN"),
    ("<3>disk check failed", "ERROR"),
    ("1:M 04 Dec 2026 10:00:00.000 * Ready to accept connections", "INFO"),
    // JSON loggers
    ("{\"level\":\"warn\",\"msg\":\"Slow query\"}", "WARN"),
    ("{\"message\":\"Order placed\",\"context\":{\"id\":4},\"level\":200,\"level_name\":\"INFO\",\"channel\":\"app\",\"extra\":{}}", "INFO"),
    ("{\"message\":\"Payment failed\",\"level\":400,\"level_name\":\"ERROR\",\"channel\":\"app\"}", "ERROR"),
    ("{\"level\":50,\"time\":1764842400000,\"pid\":7,\"msg\":\"request failed\"}", "ERROR"),
    ("{\"severity\":\"DEBUG\",\"message\":\"cache warmup\"}", "DEBUG"),
    ("{\"@timestamp\":\"2026-12-04T10:00:00Z\",\"log.level\":\"error\",\"message\":\"boom\"}", "ERROR"),
    ("{\"msg\":\"[ERROR] level found in the message\"}", "ERROR"),
    ("{\"msg\":\"no level here\"}", "INFO"),
    // The spec's examples
    ("[ERROR] Database connection failed", "ERROR"),
    ("2024-11-20 ERROR: Query timeout", "ERROR"),
    // Prose that names a level without stating one
    ("0 errors found", "INFO"),
    ("error_log path is /var/log/php/error.log", "INFO"),
    ("Error handling middleware registered", "INFO"),
    ("Processed 5 jobs, 0 failed, 2 warnings", "INFO"),
    ("Sent ERROR report to admin", "INFO"),
    ("Compiled views cleared successfully.", "INFO"),
];

#[test]
fn real_world_lines_get_their_levels() {
    assert!(REAL_WORLD_LINES.len() >= 40);
    let mut wrong = Vec::new();
    for (line, expected) in REAL_WORLD_LINES {
        let level = record_level(line);
        if level != *expected {
            wrong.push(format!("{expected} expected, got {level}: {line}"));
        }
    }

    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn stderr_lines_without_level_are_warn() {
    let pipeline = Arc::new(Pipeline::new(&ProcessLogging::default()));
    let source = Source::new("app", "app-0");
    let mut records = ChildRecords::new(pipeline, 65536, &source, Stream::Stderr);
    let mut out = Vec::new();
    records.push(
        b"plain\n[info] fine\n",
        SystemTime::now(),
        Instant::now(),
        &mut out,
    );
    records.finish(SystemTime::now(), &mut out);

    let text = String::from_utf8_lossy(&out);
    let levels: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("record")["level"].clone())
        .collect();
    assert_eq!(levels, ["WARN", "INFO"]);
}

#[test]
fn level_words_map_to_one_scale() {
    let cases = [
        ("notice", LineLevel::Info),
        ("NOTE", LineLevel::Info),
        ("Warning", LineLevel::Warn),
        ("caution", LineLevel::Warn),
        ("severe", LineLevel::Error),
        ("crit", LineLevel::Fatal),
        ("ALERT", LineLevel::Fatal),
        ("emergency", LineLevel::Fatal),
        ("panic", LineLevel::Fatal),
        ("trace", LineLevel::Trace),
    ];
    for (word, expected) in cases {
        assert_eq!(word_level(word.as_bytes()), Some(expected), "{word}");
    }
    assert_eq!(word_level(b"errors"), None);
    assert_eq!(word_level(b"informational-ish"), None);
}

#[test]
fn syslog_priority_keeps_low_bits() {
    assert_eq!(detect_builtin("<11>x"), Some(LineLevel::Error));
    assert_eq!(detect_builtin("<14>x"), Some(LineLevel::Info));
    assert_eq!(detect_builtin("<7>x"), Some(LineLevel::Debug));
    assert_eq!(detect_builtin("<1234>x"), None);
}

#[test]
fn level_far_into_line_is_ignored() {
    let line = format!("{} [error] late", "1 ".repeat(20));

    assert_eq!(detect_builtin(&line), None);
}

#[test]
fn odd_input_gives_no_level() {
    for line in [
        "",
        " ",
        "[",
        "[unclosed ERROR",
        "<",
        ":",
        "=",
        "a=",
        "level=",
        "\u{1F600}:",
    ] {
        assert_eq!(detect_builtin(line), None, "{line:?}");
    }
}

#[test]
fn configured_patterns_win_over_builtin_rules() {
    let detector = LevelDetector::new(&LevelDetection {
        enabled: true,
        patterns: vec![
            (LineLevel::Error, Regex::new("^E ").expect("valid")),
            (LineLevel::Debug, Regex::new("cache").expect("valid")),
        ],
        default_level: Some(LineLevel::Debug),
    });

    assert_eq!(detector.detect("E [info] x"), Some(LineLevel::Error));
    assert_eq!(detector.detect("[info] cache hit"), Some(LineLevel::Debug));
    assert_eq!(detector.detect("[warn] other"), Some(LineLevel::Warn));
    assert_eq!(detector.default_level(), Some(LineLevel::Debug));
}

#[test]
fn disabled_detection_finds_nothing() {
    let detector = LevelDetector::new(&LevelDetection {
        enabled: false,
        ..LevelDetection::default()
    });

    assert_eq!(detector.detect("[ERROR] x"), None);
}

#[test]
fn default_level_applies_to_unmatched_lines() {
    let mut logging = ProcessLogging::default();
    logging.level_detection.default_level = Some(LineLevel::Debug);
    logging.format = LogFormat::Json;
    let pipeline = Arc::new(Pipeline::new(&logging));
    let source = Source::new("app", "app-0");
    let mut records = ChildRecords::new(pipeline, 65536, &source, Stream::Stderr);
    let mut out = Vec::new();
    records.push(b"plain\n", SystemTime::now(), Instant::now(), &mut out);
    records.finish(SystemTime::now(), &mut out);

    let record: Value = serde_json::from_slice(&out).expect("record");
    assert_eq!(record["level"], "DEBUG");
}
