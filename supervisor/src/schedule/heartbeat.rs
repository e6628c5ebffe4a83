//! Heartbeat pings: telling a monitoring service that a run started,
//! succeeded or failed.
//!
//! The URL of each ping depends on the service, recognised by host:
//!
//! | event   | default (healthchecks.io) | cronitor.link       | Better Stack        |
//! |---------|---------------------------|---------------------|---------------------|
//! | start   | GET `<url>/start`         | GET `?state=run`    | none                |
//! | success | GET `<url>`               | GET `?state=complete` | GET `<url>`       |
//! | failure | POST `<url>/fail`         | POST `?state=fail&status_code=N` | POST `<url>/fail` |
//!
//! A failure ping carries the reason and the run's last output lines as a
//! `text/plain` body. Pings never hold up a run: each run's pings are sent
//! in order by a background task, each with a request timeout and a few
//! retries, and a ping that fails every attempt is logged and counted.

use std::time::Duration;

use reqwest::{Method, Url};

use super::stats::ScheduleStats;
use crate::output::Redactor;

/// Limit on one request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts per ping, the first included.
const ATTEMPTS: u32 = 3;

/// Pause after the first failed attempt; it doubles after each.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The event a ping reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A run began.
    Start,
    /// A run exited with code 0.
    Success,
    /// A run failed. `body` gives the reason and ends with its last output lines.
    Failure {
        /// The run's exit code, when it exited.
        exit_code: Option<i32>,
        /// The text/plain request body.
        body: String,
    },
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Success => "success",
            Event::Failure { .. } => "failure",
        }
    }
}

/// Sends pings; cheap to clone.
#[derive(Clone)]
pub(crate) struct Pinger {
    client: reqwest::Client,
    stats: ScheduleStats,
}

impl Pinger {
    /// Creates the HTTP client shared by every task.
    ///
    /// # Errors
    ///
    /// Fails when the TLS backend can't be set up.
    pub(crate) fn new(stats: ScheduleStats) -> Result<Pinger, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("phpeek-pm/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(std::sync::Arc::new(crate::resolve::Resolver))
            .build()?;
        Ok(Pinger { client, stats })
    }

    /// Starts the background task that sends one run's pings, in the order
    /// given to the returned sender. The task ends when the sender is
    /// dropped and every queued ping has been sent or given up.
    pub(crate) fn start_run(
        &self,
        url: &str,
        process: &str,
        instance_id: &str,
    ) -> Option<tokio::sync::mpsc::UnboundedSender<Event>> {
        let base = Url::parse(url).ok()?;
        let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
        let pinger = self.clone();
        let (process, instance_id) = (process.to_owned(), instance_id.to_owned());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                pinger.send(&base, &event, &process, &instance_id).await;
            }
        });
        Some(sender)
    }

    async fn send(&self, base: &Url, event: &Event, process: &str, instance_id: &str) {
        let Some((method, url)) = ping_url(base, event) else {
            return;
        };
        let mut backoff = FIRST_BACKOFF;
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.attempt(method.clone(), url.clone(), event).await {
                Ok(()) => {
                    self.stats.update(process, |stats| {
                        stats.heartbeat_successes += 1;
                        stats.last_heartbeat_success = Some(chrono::DateTime::<chrono::Utc>::from(
                            std::time::SystemTime::now(),
                        ));
                    });
                    tracing::debug!(
                        process,
                        instance_id,
                        event = event.name(),
                        attempt,
                        "heartbeat ping sent"
                    );
                    return;
                }
                Err(error) => last_error = error,
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        self.stats
            .update(process, |stats| stats.heartbeat_failures += 1);
        // The URL often contains a secret key, so only the host is logged.
        tracing::warn!(process, instance_id, event = event.name(), host = url.host_str(),
            attempts = ATTEMPTS, error = %last_error, "heartbeat ping failed");
    }

    async fn attempt(&self, method: Method, url: Url, event: &Event) -> Result<(), String> {
        let mut request = self.client.request(method, url);
        if let Event::Failure { body, .. } = event {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|error| crate::exec::error_chain(&error))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the server answered {status}"))
        }
    }
}

/// The monitoring services with their own URL forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    /// healthchecks.io and anything unrecognised: `/start`, `/fail`.
    Default,
    /// Cronitor's telemetry API on cronitor.link: `?state=`.
    Cronitor,
    /// Better Stack (formerly Better Uptime): `/fail`, no start event.
    BetterStack,
}

fn service(url: &Url) -> Service {
    match url.host_str() {
        Some("cronitor.link") => Service::Cronitor,
        Some("uptime.betterstack.com" | "betteruptime.com") => Service::BetterStack,
        _ => Service::Default,
    }
}

