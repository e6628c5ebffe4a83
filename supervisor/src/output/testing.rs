//! Helpers shared by the output tests: pipes, outputs written to a file,
//! and parsing what they wrote.

use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use serde_json::Value;
use tempfile::NamedTempFile;

use super::{Output, OutputSettings, OutputTarget};
use crate::config::LogFormat;

/// Creates a pipe that children spawned by other tests don't inherit.
pub(crate) fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("create pipe")
}

/// An output writing to a temporary file, and that file.
pub(crate) struct FileOutput {
    pub(crate) output: Output,
    file: NamedTempFile,
}

impl FileOutput {
    pub(crate) fn start(format: LogFormat, max_line_bytes: usize) -> FileOutput {
        FileOutput::with_settings(OutputSettings {
            format,
            max_line_bytes,
            ..OutputSettings::default()
        })
    }

    /// Starts an output with `settings`, whose target is replaced by the file.
    pub(crate) fn with_settings(settings: OutputSettings) -> FileOutput {
        let file = NamedTempFile::new().expect("create temporary file");
        let target = file.reopen().expect("reopen temporary file");
        let output = Output::start(OutputSettings {
            target: OutputTarget::Fd(target.into()),
            ..settings
        })
        .expect("start output");
        FileOutput { output, file }
    }

    /// Returns what the output has written so far.
    pub(crate) fn written(&self) -> String {
        std::fs::read_to_string(self.file.path()).expect("output is UTF-8")
    }

    /// Shuts the output down and returns everything it wrote.
    pub(crate) async fn finish(self) -> String {
        self.output.shutdown().await;
        std::fs::read_to_string(self.file.path()).expect("output is UTF-8")
    }

    /// Shuts the output down from outside a runtime and returns its text.
    pub(crate) fn finish_blocking(self) -> String {
        self.output.shutdown_blocking();
        std::fs::read_to_string(self.file.path()).expect("output is UTF-8")
    }
}

/// Parses every line of `output` as a JSON object.
pub(crate) fn parse_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{line:?}: {error}"));
            assert!(record.is_object(), "not an object: {line:?}");
            record
        })
        .collect()
}

