//! Helpers for integration tests that run the real `phpeek-pm` binary.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use phpeek_testkit::{eventually, free_port, http_get};

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_phpeek-pm"))
}

/// A temporary directory that is removed on drop.
pub struct Dir {
    pub path: PathBuf,
    _guard: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        let guard = tempfile::Builder::new()
            .prefix("phpeek-test-")
            .tempdir()
            .expect("tempdir");
        // Children may run as another user (php-fpm as root switches to nobody).
        let path = guard.path().to_path_buf();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod tempdir");
        Dir {
            path,
            _guard: guard,
        }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

/// Lines collected from a child's stdout or stderr.
#[derive(Clone, Default)]
pub struct Lines {
    inner: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Lines {
    fn collect(&self, stream: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
        let lines = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buffer);
                        let line = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                        let (store, ready) = &*lines.inner;
                        store.lock().expect("lock").push(line);
                        ready.notify_all();
                    }
                }
            }
        })
    }

    pub fn all(&self) -> Vec<String> {
        self.inner.0.lock().expect("lock").clone()
    }

    /// Every line parsed as JSON; panics on a line that isn't.
    pub fn records(&self) -> Vec<Value> {
        self.all()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("not JSON ({error}): {line:?}"))
            })
            .collect()
    }

    /// Waits until a line satisfies `matches`; returns it.
    pub fn wait_for(&self, timeout: Duration, matches: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (store, ready) = &*self.inner;
        let mut lines = store.lock().expect("lock");
        loop {
            if let Some(line) = lines.iter().find(|line| matches(line)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = ready.wait_timeout(lines, deadline - now).expect("lock").0;
        }
    }

    /// Waits until a JSON record satisfies `matches`.
    pub fn wait_for_record(
        &self,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let line = self.wait_for(timeout, |line| {
            serde_json::from_str::<Value>(line)
                .map(|record| matches(&record))
                .unwrap_or(false)
        })?;
        serde_json::from_str(&line).ok()
    }

    /// Counts JSON records satisfying `matches`.
    pub fn count(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.all()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| matches(record))
            .count()
    }

    /// Waits until `process` has logged at least `count` exits, then
    /// returns the exit code of each; `None` when `timeout` passes first.
    /// An exit record without a numeric `exit_code` gives -1.
    pub fn exit_codes(&self, process: &str, count: usize, timeout: Duration) -> Option<Vec<i64>> {
        let exited =
            |record: &Value| record["msg"] == "process exited" && record["process"] == process;
        if !eventually(timeout, || self.count(exited) >= count) {
            return None;
        }
        let codes = self
            .records()
            .iter()
            .filter(|record| exited(record))
            .map(|record| record["exit_code"].as_i64().unwrap_or(-1))
            .collect();
        Some(codes)
    }
}

/// A running phpeek-pm.
pub struct Pm {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Pm {
    /// Starts phpeek-pm with `config` written into `dir`.
    pub fn start(dir: &Dir, config: &str) -> Pm {
        let path = dir.write("phpeek-pm.yaml", config);
        Pm::start_with(Command::new(binary()).arg("-c").arg(path))
    }

