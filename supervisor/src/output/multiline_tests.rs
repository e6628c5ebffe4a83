use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::*;
use crate::output::level::detect_builtin;

/// Feeds `lines` to an assembler with `settings` and returns the records.
fn assemble(settings: &Multiline, lines: &[&str]) -> Vec<String> {
    let mut assembler = Assembler::new(settings, 65536);
    let mut records = Vec::new();
    let now = Instant::now();
    for line in lines {
        if assembler.join(line) {
            if assembler.is_full() {
                assembler.flush(|joined| records.push(joined.text.to_owned()));
            }
            continue;
        }
        assembler.flush(|joined| records.push(joined.text.to_owned()));
        assembler.start(line, SystemTime::now(), now, detect_builtin(line));
    }
    assembler.flush(|joined| records.push(joined.text.to_owned()));
    records
}

fn builtin() -> Multiline {
    Multiline::default()
}

const PHP_CLI_TRACE: &[&str] = &[
    "PHP Fatal error:  Uncaught RuntimeException: boom in /app/src/Job.php:14",
    "Stack trace:",
    "#0 /app/src/Worker.php(31): App\\Job->handle()",
    "#1 /app/bin/worker(8): App\\Worker->run()",
    "#2 {main}",
    "  thrown in /app/src/Job.php on line 14",
];

const PHP_CHAINED_TRACE: &[&str] = &[
    "PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /app/Db.php:9",
    "Stack trace:",
    "#0 /app/Db.php(9): PDO->__construct('mysql:host=db', 'app', Object(SensitiveParameterValue))",
    "#1 {main}",
    "",
    "Next RuntimeException: database unavailable in /app/Db.php:11",
    "Stack trace:",
    "#0 {main}",
    "  thrown in /app/Db.php on line 11",
];

const XDEBUG_TRACE: &[&str] = &[
    "PHP Warning:  Undefined variable $x in /app/index.php on line 3",
    "PHP Stack trace:",
    "PHP   1. {main}() /app/index.php:0",
    "PHP   2. render() /app/index.php:12",
];

const LARAVEL_LOG_TRACE: &[&str] = &[
    "[2026-12-04 10:00:00] production.ERROR: Division by zero {\"exception\":\"[object] (DivisionByZeroError(code: 0): Division by zero at /app/app/Http/Controllers/HomeController.php:12)",
    "[stacktrace]",
    "#0 /app/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\Http\\Controllers\\HomeController->index()",
    "#1 /app/vendor/laravel/framework/src/Illuminate/Routing/ControllerDispatcher.php(43): Illuminate\\Routing\\Controller->callAction()",
    "#2 {main}",
    "\"} ",
];

const SPEC_TRACE: &[&str] = &[
    "[ERROR] Exception in Controller",
    "    at App\\Http\\Controllers\\UserController->store()",
    "    at Illuminate\\Routing\\Controller->callAction()",
    "    at Illuminate\\Routing\\ControllerDispatcher->dispatch()",
];

#[test]
fn php_cli_trace_is_one_record() {
    let records = assemble(&builtin(), PHP_CLI_TRACE);

    assert_eq!(records, [PHP_CLI_TRACE.join("\n")]);
}

#[test]
fn chained_exceptions_are_one_record_across_blank_line() {
    let records = assemble(&builtin(), PHP_CHAINED_TRACE);

    assert_eq!(records, [PHP_CHAINED_TRACE.join("\n")]);
}

#[test]
fn blank_line_after_trace_is_its_own_record() {
    let lines = ["Exception: x", "#0 {main}", "", "next line"];

    assert_eq!(
        assemble(&builtin(), &lines),
        ["Exception: x\n#0 {main}", "", "next line"]
    );
}

#[test]
fn second_blank_line_ends_trace() {
    let lines = ["Exception: x", "", "", "#0 {main}"];

    assert_eq!(
        assemble(&builtin(), &lines),
        ["Exception: x", "", "", "#0 {main}"]
    );
}

#[test]
fn blank_line_after_plain_record_is_not_held() {
    assert_eq!(assemble(&builtin(), &["ok", "", "ok"]), ["ok", "", "ok"]);
}

#[test]
fn xdebug_trace_is_one_record() {
    let records = assemble(&builtin(), XDEBUG_TRACE);

    assert_eq!(records, [XDEBUG_TRACE.join("\n")]);
}

#[test]
fn laravel_log_trace_is_one_record() {
    let records = assemble(&builtin(), LARAVEL_LOG_TRACE);

    assert_eq!(records, [LARAVEL_LOG_TRACE.join("\n")]);
}

#[test]
fn indented_at_lines_join_an_error() {
    let records = assemble(&builtin(), SPEC_TRACE);

    assert_eq!(records, [SPEC_TRACE.join("\n")]);
}

