use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::config::{LineFilters, LogFormat, ProcessLogging};
use crate::output::testing::{MUST_KEEP, MUST_REDACT};

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_705_314_645_123)
}

/// Settings with every step that changes text switched off, so each line
/// is one record with its text unchanged.
fn plain(format: LogFormat) -> ProcessLogging {
    let mut logging = ProcessLogging {
        format,
        json: false,
        ..ProcessLogging::default()
    };
    logging.multiline.enabled = false;
    logging.redaction.enabled = false;
    logging.level_detection.enabled = false;
    logging
}

/// Runs `input` through `logging` with a line cap of `max`.
fn run(
    logging: &ProcessLogging,
    max: usize,
    source: &Source,
    stream: Stream,
    input: &[u8],
) -> String {
    let pipeline = Arc::new(Pipeline::new(logging));
    let mut records = ChildRecords::new(pipeline, max, source, stream);
    let mut out = Vec::new();
    records.push(input, time(), Instant::now(), &mut out);
    records.finish(time(), &mut out);
    String::from_utf8(out).expect("records are UTF-8")
}

fn records(format: LogFormat, source: &Source, stream: Stream, input: &[u8]) -> String {
    run(&plain(format), 8, source, stream, input)
}

/// Runs `input` through the default pipeline in `format` on stdout.
fn full(format: LogFormat, input: &str) -> String {
    let logging = ProcessLogging {
        format,
        ..ProcessLogging::default()
    };
    run(
        &logging,
        65536,
        &Source::new("app", "app-0"),
        Stream::Stdout,
        input.as_bytes(),
    )
}

fn parse_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{line:?}: {error}")))
        .collect()
}

#[test]
fn json_record_has_all_fields() {
    let source = Source::new("nginx", "nginx-0");

    let output = records(LogFormat::Json, &source, Stream::Stdout, b"ready\n");

    let expected = json!({
        "time": "2024-01-15T10:30:45.123Z",
        "level": "INFO",
        "msg": "ready",
        "process": "nginx",
        "instance_id": "nginx-0",
        "stream": "stdout",
    });
    assert_eq!(parse_lines(&output), vec![expected]);
}

#[test]
fn json_keys_come_in_fixed_order() {
    let source = Source::new("nginx", "nginx-0");

    let output = records(LogFormat::Json, &source, Stream::Stdout, b"ready\n");

    assert!(output.starts_with(r#"{"time":"2024-01-15T10:30:45.123Z","level":"INFO","#));
    assert!(output.ends_with("\"instance_id\":\"nginx-0\",\"stream\":\"stdout\"}\n"));
}

#[test]
fn json_stderr_is_warn_with_extra_fields() {
    let source = Source::new("setup", "setup").with_field("hook", "pre-start");

    let output = records(LogFormat::Json, &source, Stream::Stderr, b"oops\n");

    let record = &parse_lines(&output)[0];
    assert_eq!(record["level"], "WARN");
    assert_eq!(record["stream"], "stderr");
    assert_eq!(record["hook"], "pre-start");
}

#[test]
fn json_cut_line_is_marked_truncated() {
    let source = Source::new("php", "php-0");

    let output = records(LogFormat::Json, &source, Stream::Stdout, b"0123456789\n");

    let parsed = parse_lines(&output);
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0]["msg"], "01234567");
    assert_eq!(parsed[0]["truncated"], true);
    assert_eq!(parsed[0]["part"], 1);
    assert_eq!(parsed[1]["msg"], "89");
    assert_eq!(parsed[1]["part"], 2);
}

#[test]
fn json_escapes_source_names() {
    let source = Source::new("we\"ird", "we\"ird-0");

    let output = records(LogFormat::Json, &source, Stream::Stdout, b"x\n");

    assert_eq!(parse_lines(&output)[0]["instance_id"], "we\"ird-0");
}

#[test]
fn text_record_shape() {
    let source = Source::new("nginx", "nginx-0");

    let output = records(LogFormat::Text, &source, Stream::Stdout, b"ready\n");

    assert_eq!(output, "2024-01-15T10:30:45.123Z INFO  [nginx-0] ready\n");
}

#[test]
fn text_record_names_stderr_and_fields() {
    let source = Source::new("setup", "setup-0").with_field("hook", "pre start");

    let output = records(LogFormat::Text, &source, Stream::Stderr, b"a\tb\n");

    assert_eq!(
        output,
        "2024-01-15T10:30:45.123Z WARN  [setup-0 stderr] a\\tb hook=\"pre start\"\n"
    );
}

