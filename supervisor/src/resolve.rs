//! Host name lookups that can't take phpeek-pm down.
//!
//! tokio resolves a host name on its blocking thread pool, which panics at
//! a container's pids limit (see [`crate::own_thread`]). So health checks
//! and heartbeats resolve names here, on a thread of their own or, when
//! none can start, on the calling thread, which then waits for the lookup.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs as _};

/// Resolves `address`, a `host:port` or `[v6]:port`, to socket addresses.
/// Numeric addresses are returned without a lookup.
///
/// # Errors
///
/// Returns the lookup's error, or an error when the name has no address.
pub(crate) async fn socket_addresses(address: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(numeric) = address.parse::<SocketAddr>() {
        return Ok(vec![numeric]);
    }

    let owned = address.to_owned();
    let (found, _) = crate::own_thread::run("resolve", move || lookup(&owned)).await;
    found
}

/// Looks up `address` with the C library, which may block.
fn lookup(address: &str) -> io::Result<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{address} has no address"),
        ));
    }
    Ok(found)
}

/// The resolver reqwest uses for heartbeat pings.
pub(crate) struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        // reqwest puts the URL's port on the addresses it gets back.
        let address = format!("{}:0", name.as_str());
        Box::pin(async move {
            let found = socket_addresses(&address).await?;
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn numeric_and_named_addresses_resolve() {
        let numeric = socket_addresses("127.0.0.1:9000").await.expect("numeric");
        assert_eq!(numeric, ["127.0.0.1:9000".parse().expect("address")]);

        let named = socket_addresses("localhost:80").await.expect("localhost");
        assert!(named
            .iter()
            .all(|address| address.ip().is_loopback() && address.port() == 80));

        let v6 = socket_addresses("[::1]:443").await.expect("v6");
        assert_eq!(v6[0].port(), 443);
    }

    #[tokio::test]
    async fn unknown_name_is_an_error() {
        let error = socket_addresses("name.invalid:80")
            .await
            .expect_err("no such name");
        assert!(!error.to_string().is_empty());
    }
}