#[test]
fn collision_output_joins_indented_lines() {
    let lines = [
        "   Illuminate\\Database\\QueryException ",
        "  SQLSTATE[HY000] [2002] Connection refused (Connection: mysql, SQL: select 1)",
        "  at vendor/laravel/framework/src/Illuminate/Database/Connection.php:829",
        "    825▕                     $this->getName(), $query, $e",
    ];

    assert_eq!(assemble(&builtin(), &lines), [lines.join("\n")]);
}

#[test]
fn indented_console_levels_stay_separate() {
    let lines = [
        "   ERROR  Command \"foo\" is not defined.",
        "   WARN  The [public/storage] link already exists.",
        "   INFO  Running migrations.",
    ];

    assert_eq!(assemble(&builtin(), &lines), lines);
}

#[test]
fn queue_worker_progress_lines_stay_separate() {
    let lines = [
        "  2026-12-04 10:00:00 App\\Jobs\\SendMail ........ RUNNING",
        "  2026-12-04 10:00:01 App\\Jobs\\SendMail ........ 12.5ms DONE",
        "  2026-12-04 10:00:01 App\\Jobs\\Resize ........ RUNNING",
    ];

    assert_eq!(assemble(&builtin(), &lines), lines);
}

#[test]
fn plain_lines_stay_separate() {
    let lines = [
        "one",
        "two",
        "",
        "#hashtag",
        "at noon",
        "Next week",
        "thrown away",
        "",
    ];

    assert_eq!(assemble(&builtin(), &lines), lines);
}

#[test]
fn max_lines_splits_endless_trace() {
    let settings = Multiline {
        max_lines: 3,
        ..builtin()
    };
    let mut lines = vec!["PHP Fatal error:  Uncaught Exception: loop"];
    let frames: Vec<String> = (0..7)
        .map(|n| format!("#{n} /app/loop.php(3): f()"))
        .collect();
    lines.extend(frames.iter().map(String::as_str));

    let records = assemble(&settings, &lines);

    let counts: Vec<usize> = records
        .iter()
        .map(|record| record.lines().count())
        .collect();
    assert_eq!(counts, [3, 3, 2]);
    assert_eq!(records.join("\n"), lines.join("\n"));
}

#[test]
fn max_lines_of_one_joins_nothing() {
    let settings = Multiline {
        max_lines: 1,
        ..builtin()
    };

    assert_eq!(assemble(&settings, PHP_CLI_TRACE), PHP_CLI_TRACE);
}

#[test]
fn record_never_exceeds_byte_cap() {
    let mut assembler = Assembler::new(&builtin(), 20);
    let now = Instant::now();
    assembler.start("Exception: x", SystemTime::now(), now, None);

    assert!(assembler.join("#0 a"));
    assert!(!assembler.join("#1 this frame does not fit"));
}

#[test]
fn start_pattern_decides_instead_of_rules() {
    let settings = Multiline {
        start_pattern: Some(Regex::new(r"^\[\d{4}-").expect("valid pattern")),
        ..builtin()
    };
    let lines = [
        "[2026-12-04 10:00:00] local.ERROR: boom",
        "not indented but no timestamp",
        "#0 frame",
        "[2026-12-04 10:00:01] local.INFO: next",
    ];

    let records = assemble(&settings, &lines);

    assert_eq!(records, [lines[..3].join("\n"), lines[3].to_owned()]);
}

#[test]
fn spec_start_pattern_example_compiles() {
    // The pattern from the PHPEEK_PM_LOG_MULTILINE_PATTERN example, with
    // the `{` escaped as the regex crate requires.
    let settings = Multiline {
        start_pattern: Some(Regex::new(r#"^\[|^\d{4}-|^\{""#).expect("valid pattern")),
        ..builtin()
    };
    let lines = ["{\"a\":1}", "  more", "2026-12-04 x", "[x] y", "tail"];

    let records = assemble(&settings, &lines);

    assert_eq!(
        records,
        ["{\"a\":1}\n  more", "2026-12-04 x", "[x] y\ntail"]
    );
}

#[test]
fn deadline_is_timeout_after_first_line() {
    let mut assembler = Assembler::new(&builtin(), 65536);
    let start = Instant::now();
    assert_eq!(assembler.deadline(), None);

    assembler.start("Exception: x", SystemTime::now(), start, None);
    assert!(assembler.join("#0 frame"));

    assert_eq!(
        assembler.deadline(),
        Some(start + Duration::from_millis(500))
    );
    let mut flushed = Vec::new();
    assembler.flush(|joined| flushed.push((joined.text.to_owned(), joined.level)));
    assert_eq!(flushed, [("Exception: x\n#0 frame".to_owned(), None)]);
    assert_eq!(assembler.deadline(), None);
}

#[test]
fn joined_record_keeps_first_line_level_and_time() {
    let mut assembler = Assembler::new(&builtin(), 65536);
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(7);
    assembler.start("[error] x", time, Instant::now(), Some(LineLevel::Error));
    assert!(assembler.join("  detail"));

    let mut flushed = None;
    assembler.flush(|joined| flushed = Some((joined.time, joined.level)));

    assert_eq!(flushed, Some((time, Some(LineLevel::Error))));
}
