//! Helpers that the integration tests of the phpeek packages share: free
//! loopback ports, polling, child exits and a small HTTP/1.1 client.
//!
//! Each package lists this crate under `dev-dependencies` only, so nothing
//! here reaches a release binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Returns a free TCP port on 127.0.0.1, never the same twice in one test
/// binary.
///
/// The kernel may hand the same ephemeral port to two tests that bind and
/// close it one after the other, so ports already handed out are skipped.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Polls `condition` every 5 ms until it is true or `timeout` passes, and
/// returns its last result.
pub fn eventually(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// Waits for `child` to exit and returns its exit code, -1 for a signal, or
/// `None` when the timeout passes first.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// An HTTP response read to the end of the connection.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code from the status line.
    pub status: u16,
    /// The status line and the headers, without the blank line after them.
    pub head: String,
    /// Everything after the blank line, decoded lossily, with chunked
    /// transfer coding removed.
    pub body: String,
}

/// Sends the raw HTTP request `request` to 127.0.0.1:`port` and reads the
/// response until the server closes the connection. `timeout` limits the
/// connect and each read.
///
/// Returns an error when the response has no status line.
pub fn send(port: u16, request: &[u8], timeout: Duration) -> std::io::Result<Response> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;

    let response = String::from_utf8_lossy(&raw);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status line in {response:?}")))?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| std::io::Error::other(format!("bad chunked body {body:?}")))?
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        head: head.to_owned(),
        body,
    })
}

/// Joins the chunks of a body in chunked transfer coding, or returns
/// `None` when a chunk's size line is not hexadecimal or the body ends
/// before the last chunk.
fn dechunk(mut body: &str) -> Option<String> {
    let mut joined = String::new();
    loop {
        let (size_line, rest) = body.split_once("\r\n")?;
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        if size == 0 {
            return Some(joined);
        }
        joined.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Sends `GET path` to 127.0.0.1:`port` and returns the response.
pub fn get(port: u16, path: &str, timeout: Duration) -> std::io::Result<Response> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    send(port, request.as_bytes(), timeout)
}

/// Sends `GET path` to 127.0.0.1:`port` and returns the status and body.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    get(port, path, timeout).map(|response| (response.status, response.body))
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;

    use super::*;

    /// Serves one connection on a new loopback listener with `reply`, and
    /// returns the port and a handle whose result is the request line.
    fn serve_once(reply: &'static [u8]) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = std::io::BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("read request");
            let mut line = String::new();
            while reader.read_line(&mut line).expect("read header") > 2 {
                line.clear();
            }
            reader.get_mut().write_all(reply).expect("reply");
            request_line
        });
        (port, server)
    }

    #[test]
    fn get_parses_status_head_and_body() {
        let (port, server) = serve_once(b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\n\r\nnope");

        let response = get(port, "/x?y=1", Duration::from_secs(5)).expect("response");

        assert_eq!(response.status, 404);
        assert_eq!(response.head, "HTTP/1.1 404 Not Found\r\nX-A: 1");
        assert_eq!(response.body, "nope");
        assert_eq!(server.join().expect("server"), "GET /x?y=1 HTTP/1.1\r\n");
    }

    #[test]
    fn chunked_body_is_joined() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nslow done\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let (port, server) = serve_once(reply);

        let response = get(port, "/", Duration::from_secs(5)).expect("response");

        assert_eq!(response.body, "slow done\nabc");
        server.join().expect("server");
    }

    #[test]
    fn response_without_status_is_error() {
        let (port, server) = serve_once(b"garbage");

        let result = get(port, "/", Duration::from_secs(5));

        assert!(result.is_err(), "{result:?}");
        server.join().expect("server");
    }

    #[test]
    fn free_port_never_repeats() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();

        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn eventually_returns_false_after_timeout() {
        let start = Instant::now();

        assert!(!eventually(Duration::from_millis(30), || false));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(eventually(Duration::from_millis(30), || true));
    }
}
