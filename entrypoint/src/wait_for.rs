//! `phpeek-entrypoint wait-for HOST:PORT [--timeout SECONDS]`: waits until
//! a TCP address accepts connections. The Laravel migrate hook runs it to
//! wait for the database.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::message;
use crate::vars::Check;

/// Pause between two connection attempts.
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// Limit on one connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait when `--timeout` is not given, in seconds.
const DEFAULT_TIMEOUT: u64 = 60;

/// The address to wait for and the longest wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitFor {
    /// `host:port`.
    pub(crate) address: String,
    /// Longest wait.
    pub(crate) timeout: Duration,
}

impl WaitFor {
    /// Parses the arguments after `wait-for`.
    ///
    /// # Errors
    ///
    /// Returns a usage message for a missing or invalid address, or an
    /// invalid or unknown option.
    pub(crate) fn parse(args: &[String]) -> Result<WaitFor, String> {
        let mut address = None;
        let mut timeout = DEFAULT_TIMEOUT;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if let Some(value) = arg.strip_prefix("--timeout=") {
                timeout = parse_seconds(value)?;
            } else if arg == "--timeout" {
                let value = rest.next().ok_or("--timeout needs a number of seconds")?;
                timeout = parse_seconds(value)?;
            } else if arg.starts_with('-') {
                return Err(format!("unknown option {arg}"));
            } else if address.is_none() {
                address = Some(arg.clone());
            } else {
                return Err(format!("unexpected argument {arg}"));
            }
        }
        let address = address.ok_or("missing HOST:PORT")?;
        if let Err(reason) = Check::HostPort.parse(&address) {
            return Err(format!("invalid address {address:?}: {reason}"));
        }
        Ok(WaitFor {
            address,
            timeout: Duration::from_secs(timeout),
        })
    }

    /// Tries to connect until it works or the timeout passes. Each attempt
    /// resolves the name again, because a database container's name may
    /// appear in DNS only after it starts.
    ///
    /// Returns whether the address accepted a connection in time.
    pub(crate) fn run(&self) -> bool {
        let deadline = Instant::now() + self.timeout;
        message::info(format_args!(
            "waiting up to {}s for {}",
            self.timeout.as_secs(),
            self.address
        ));
        loop {
            if self.connect_once(deadline) {
                message::info(format_args!("{} accepts connections", self.address));
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                message::error(format_args!(
                    "timed out after {}s waiting for {}",
                    self.timeout.as_secs(),
                    self.address
                ));
                return false;
            }
            std::thread::sleep(RETRY_DELAY.min(deadline - now));
        }
    }

    fn connect_once(&self, deadline: Instant) -> bool {
        let addresses: Vec<SocketAddr> = match self.address.to_socket_addrs() {
            Ok(addresses) => addresses.collect(),
            Err(_) => return false,
        };
        addresses.iter().any(|address| {
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = CONNECT_TIMEOUT.min(left).max(Duration::from_millis(1));
            TcpStream::connect_timeout(address, limit).is_ok()
        })
    }
}

fn parse_seconds(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|seconds| *seconds <= 86_400)
        .ok_or_else(|| format!("invalid --timeout {value:?}: expected 0 to 86400 seconds"))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn arguments_are_parsed() {
        let parsed = WaitFor::parse(&args(&["db:5432", "--timeout", "5"]));
        let expected = WaitFor {
            address: "db:5432".to_owned(),
            timeout: Duration::from_secs(5),
        };

        assert_eq!(parsed, Ok(expected.clone()));
        assert_eq!(
            WaitFor::parse(&args(&["--timeout=5", "db:5432"])),
            Ok(expected)
        );
        let default = WaitFor::parse(&args(&["db:5432"])).map(|wait| wait.timeout);

        assert_eq!(default, Ok(Duration::from_secs(60)));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        for bad in [
            &[][..],
            &["db"],
            &["db:5432", "--timeout"],
            &["db:5432", "--timeout", "soon"],
            &["db:5432", "--wait"],
            &["db:5432", "cache:6379"],
        ] {
            assert!(WaitFor::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn open_port_is_found() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let wait = WaitFor {
            address: listener.local_addr()?.to_string(),
            timeout: Duration::from_secs(5),
        };

        assert!(wait.run());
        Ok(())
    }

    #[test]
    fn closed_port_times_out() -> std::io::Result<()> {
        // Bind and drop to find a port that nothing listens on.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let wait = WaitFor {
            address: format!("127.0.0.1:{port}"),
            timeout: Duration::from_millis(300),
        };
        let started = Instant::now();

        assert!(!wait.run());
        assert!(started.elapsed() < Duration::from_secs(3));
        Ok(())
    }
}