/// Returns the method and URL of the ping for `event`, or none when the
/// service has no such event.
fn ping_url(base: &Url, event: &Event) -> Option<(Method, Url)> {
    let method = match event {
        Event::Failure { .. } => Method::POST,
        Event::Start | Event::Success => Method::GET,
    };
    let url = match (service(base), event) {
        (Service::Cronitor, Event::Start) => with_query(base, "state=run"),
        (Service::Cronitor, Event::Success) => with_query(base, "state=complete"),
        (Service::Cronitor, Event::Failure { exit_code, .. }) => match exit_code {
            Some(code) => with_query(base, &format!("state=fail&status_code={code}")),
            None => with_query(base, "state=fail"),
        },
        (Service::BetterStack, Event::Start) => return None,
        (_, Event::Start) => with_segment(base, "start"),
        (_, Event::Success) => base.clone(),
        (_, Event::Failure { .. }) => with_segment(base, "fail"),
    };
    Some((method, url))
}

fn with_segment(base: &Url, segment: &str) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(segment);
    }
    url
}

fn with_query(base: &Url, pairs: &str) -> Url {
    let mut url = base.clone();
    let query = match base.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{pairs}"),
        _ => pairs.to_owned(),
    };
    url.set_query(Some(&query));
    url
}

/// Builds the body of a failure ping: the reason, a blank line, then the
/// run's last output lines, with secrets removed by `redactor` before they
/// leave the container.
pub(crate) fn failure_body(reason: &str, output_tail: &str, redactor: &Redactor) -> String {
    let body = if output_tail.is_empty() {
        format!("{reason}\n")
    } else {
        format!("{reason}\n\n{output_tail}\n")
    };
    redactor.redact(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_for(base: &str, event: &Event) -> Option<(Method, String)> {
        let base = Url::parse(base).ok()?;
        ping_url(&base, event).map(|(method, url)| (method, url.to_string()))
    }

    fn failure(code: i32) -> Event {
        Event::Failure {
            exit_code: Some(code),
            body: String::new(),
        }
    }

    #[test]
    fn healthchecks_urls() {
        let base = "https://hc-ping.com/5f0a";
        assert_eq!(
            url_for(base, &Event::Start),
            Some((Method::GET, "https://hc-ping.com/5f0a/start".to_owned()))
        );
        assert_eq!(
            url_for(base, &Event::Success),
            Some((Method::GET, "https://hc-ping.com/5f0a".to_owned()))
        );
        assert_eq!(
            url_for(base, &failure(3)),
            Some((Method::POST, "https://hc-ping.com/5f0a/fail".to_owned()))
        );
        assert_eq!(
            url_for("https://hc-ping.com/5f0a/", &Event::Start).map(|(_, url)| url),
            Some("https://hc-ping.com/5f0a/start".to_owned())
        );
    }

    #[test]
    fn cronitor_urls_use_state() {
        let base = "https://cronitor.link/p/key/nightly";
        let url = |event| url_for(base, &event).map(|(_, url)| url);
        assert_eq!(url(Event::Start), Some(format!("{base}?state=run")));
        assert_eq!(url(Event::Success), Some(format!("{base}?state=complete")));
        assert_eq!(
            url(failure(3)),
            Some(format!("{base}?state=fail&status_code=3"))
        );
        let with_env = url_for(&format!("{base}?env=prod"), &Event::Start).map(|(_, url)| url);
        assert_eq!(with_env, Some(format!("{base}?env=prod&state=run")));
    }

    #[test]
    fn better_stack_has_no_start() {
        let base = "https://uptime.betterstack.com/api/v1/heartbeat/abc";
        assert_eq!(url_for(base, &Event::Start), None);
        assert_eq!(
            url_for(base, &Event::Success).map(|(_, url)| url),
            Some(base.to_owned())
        );
        assert_eq!(
            url_for(base, &failure(1)).map(|(_, url)| url),
            Some(format!("{base}/fail"))
        );
    }

    #[test]
    fn failure_body_has_reason_then_output() {
        let off = Redactor::disabled();
        assert_eq!(
            failure_body("exit code 3", "a\nb", &off),
            "exit code 3\n\na\nb\n"
        );
        assert_eq!(failure_body("timed out", "", &off), "timed out\n");
    }

    #[test]
    fn failure_body_is_redacted() {
        let redactor = Redactor::new(&crate::config::Redaction::default());
        let body = failure_body(
            "exit code 1",
            "connecting to mysql://app:hunter2@db/app",
            &redactor,
        );
        assert!(!body.contains("hunter2"), "{body}");
        assert!(body.contains("mysql://app:"), "{body}");
    }
}