#[test]
fn text_cut_line_is_marked_truncated() {
    let source = Source::new("php", "php-0");

    let output = records(LogFormat::Text, &source, Stream::Stdout, b"0123456789");

    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].ends_with("] 01234567 truncated=true part=1"));
    assert!(lines[1].ends_with("] 89 truncated=true part=2"));
}

proptest! {
    #[test]
    fn json_records_rebuild_any_input(
        input in proptest::collection::vec(any::<u8>(), 0..400),
        mut cuts in proptest::collection::vec(0usize..400, 0..10),
        max in 4usize..40,
    ) {
        cuts.sort_unstable();
        let source = Source::new("fuzz", "fuzz-0");
        let pipeline = Arc::new(Pipeline::new(&plain(LogFormat::Json)));
        let mut records = ChildRecords::new(pipeline, max, &source, Stream::Stdout);
        let mut out = Vec::new();
        let mut start = 0;
        for cut in cuts {
            let end = cut.clamp(start, input.len());
            records.push(&input[start..end], time(), Instant::now(), &mut out);
            start = end;
        }
        records.push(&input[start..], time(), Instant::now(), &mut out);
        records.finish(time(), &mut out);

        let output = String::from_utf8(out)
            .map_err(|error| TestCaseError::fail(format!("output is not UTF-8: {error}")))?;
        let mut pieces = Vec::new();
        for line in output.lines() {
            let record: Value = serde_json::from_str(line)
                .map_err(|error| TestCaseError::fail(format!("{line:?}: {error}")))?;
            let msg = record["msg"].as_str().unwrap_or_default().to_owned();
            pieces.push((msg, record["part"].as_u64()));
        }

        // A part is continued by the next record when that one has the
        // next part number. Every other record ends a line.
        let mut text = String::new();
        for (index, (msg, part)) in pieces.iter().enumerate() {
            text.push_str(msg);
            let next_part = pieces.get(index + 1).and_then(|(_, part)| *part);
            let continues = part.is_some_and(|part| next_part == Some(part + 1));
            if !continues {
                text.push('\n');
            }
        }

        let expected = String::from_utf8_lossy(&input).replace("\r\n", "\n");
        let expected = if expected.ends_with('\n') || expected.is_empty() {
            expected
        } else {
            expected + "\n"
        };
        prop_assert_eq!(text, expected);
    }
}

fn msgs(output: &str) -> Vec<String> {
    parse_lines(output)
        .iter()
        .map(|record| record["msg"].as_str().unwrap_or("<missing>").to_owned())
        .collect()
}

const PHP_TRACE: &str = "PHP Fatal error:  Uncaught RuntimeException: boom in /app/src/Job.php:14
Stack trace:
#0 /app/src/Worker.php(31): App\\Job->handle()
#1 {main}
  thrown in /app/src/Job.php on line 14
";

const LARAVEL_TRACE: &str = "[2026-12-04 10:00:00] production.ERROR: Division by zero {\"exception\":\"[object] (DivisionByZeroError(code: 0): Division by zero at /app/app/Http/Controllers/HomeController.php:12)
[stacktrace]
#0 /app/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\Http\\Controllers\\HomeController->index()
#1 {main}
\"} 
";

#[test]
fn php_and_laravel_traces_are_one_record_each() {
    let input = format!("before\n{PHP_TRACE}{LARAVEL_TRACE}after\n");

    let output = full(LogFormat::Json, &input);

    let records = parse_lines(&output);
    assert_eq!(records.len(), 4, "{output}");
    assert_eq!(records[0]["msg"], "before");
    assert_eq!(records[1]["msg"], PHP_TRACE.trim_end_matches('\n'));
    assert_eq!(records[1]["level"], "FATAL");
    assert_eq!(records[2]["msg"], LARAVEL_TRACE.trim_end_matches('\n'));
    assert_eq!(records[2]["level"], "ERROR");
    assert_eq!(records[3]["msg"], "after");
}

#[test]
fn joined_record_is_one_text_line() {
    let output = full(LogFormat::Text, PHP_TRACE);

    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(output.contains("FATAL [app-0] PHP Fatal error:  Uncaught RuntimeException"));
    assert!(output.contains("\\nStack trace:\\n#0 "), "{output}");
}

