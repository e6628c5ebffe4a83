//! Connection limits of the HTTP listeners, seen from a client. Idle, slow
//! and kept-alive connections are closed after the header timeout. A new
//! client at the cap takes the place of the longest idle connection, and is
//! closed at once when every connection has a request in flight.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{free_port, http_get, wait_for_port, Dir, Pm};

const LONG: Duration = Duration::from_secs(20);

/// phpeek-pm's header read timeout, from src/http.rs.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// phpeek-pm's connection cap per listener, from src/http.rs.
const MAX_CONNECTIONS: usize = 64;

fn start_with_metrics() -> (Pm, u16, Dir) {
    let dir = Dir::new();
    let port = free_port();
    let config = format!(
        "global:\n  shutdown_timeout: 10\n  metrics_enabled: true\n  \
         metrics_address: 127.0.0.1\n  metrics_port: {port}\n\
         processes:\n  idle:\n    command: [\"sleep\", \"600\"]\n"
    );
    let pm = Pm::start(&dir, &config);
    assert!(wait_for_port(port, LONG), "{}", pm.transcript());
    (pm, port, dir)
}

fn stop(mut pm: Pm) {
    pm.terminate(LONG);
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nonblocking(true).expect("non-blocking");
    stream
}

/// Whether the server has closed `stream`: a read returns end of file or
/// a reset, without waiting. Bytes the server sent (such as a 408
/// response) are skipped.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Polls until every stream in `streams` is closed by the server, or
/// `limit` passes; returns the time it took.
fn wait_closed(streams: &mut [TcpStream], limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut open: Vec<&mut TcpStream> = streams.iter_mut().collect();
    while start.elapsed() < limit {
        open.retain_mut(|stream| !closed_by_server(stream));
        if open.is_empty() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn idle_and_slow_connections_closed() {
    let (pm, port, _dir) = start_with_metrics();

    let mut idle = connect(port);
    let mut slow = connect(port);
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").expect("write");
    let mut keep_alive = connect(port);
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut response = [0u8; 512];
    keep_alive.set_nonblocking(false).expect("blocking");
    keep_alive
        .set_read_timeout(Some(LONG))
        .expect("read timeout");
    let read = keep_alive.read(&mut response).expect("response");
    keep_alive.set_nonblocking(true).expect("non-blocking");
    assert!(response[..read].starts_with(b"HTTP/1.1 200"));

    // Well before the timeout all three stay open, so slow clients work.
    std::thread::sleep(Duration::from_secs(2));
    for stream in [&mut idle, &mut slow, &mut keep_alive] {
        assert!(
            !closed_by_server(stream),
            "closed before the header timeout"
        );
    }
    // The slow one keeps sending, a header line every two seconds.
    let start = Instant::now();
    let mut streams = [idle, keep_alive];
    let mut slow_closed = None;
    while start.elapsed() < HEADER_TIMEOUT + Duration::from_secs(4) {
        if slow_closed.is_none() {
            let _ = slow.write_all(b"X-Slow: 1\r\n");
            if closed_by_server(&mut slow) {
                slow_closed = Some(start.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(1800));
        if slow_closed.is_some() {
            break;
        }
    }
    assert!(
        slow_closed.is_some(),
        "a client sending one header line at a time kept its connection"
    );
    let took = wait_closed(&mut streams, HEADER_TIMEOUT + Duration::from_secs(4));
    assert!(
        took.is_some(),
        "idle connections were still open after the header timeout"
    );

    // The listener still responds to new clients.
    let (status, _) = http_get(port, "/healthz", LONG).expect("healthz");
    assert_eq!(status, 200);
    stop(pm);
}

/// Opens `count` connections to `port` with a pause after each, so the
/// server accepts them in that order.
fn open_in_order(port: u16, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let stream = connect(port);
            std::thread::sleep(Duration::from_millis(5));
            stream
        })
        .collect()
}

#[test]
fn new_client_at_cap_replaces_longest_idle() {
    let (pm, port, _dir) = start_with_metrics();
    // The connection that found the port open takes a place until the
    // server notices it closed.
    std::thread::sleep(Duration::from_millis(500));

    let mut idle = open_in_order(port, MAX_CONNECTIONS);
    // Give the accept loop time to take them all.
    std::thread::sleep(Duration::from_millis(500));
    let answer = http_get(port, "/healthz", Duration::from_secs(5));

    assert!(
        matches!(answer, Ok((200, _))),
        "a new client at the cap got {answer:?}\n{}",
        pm.transcript()
    );
    assert!(
        wait_closed(&mut idle[..1], Duration::from_secs(3)).is_some(),
        "the longest idle connection stayed open"
    );
    for (index, stream) in idle.iter_mut().enumerate().skip(1) {
        assert!(
            !closed_by_server(stream),
            "connection {index}, not the longest idle, was closed"
        );
    }
    stop(pm);
}

#[test]
fn busy_connections_keep_new_one_out() {
    let dir = Dir::new();
    let port = free_port();
    let config = format!(
        "global:\n  shutdown_timeout: 10\n  api_enabled: true\n  api_port: {port}\n  \
         api_auth: limits-token\nprocesses:\n  idle:\n    command: [\"sleep\", \"600\"]\n"
    );
    let pm = Pm::start(&dir, &config);
    assert!(wait_for_port(port, LONG), "{}", pm.transcript());
    std::thread::sleep(Duration::from_millis(500));

    // Each request announces a body it never sends, so each stays in flight.
    let mut busy = open_in_order(port, MAX_CONNECTIONS);
    for stream in &mut busy {
        stream
            .write_all(
                b"POST /api/v1/processes/idle/scale HTTP/1.1\r\nHost: localhost\r\n\
                  Authorization: Bearer limits-token\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n",
            )
            .expect("write request head");
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut extra = [connect(port)];

    assert!(
        wait_closed(&mut extra, Duration::from_secs(3)).is_some(),
        "connection {} stayed open while all others were busy\n{}",
        MAX_CONNECTIONS + 1,
        pm.transcript()
    );
    for (index, stream) in busy.iter_mut().enumerate() {
        assert!(
            !closed_by_server(stream),
            "connection {index}, with a request in flight, was closed"
        );
    }

    // Clients that leave free their places at once.
    drop(busy);
    let answered = support::eventually(Duration::from_secs(5), || {
        matches!(
            support::http_request(port, "GET", "/api/v1/health", Some("limits-token"), None),
            Ok((200, _))
        )
    });
    assert!(answered, "no answer after the busy connections closed");
    stop(pm);
}