/// Lines that must lose a secret, each with the secret.
pub(crate) const MUST_REDACT: &[(&str, &str)] = &[
    ("password=hunter2", "hunter2"),
    ("DB_PASSWORD=s3cr3t!x", "s3cr3t!x"),
    ("passwd: letmein42", "letmein42"),
    ("pwd=correcthorse", "correcthorse"),
    ("client_secret=abcd1234efgh", "abcd1234efgh"),
    ("SECRET_KEY_BASE=0123abcdef", "0123abcdef"),
    ("token=tok_9f8e7d", "tok_9f8e7d"),
    ("access_token=ya29.a0AfH6SMBx", "ya29.a0AfH6SMBx"),
    ("api_key=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("apikey: zzz-key-777", "zzz-key-777"),
    ("X-Api-Key: key_live_123", "key_live_123"),
    ("X-Auth-Token: xat_456", "xat_456"),
    ("auth=user_pw_123", "user_pw_123"),
    ("auth: bob_pw_234", "bob_pw_234"),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "eyJhbGciOiJIUzI1NiJ9",
    ),
    ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    (
        "curl -H \"Authorization: Bearer tok_abc_9\" https://api.test",
        "tok_abc_9",
    ),
    (
        "{\"password\":\"secret123\",\"api_key\":\"sk_live_abc\"}",
        "secret123",
    ),
    (
        "{\"password\":\"secret123\",\"api_key\":\"sk_live_abc\"}",
        "sk_live_abc",
    ),
    (
        "context {\"user\":\"bob\",\"token\": \"json_tok_1\"}",
        "json_tok_1",
    ),
    (
        "payload={\\\"token\\\":\\\"escaped_tok_2\\\"}",
        "escaped_tok_2",
    ),
    ("array ( 'password' => 'php_pw_3', )", "php_pw_3"),
    ("mysqldump --password hunter3 app", "hunter3"),
    ("pass=hunter4", "hunter4"),
    (
        "a:2:{s:4:\"user\";s:4:\"root\";s:8:\"password\";s:9:\"hunter2vd\";}",
        "hunter2vd",
    ),
    (
        "O:8:\"stdClass\":1:{s:7:\"api_key\";s:10:\"hunter2obj\";}",
        "hunter2obj",
    ),
    ("DB_PASS=hunter5", "hunter5"),
    ("PGPASSWORD=hunter6", "hunter6"),
    ("APP_KEY=base64:c2VjcmV0a2V5", "c2VjcmV0a2V5"),
    (
        "Cookie: laravel_session=sess_abc123; theme=dark",
        "sess_abc123",
    ),
    ("Cookie: PHPSESSID=phpsess_77", "phpsess_77"),
    ("{\"accessToken\":\"camel_tok_8\"}", "camel_tok_8"),
    ("clientSecret: camel_secret_9", "camel_secret_9"),
    ("cli --db-token \"tok with space\" run", "tok with space"),
    ("restic --password-file=/x --api-key  k3y_9 backup", "k3y_9"),
    ("[password] => print_r_pw_4", "print_r_pw_4"),
    (
        "password:\"quoted secret with spaces\"",
        "quoted secret with spaces",
    ),
    ("--password=cli_secret_8 --user=app", "cli_secret_8"),
    ("GET /callback?token=url_tok_10&page=2", "url_tok_10"),
    ("mysql://app:S3cretPass@db:3306/app", "S3cretPass"),
    ("postgres://user:pg_pass_1@localhost/db", "pg_pass_1"),
    (
        "postgresql://user:pg_pass_2@localhost:5432/db?sslmode=disable",
        "pg_pass_2",
    ),
    ("redis://:redis_pass_3@cache:6379/0", "redis_pass_3"),
    ("rediss://default:redis_pass_4@cache:6380", "redis_pass_4"),
    ("amqp://guest:amqp_pass_5@rabbit:5672/", "amqp_pass_5"),
    (
        "mongodb://root:mongo_pass_6@mongo:27017/admin",
        "mongo_pass_6",
    ),
    (
        "DATABASE_URL=\"mysql://forge:p@ss_7@127.0.0.1/forge\"",
        "p@ss_7",
    ),
    (
        "charged card 4111 1111 1111 1111 today",
        "4111 1111 1111 1111",
    ),
    ("pan=4111-1111-1111-1111", "4111-1111-1111-1111"),
    ("Amex 378282246310005 declined", "378282246310005"),
    ("Mastercard 5555555555554444.", "5555555555554444"),
    ("Discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
];

/// Lines that redaction must leave unchanged.
pub(crate) const MUST_KEEP: &[&str] = &[
    "tokenizer loaded 5 rules",
    "password reset email sent to bob@example.com",
    "auth failed for user bob",
    "passwords must be at least 8 characters",
    "Token expired, please log in again",
    "The secret ingredient is love",
    "pwd is /var/www/html",
    "Using Token::create() for signing",
    "GET /api/tokens/123 200",
    "author: Jane Doe",
    "OAuth handshake ok",
    "Stack trace: #0 /app/Auth/LoginController.php(12): login()",
    "{\"password\":null}",
    "Order 4111111111111112 shipped",
    "Invoice 5555-5555-5555-4445 paid",
    "Timestamp 1764842400000 ms",
    "Elapsed 1764842400123456789 ns",
    "ids 4111 1111 and 22",
    "phone +49 1512 3456 789",
    "2026-12-04 10:00:00 job 42 done",
    "version 4.1.1 build 2026",
    "UUID 550e8400-e29b-41d4-a716-446655440000",
    "https://example.com/path?q=1",
    "mysql://db:3306/app",
    "ssh deploy@host.example",
    "request_id=3f2a9c1e",
    "{\"level\":\"info\",\"msg\":\"ok\"}",
    "artisan migrate --password --force",
    "bypass=1 compass: north",
    "max_tokens=4096",
    "a:2:{s:4:\"user\";s:4:\"root\";s:5:\"items\";i:3;}",
    "s:8:\"password\";i:0;",
    "cwd=/var/www/html",
    "run --password",
    "see man--password page",
    "git log --oneline -- token.txt",
];