#[test]
fn pending_record_waits_until_its_deadline() {
    let pipeline = Arc::new(Pipeline::new(&ProcessLogging::default()));
    let source = Source::new("app", "app-0");
    let mut records = ChildRecords::new(pipeline, 65536, &source, Stream::Stderr);
    let start = Instant::now();
    let mut out = Vec::new();

    records.push(
        b"Exception: half\n#0 /app/a.php(1): f()\n",
        time(),
        start,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(records.deadline(), Some(start + Duration::from_millis(500)));

    records.flush_due(start + Duration::from_millis(499), &mut out);
    assert!(out.is_empty());
    records.flush_due(start + Duration::from_millis(500), &mut out);
    let output = String::from_utf8(out).expect("UTF-8");
    assert_eq!(msgs(&output), ["Exception: half\n#0 /app/a.php(1): f()"]);
    assert_eq!(records.deadline(), None);
}

#[test]
fn pending_record_is_flushed_at_end_of_file() {
    let output = full(LogFormat::Json, "Exception: x\n#0 {main}");

    assert_eq!(msgs(&output), ["Exception: x\n#0 {main}"]);
}

#[test]
fn cut_line_is_never_joined_and_parts_share_level() {
    let logging = ProcessLogging::default();
    let source = Source::new("app", "app-0");
    let input = b"[error] 0123456789\n#0 frame\n";

    let output = run(&logging, 12, &source, Stream::Stdout, input);

    let records = parse_lines(&output);
    let summary: Vec<(&str, &str, Option<u64>)> = records
        .iter()
        .map(|r| {
            (
                r["msg"].as_str().unwrap_or(""),
                r["level"].as_str().unwrap_or(""),
                r["part"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("[error] 0123", "ERROR", Some(1)),
            ("456789", "ERROR", Some(2)),
            ("#0 frame", "INFO", None),
        ]
    );
}

/// Runs `line` through the default pipeline with a line cap of `max` and
/// returns the messages of its records.
fn cut_messages(line: &str, max: usize) -> Vec<String> {
    let output = run(
        &ProcessLogging::default(),
        max,
        &Source::new("app", "app-0"),
        Stream::Stdout,
        format!("{line}\n").as_bytes(),
    );
    parse_lines(&output)
        .iter()
        .map(|record| record["msg"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn secret_split_by_cut_is_redacted() {
    // Each line is cut by a cap of `max` bytes somewhere inside the secret
    // or its key, and no `leak` may be left in any part.
    let cases: &[(&str, usize, &[&str])] = &[
        ("x password=hunter2 ok", 14, &["hunter2", "hun", "ter2"]),
        ("aaaaaaaaaa password=hunter2 ok", 16, &["hunter2", "ter2"]),
        ("mysql://app:hunter2@db/app", 15, &["hun", "ter2"]),
        (
            r#"{"api_key": "sk_live_abc"}"#,
            12,
            &["sk_live_abc", "sk_l", "ive_abc"],
        ),
        ("mysql --password  hunter2", 17, &["hunter2", "hun"]),
        ("card 4111 1111 1111 1111 ok", 14, &["4111", "1111"]),
        (
            "a token=abcdefghijklmnopqr end",
            10,
            &["abcdef", "ghij", "klmn"],
        ),
    ];
    for (line, max, leaks) in cases {
        let messages = cut_messages(line, *max);

        assert!(messages.len() > 1, "{line:?} was not cut: {messages:?}");
        for message in &messages {
            for leak in *leaks {
                assert!(
                    !message.contains(leak),
                    "{leak:?} of {line:?} left in {messages:?}"
                );
            }
        }
    }
}

#[test]
fn trace_cut_at_max_lines_keeps_its_level() {
    let mut logging = ProcessLogging::default();
    logging.multiline.max_lines = 3;
    let mut input = String::from("PHP Fatal error:  Uncaught Exception: loop\n");
    for frame in 0..7 {
        input.push_str(&format!("#{frame} /app/loop.php(3): f()\n"));
    }
    input.push_str("next message\n");

    let output = run(
        &logging,
        65536,
        &Source::new("app", "app-0"),
        Stream::Stdout,
        input.as_bytes(),
    );

    let levels: Vec<String> = parse_lines(&output)
        .iter()
        .map(|record| record["level"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(levels, ["FATAL", "FATAL", "FATAL", "INFO"], "{output}");
}

#[test]
fn cut_with_no_secret_keeps_every_byte() {
    let line = "aaaaaaaaaa passw ord 4111 1111 and 22";

    let messages = cut_messages(line, 16);

    assert_eq!(messages.concat(), line);
}

#[test]
fn last_part_of_cut_line_is_not_held() {
    let pipeline = Arc::new(Pipeline::new(&ProcessLogging::default()));
    let source = Source::new("app", "app-0");
    let mut records = ChildRecords::new(pipeline, 8, &source, Stream::Stdout);
    let mut out = Vec::new();

    records.push(b"0123456789abcdef-tail\n", time(), Instant::now(), &mut out);

    let output = String::from_utf8(out).expect("records are UTF-8");
    let messages: Vec<Value> = parse_lines(&output);
    assert_eq!(messages.len(), 3, "{output}");
    assert_eq!(messages[2]["msg"], "-tail");
}

#[test]
fn redaction_corpus_in_json_and_text_output() {
    for format in [LogFormat::Json, LogFormat::Text] {
        for (line, secret) in MUST_REDACT {
            let output = full(format, &format!("{line}\n"));

            assert!(
                !output.contains(secret),
                "{format:?}: {line:?} became {output}"
            );
            assert!(output.contains("***REDACTED***"), "{format:?}: {output}");
        }
        for line in MUST_KEEP {
            let mut logging = plain(format);
            logging.json = true;
            let source = Source::new("app", "app-0");
            let without = run(&logging, 65536, &source, Stream::Stdout, line.as_bytes());
            logging.redaction.enabled = true;
            let with = run(&logging, 65536, &source, Stream::Stdout, line.as_bytes());

            assert_eq!(with, without, "{format:?}: {line:?}");
        }
    }
}

#[test]
fn spec_redaction_example_as_text_line() {
    let logging = ProcessLogging {
        json: false,
        ..ProcessLogging::default()
    };
    let before = r#"{"password":"secret123","api_key":"sk_live_abc"}"#;

    let output = run(
        &logging,
        65536,
        &Source::new("a", "a-0"),
        Stream::Stdout,
        before.as_bytes(),
    );

    assert_eq!(
        msgs(&output),
        [r#"{"password":"***REDACTED***","api_key":"***REDACTED***"}"#]
    );
}

#[test]
fn spec_redaction_example_as_json_fields() {
    let output = full(
        LogFormat::Json,
        r#"{"password":"secret123","api_key":"sk_live_abc"}"#,
    );

    let record = &parse_lines(&output)[0];
    assert_eq!(record["password"], "***REDACTED***");
    assert_eq!(record["api_key"], "***REDACTED***");
    assert_eq!(record["msg"], "");
}

#[test]
fn json_line_renders_as_in_spec_text() {
    let line = r#"{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000}"#;

    let output = full(LogFormat::Text, line);

    assert_eq!(
        output,
        "2024-01-15T10:30:45.123Z ERROR [app-0] [query_failed] Query failed \
         (duration: 5000ms, query: SELECT *)\n"
    );
}

#[test]
fn json_line_fields_join_the_json_record() {
    let line =
        r#"{"level":"warn","msg":"Slow query","ms":1200,"time":"child","process":{"pid":7}}"#;

    let output = full(LogFormat::Json, line);

    let expected = json!({
        "time": "2024-01-15T10:30:45.123Z",
        "level": "WARN",
        "msg": "Slow query",
        "process": "app",
        "instance_id": "app-0",
        "stream": "stdout",
        "ms": 1200,
        "field.process": {"pid": 7},
        "field.time": "child",
    });
    assert_eq!(parse_lines(&output), [expected]);
}

#[test]
fn json_parsing_can_be_disabled() {
    let logging = ProcessLogging {
        json: false,
        ..ProcessLogging::default()
    };
    let line = r#"{"level":"error","msg":"x"}"#;

    let output = run(
        &logging,
        65536,
        &Source::new("a", "a-0"),
        Stream::Stdout,
        line.as_bytes(),
    );

    let record = &parse_lines(&output)[0];
    assert_eq!(record["msg"], line);
    assert_eq!(record["level"], "INFO");
}

#[test]
fn filters_drop_and_count_records() {
    let logging = ProcessLogging {
        filters: LineFilters {
            include: vec![],
            exclude: vec![regex::Regex::new(r#""GET /health "#).expect("valid")],
        },
        ..plain(LogFormat::Json)
    };
    let pipeline = Arc::new(Pipeline::new(&logging));
    let source = Source::new("nginx", "nginx-0");
    let mut records = ChildRecords::new(pipeline.clone(), 65536, &source, Stream::Stdout);
    let input =
        "1.2.3.4 - - [x] \"GET /health HTTP/1.1\" 200\n1.2.3.4 - - [x] \"GET / HTTP/1.1\" 200\n\
                 1.2.3.4 - - [x] \"GET /health HTTP/1.1\" 200\n";
    let mut out = Vec::new();
    records.push(input.as_bytes(), time(), Instant::now(), &mut out);
    records.finish(time(), &mut out);

    let output = String::from_utf8(out).expect("UTF-8");
    assert_eq!(msgs(&output), ["1.2.3.4 - - [x] \"GET / HTTP/1.1\" 200"]);
    assert_eq!(pipeline.filtered_records(), 2);
}

#[test]
fn min_level_drops_and_counts_records() {
    let logging = ProcessLogging {
        min_level: LineLevel::Warn,
        ..ProcessLogging::default()
    };
    let pipeline = Arc::new(Pipeline::new(&logging));
    let source = Source::new("app", "app-0");
    let mut records = ChildRecords::new(pipeline.clone(), 65536, &source, Stream::Stdout);
    let input = "[debug] a\nplain b\n[warn] c\n{\"level\":\"error\",\"msg\":\"d\"}\n";
    let mut out = Vec::new();
    records.push(input.as_bytes(), time(), Instant::now(), &mut out);
    records.finish(time(), &mut out);

    let output = String::from_utf8(out).expect("UTF-8");
    assert_eq!(msgs(&output), ["[warn] c", "d"]);
    assert_eq!(pipeline.below_min_level_records(), 2);
}

proptest! {
    #[test]
    fn any_bytes_through_whole_pipeline_give_valid_records(
        input in proptest::collection::vec(
            prop_oneof![
                Just(b'\n'), Just(b' '), Just(b'#'), Just(b'{'), Just(b'}'), Just(b'"'),
                Just(b':'), Just(b'='), Just(b'['), Just(b']'), Just(b'4'), Just(b'1'),
                Just(0xE2), Just(0x80), any::<u8>(),
            ],
            0..600,
        ),
        snippets in proptest::collection::vec(
            prop_oneof![
                Just("password="), Just("mysql://u:p@h"), Just("4111 1111 1111 1111"),
                Just("{\"level\":\"error\",\"msg\":\"x\",\"token\":\"t\"}"), Just("Stack trace:"),
                Just("PHP Fatal error:  "), Just("  at "), Just("[ERROR] "), Just("\n\n"),
            ],
            0..6,
        ),
        mut cuts in proptest::collection::vec(0usize..800, 0..10),
        max in 4usize..64,
        text in any::<bool>(),
    ) {
        let mut input = input;
        for (index, snippet) in snippets.iter().enumerate() {
            let at = (index * 97) % (input.len() + 1);
            input.splice(at..at, snippet.bytes());
        }
        cuts.sort_unstable();
        let format = if text { LogFormat::Text } else { LogFormat::Json };
        let logging = ProcessLogging { format, ..ProcessLogging::default() };
        let pipeline = Arc::new(Pipeline::new(&logging));
        let source = Source::new("fuzz", "fuzz-0");
        let mut records = ChildRecords::new(pipeline, max, &source, Stream::Stderr);
        let mut out = Vec::new();
        let now = Instant::now();
        let mut start = 0;
        for cut in cuts {
            let end = cut.clamp(start, input.len());
            records.push(&input[start..end], time(), now, &mut out);
            records.flush_due(now + Duration::from_secs(1), &mut out);
            start = end;
        }
        records.push(&input[start..], time(), now, &mut out);
        records.finish(time(), &mut out);

        let output = String::from_utf8(out)
            .map_err(|error| TestCaseError::fail(format!("output is not UTF-8: {error}")))?;
        prop_assert!(output.is_empty() || output.ends_with('\n'));
        for line in output.lines() {
            if text {
                prop_assert!(line.starts_with("2024-01-15T10:30:45.123Z "), "{line:?}");
                prop_assert!(!line.contains('\r'));
            } else {
                let record: Value = serde_json::from_str(line)
                    .map_err(|error| TestCaseError::fail(format!("{line:?}: {error}")))?;
                prop_assert!(record.is_object());
                prop_assert!(record["msg"].is_string());
                prop_assert!(record["level"].is_string());
                prop_assert_eq!(&record["process"], "fuzz");
            }
        }
    }
}
