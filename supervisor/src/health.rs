//! Health checks: tcp, http and exec probes, and the monitor that runs them.
//!
//! A monitor belongs to one process and runs while it has instances. Probes
//! never overlap: the next one starts only after the previous one returned or
//! hit its timeout, which counts as a failure. Until the first success the
//! probes run every [`STARTUP_INTERVAL`] (or `period`, if shorter) so that
//! dependents don't wait a whole period; a process that isn't healthy within
//! `initial_delay + failure_threshold × period` counts as unhealthy.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

use crate::config::{HealthCheck, Probe};
use crate::exec::{self, ExecContext};

/// Probe interval before a process has been healthy for the first time.
pub(crate) const STARTUP_INTERVAL: Duration = Duration::from_millis(250);

/// A change of health reported by a monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthEvent {
    /// `success_threshold` probes in a row passed.
    Healthy,
    /// `failure_threshold` probes in a row failed; the monitor has ended.
    Unhealthy {
        /// Reason the last probe failed.
        reason: String,
    },
}

/// Starts a monitor task for `check`; events go to `events`.
///
/// The task ends after reporting [`HealthEvent::Unhealthy`], or when the
/// returned handle is aborted.
pub(crate) fn spawn_monitor(
    check: HealthCheck,
    exec: Arc<ExecContext>,
    process: Arc<str>,
    events: mpsc::Sender<HealthEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { monitor(check, exec, process, events).await })
}

async fn monitor(
    check: HealthCheck,
    exec: Arc<ExecContext>,
    process: Arc<str>,
    events: mpsc::Sender<HealthEvent>,
) {
    sleep(check.initial_delay).await;
    let startup_window = check.period.saturating_mul(check.failure_threshold);
    let startup_deadline = Instant::now()
        .checked_add(startup_window)
        .unwrap_or_else(far_future);
    let mut healthy = false;
    let mut successes = 0u32;
    let mut failures = 0u32;

    loop {
        match run_probe(&check.probe, check.timeout, &exec, &process).await {
            Ok(()) => {
                failures = 0;
                successes = successes.saturating_add(1);
                if !healthy && successes >= check.success_threshold {
                    healthy = true;
                    if events.send(HealthEvent::Healthy).await.is_err() {
                        return;
                    }
                }
            }
            Err(reason) => {
                tracing::debug!(process = &*process, reason = %reason, "health probe failed");
                successes = 0;
                failures = failures.saturating_add(1);
                let gave_up = if healthy {
                    failures >= check.failure_threshold
                } else {
                    Instant::now() >= startup_deadline
                };
                if gave_up {
                    // The receiver decides what to do; the monitor is done.
                    let _ = events.send(HealthEvent::Unhealthy { reason }).await;
                    return;
                }
            }
        }
        let pause = if healthy {
            check.period
        } else {
            check.period.min(STARTUP_INTERVAL)
        };
        sleep(pause).await;
    }
}

/// Returns a time so far ahead that it never comes, for sums of durations
/// from the config that overflow the clock.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Runs one probe, bounded by `limit`.
///
/// # Errors
///
/// Returns a short reason when the probe failed or timed out.
pub(crate) async fn run_probe(
    probe: &Probe,
    limit: Duration,
    exec: &ExecContext,
    process: &str,
) -> Result<(), String> {
    match probe {
        Probe::Tcp { address } => timeout(limit, connect(address))
            .await
            .map_err(|_| format!("connect to {address} timed out"))?
            .map(drop)
            .map_err(|error| format!("connect to {address} failed: {error}")),
        Probe::Http {
            url,
            authority,
            path,
            expected_status,
        } => {
            let status = timeout(limit, http_get(authority, path))
                .await
                .map_err(|_| format!("GET {url} timed out"))?
                .map_err(|error| format!("GET {url} failed: {error}"))?;
            if status == *expected_status {
                Ok(())
            } else {
                Err(format!(
                    "GET {url} returned {status}, expected {expected_status}"
                ))
            }
        }
        Probe::Exec { command } => {
            let label = format!("{process} health check");
            let outcome = exec::run(exec, command, &label, limit).await;
            outcome.into_result()
        }
    }
}

/// Connects to `address`, a `host:port`, resolving the host without
/// tokio's blocking pool (see [`crate::resolve`]).
async fn connect(address: &str) -> std::io::Result<TcpStream> {
    let addresses = crate::resolve::socket_addresses(address).await?;
    TcpStream::connect(addresses.as_slice()).await
}

/// Sends a minimal HTTP/1.1 GET and returns the response status.
async fn http_get(authority: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = connect(authority).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: phpeek-pm\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;

    // The status line fits in the first read of any sane server; read until
    // the first line ends or 1 KiB arrived.
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    parse_status_line(&head).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no HTTP status line in the response",
        )
    })
}

/// Returns the status code of a response starting with `HTTP/1.x NNN`.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|byte| *byte == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_parses_code() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 204 No Content\r\nServer: x"),
            Some(204)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 502 Bad Gateway\r\n"),
            Some(502)
        );
    }

    #[test]
    fn garbage_is_not_a_status_line() {
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 abc\r\n"), None);
    }

    #[tokio::test]
    async fn http_probe_reads_status_from_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 512];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
                    .await;
            }
        });
        assert_eq!(http_get(&address, "/health").await.expect("response"), 503);
    }
}
