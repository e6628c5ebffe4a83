//! `phpeek-pm ctl` and `phpeek-pm health`: small HTTP clients of the
//! management API and of `/readyz`.
//!
//! Each call sends one request and turns the response into text for a
//! person, or passes the server's JSON through. A non-2xx response becomes a
//! [`CtlError`] carrying the server's message.

mod table;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Wait for one API response. It is longer than the server's request
/// timeout, so the server's own 202 or timeout response arrives first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

/// Wait for `/readyz`, as a container health check should be quick.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A request to the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show every process, or one.
    Status(Option<String>),
    /// Set the instance count.
    Scale {
        /// Process name.
        name: String,
        /// The new count or a change of it.
        change: ScaleChange,
    },
    /// Start a process.
    Start(String),
    /// Stop a process gracefully.
    Stop(String),
    /// Restart a process gracefully.
    Restart(String),
    /// Show a process's recent output.
    Logs {
        /// Process name.
        name: String,
        /// Newest records to show.
        limit: u32,
    },
    /// Run a scheduled task now.
    Trigger(String),
}

/// The argument of `ctl scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleChange {
    /// `N`: this many instances.
    To(i64),
    /// `+N` or `-N`: this many more or fewer.
    By(i64),
}

impl std::str::FromStr for ScaleChange {
    type Err = String;

    fn from_str(text: &str) -> Result<ScaleChange, String> {
        let invalid = || format!("expected a count such as 3, +2 or -1, got `{text}`");
        let number: i64 = text.parse().map_err(|_| invalid())?;
        if text.starts_with(['+', '-']) {
            Ok(ScaleChange::By(number))
        } else {
            Ok(ScaleChange::To(number))
        }
    }
}

/// Failure of a ctl call.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The server could not be reached or did not respond in time.
    #[error("could not reach {url}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The token can't be sent in an `Authorization` header.
    #[error(
        "the API token contains a character that an HTTP header can't carry, such as a \
         newline or another control character; check --token, PHPEEK_PM_API_TOKEN or \
         global.api_auth"
    )]
    InvalidToken,
    /// The HTTP client could not be set up.
    #[error("could not set up the HTTP client")]
    Setup(#[source] reqwest::Error),
    /// The server responded with an error status.
    #[error("{message} (HTTP {status}{code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// `: <code>` when the body had one.
        code: String,
        /// The server's message.
        message: String,
    },
}

/// A client of the management API.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// Creates a client of the API at `base`, such as
    /// `http://127.0.0.1:9180`, sending `token` as a bearer token.
    ///
    /// # Errors
    ///
    /// Fails when the token can't be sent in a header or the HTTP client
    /// cannot be built.
    pub fn new(base: &str, token: Option<String>) -> Result<Client, CtlError> {
        let token = token.filter(|token| !token.is_empty());
        if let Some(token) = &token {
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| CtlError::InvalidToken)?;
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(CtlError::Setup)?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// Carries out `action` and returns the text to print: a table or
    /// message, or the server's JSON when `raw_json` is set.
    ///
    /// # Errors
    ///
    /// Fails when the server can't be reached or responds with an error.
    pub async fn run(&self, action: &Action, raw_json: bool) -> Result<String, CtlError> {
        let (method, path, body) = request_of(action);
        let answer = self.send(method, &path, body).await?;
        if raw_json {
            return Ok(answer.to_string());
        }
        Ok(table::render(action, &answer))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CtlError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |source| CtlError::Unreachable {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(value);
        }
        Err(rejection(status, &value))
    }
}

fn request_of(action: &Action) -> (Method, String, Option<Value>) {
    let process = |name: &str, tail: &str| format!("/api/v1/processes/{}{tail}", encode(name));
    match action {
        Action::Status(None) => (Method::GET, "/api/v1/processes".to_owned(), None),
        Action::Status(Some(name)) => (Method::GET, process(name, ""), None),
        Action::Scale { name, change } => {
            let body = match change {
                ScaleChange::To(count) => json!({ "replicas": count }),
                ScaleChange::By(delta) => json!({ "delta": delta }),
            };
            (Method::POST, process(name, "/scale"), Some(body))
        }
        Action::Start(name) => (Method::POST, process(name, "/start"), None),
        Action::Stop(name) => (Method::POST, process(name, "/stop"), None),
        Action::Restart(name) => (Method::POST, process(name, "/restart"), None),
        Action::Logs { name, limit } => {
            let path = process(name, &format!("/logs?limit={limit}"));
            (Method::GET, path, None)
        }
        Action::Trigger(name) => (Method::POST, process(name, "/schedule/trigger"), None),
    }
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn rejection(status: StatusCode, body: &Value) -> CtlError {
    let message = match body {
        Value::Object(object) => object
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the server rejected the request")
            .to_owned(),
        Value::String(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => "the server rejected the request".to_owned(),
    };
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .map(|code| format!(": {code}"))
        .unwrap_or_default();
    CtlError::Rejected {
        status: status.as_u16(),
        code,
        message,
    }
}

/// Requests `url`, normally `/readyz`, and returns whether the status was
/// 200, with the body.
///
/// # Errors
///
/// Fails when the server can't be reached in time.
pub async fn probe(url: &str) -> Result<(bool, String), CtlError> {
    let unreachable = |source| CtlError::Unreachable {
        url: url.to_owned(),
        source,
    };
    let http = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let response = http.get(url).send().await.map_err(unreachable)?;
    let ready = response.status() == StatusCode::OK;
    let body = response.text().await.map_err(unreachable)?;
    Ok((ready, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_change_parses_counts_and_deltas() {
        assert_eq!("3".parse(), Ok(ScaleChange::To(3)));
        assert_eq!("+2".parse(), Ok(ScaleChange::By(2)));
        assert_eq!("-1".parse(), Ok(ScaleChange::By(-1)));
        assert!("three".parse::<ScaleChange>().is_err());
    }

    #[test]
    fn token_with_control_character_is_rejected() {
        let error = Client::new("http://127.0.0.1:9", Some("abc\ndef".to_owned()))
            .err()
            .expect("rejected");

        assert!(matches!(error, CtlError::InvalidToken));
        assert!(error.to_string().contains("PHPEEK_PM_API_TOKEN"), "{error}");
        assert!(Client::new("http://127.0.0.1:9", Some("abc-def".to_owned())).is_ok());
    }

    #[test]
    fn names_are_encoded_in_paths() {
        let (_, path, _) = request_of(&Action::Stop("a b/c".to_owned()));
        assert_eq!(path, "/api/v1/processes/a%20b%2Fc/stop");
    }

    #[test]
    fn rejection_carries_server_message_and_code() {
        let body = json!({"error": "process `x` is not defined", "code": "not_found"});
        let error = rejection(StatusCode::NOT_FOUND, &body);

        assert_eq!(
            error.to_string(),
            "process `x` is not defined (HTTP 404: not_found)"
        );
    }
}