    /// Starts an already prepared command with captured output.
    pub fn start_with(command: &mut Command) -> Pm {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phpeek-pm");
        let stdout = Lines::default();
        let stderr = Lines::default();
        let readers = vec![
            stdout.collect(child.stdout.take().expect("stdout")),
            stderr.collect(child.stderr.take().expect("stderr")),
        ];
        Pm {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) takes two integers and reads no memory; the pid is our own child.
        let result = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(result, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Waits for exit; returns the exit code, or None on timeout.
    /// Sends SIGTERM and asserts that phpeek-pm exits with code 0 within
    /// `timeout`.
    #[track_caller]
    pub fn terminate(&mut self, timeout: Duration) {
        self.signal(libc::SIGTERM);
        let code = self.wait(timeout);
        assert_eq!(code, Some(0), "{}", self.transcript());
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The output may still sit in the pipes; read it all before
                // callers look at the records.
                let drained = eventually(Duration::from_secs(10), || {
                    self.readers.iter().all(|reader| reader.is_finished())
                });
                assert!(
                    drained,
                    "phpeek-pm exited but its output never reached end of file"
                );
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for a record whose msg equals `msg` and whose `process` equals
    /// `process` (when given).
    pub fn wait_event(&self, msg: &str, process: Option<&str>, timeout: Duration) -> Option<Value> {
        self.stdout.wait_for_record(timeout, |record| {
            record["msg"] == msg && process.is_none_or(|name| record["process"] == name)
        })
    }

    /// Dumps everything the binary printed, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.all().join("\n"),
            self.stderr.all().join("\n")
        )
    }
}

impl Drop for Pm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Pids of the direct children of `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|candidate| {
            stat_field(*candidate, 1).and_then(|ppid| ppid.parse().ok()) == Some(pid)
        })
        .collect()
}

/// Field `index` after the command name in /proc/PID/stat (0 = state, 1 = ppid, 2 = pgrp).
pub fn stat_field(pid: i32, index: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(index).map(str::to_owned)
}

/// Pids whose command line contains `marker`.
pub fn pids_with_cmdline(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| {
                    String::from_utf8_lossy(&raw)
                        .replace('\0', " ")
                        .contains(marker)
                })
                .unwrap_or(false)
        })
        .filter(|pid| stat_field(*pid, 0).as_deref() != Some("Z"))
        .collect()
}

/// Parses the RFC 3339 `time` field of a record into milliseconds since the epoch.
pub fn time_ms(record: &Value) -> i64 {
    let text = record["time"].as_str().expect("time field");
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|error| panic!("bad time {text:?}: {error}"));
    (parsed.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// php-fpm and nginx configs rendered into a temp prefix by
/// scripts/render-fixture.sh, with free ports.
pub struct PhpStack {
    pub dir: Dir,
    pub http_port: u16,
    pub fpm_listen: String,
    /// KEY=value pairs from PREFIX/env.
    pub env: std::collections::HashMap<String, String>,
}

impl PhpStack {
    pub fn render() -> PhpStack {
        let dir = Dir::new();
        let http_port = free_port();
        let fpm_listen = format!("127.0.0.1:{}", free_port());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/render-fixture.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(dir.join("prefix"))
            .env("NGINX_HTTP_PORT", http_port.to_string())
            .env("PHP_FPM_LISTEN", &fpm_listen)
            .env("FIXTURE_FPM_CONTROL_TIMEOUT", "10")
            .output()
            .expect("run render-fixture.sh");
        assert!(
            output.status.success(),
            "render-fixture.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let env_text = std::fs::read_to_string(dir.join("prefix/env")).expect("read PREFIX/env");
        let env = env_text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        PhpStack {
            dir,
            http_port,
            fpm_listen,
            env,
        }
    }

    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from PREFIX/env"))
    }

    /// A phpeek-pm config for php-fpm and nginx with `global` settings.
    pub fn config(&self, global: &str) -> String {
        format!(
            r#"
global:
{global}
processes:
  php-fpm:
    command: ["{fpm}", "--nodaemonize", "--fpm-config", "{fpm_config}"]
    priority: 10
    health_check:
      type: tcp
      address: "{listen}"
      period: 1
    shutdown:
      signal: QUIT
      timeout: 15
  nginx:
    command: ["{nginx}", "-p", "{nginx_prefix}", "-c", "{nginx_config}", "-e", "stderr", "-g", "daemon off;"]
    priority: 20
    depends_on:
      php-fpm: healthy
    health_check:
      type: http
      url: "http://127.0.0.1:{port}/health"
      period: 1
    shutdown:
      signal: QUIT
      timeout: 15
"#,
            fpm = self.var("PHP_FPM_BIN"),
            fpm_config = self.var("PHP_FPM_CONFIG"),
            listen = self.fpm_listen,
            nginx = self.var("NGINX_BIN"),
            nginx_prefix = self.var("NGINX_PREFIX"),
            nginx_config = self.var("NGINX_CONFIG"),
            port = self.http_port,
        )
    }

    /// Waits until GET `path` answers 200 and returns the body.
    pub fn wait_for_page(&self, path: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok((200, body)) = http_get(self.http_port, path, Duration::from_secs(5)) {
                return Some(body);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A number for `sleep N` that no other test of any binary uses, so a test
/// can find its own processes in /proc by command line.
pub fn unique_marker() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Large enough that no real test sleeps that long by accident.
    10_000_000_000 + u64::from(std::process::id()) * 1000 + serial
}

pub mod prom;

/// Sends one HTTP/1.1 request to 127.0.0.1:`port`, with a bearer token and
/// a JSON body when given; returns the status and body.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let response = phpeek_testkit::send(port, request.as_bytes(), Duration::from_secs(40))?;
    Ok((response.status, response.body))
}

/// Sends a request that must succeed at the HTTP level and returns the
/// status and the body parsed as JSON (null when it isn't JSON).
pub fn api_json(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let (status, text) = http_request(port, method, path, token, body)
        .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits until 127.0.0.1:`port` accepts connections.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    eventually(timeout, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}

/// Sum of utime, stime, cutime and cstime over `pid` and its descendants,
/// in clock ticks, from /proc.
pub fn tree_ticks(pid: i32) -> u64 {
    let mut total = 0;
    let mut pending = vec![pid];
    while let Some(pid) = pending.pop() {
        total += (11..=14)
            .filter_map(|index| stat_field(pid, index)?.parse::<u64>().ok())
            .sum::<u64>();
        pending.extend(children_of(pid));
    }
    total
}

/// utime + stime of `pid` alone, in clock ticks.
pub fn own_ticks(pid: i32) -> u64 {
    (11..=12)
        .filter_map(|index| stat_field(pid, index)?.parse::<u64>().ok())
        .sum()
}
