//! Decoding `health_check` and checking probe addresses and URLs.

use std::time::Duration;

use super::decode::set;
use super::fields::{Decoder, Field};
use super::model::{HealthCheck, Probe};
use super::values::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Tcp,
    Http,
    Exec,
}

const PROBE_KINDS: &[(&str, ProbeKind)] = &[
    ("tcp", ProbeKind::Tcp),
    ("http", ProbeKind::Http),
    ("exec", ProbeKind::Exec),
];

/// Decodes a health check. Returns none when it has errors.
pub(crate) fn decode(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<HealthCheck> {
    let mut fields = decoder.fields(field.node, &field.path)?;
    let f = &mut fields;

    let kind_field = f.get("type");
    let kind = kind_field
        .as_ref()
        .and_then(|k| decoder.choice(k, "health check type", PROBE_KINDS));
    if kind_field.is_none() {
        let hint = "set `type` to tcp, http or exec";
        let message = "health check has no `type`".to_owned();
        decoder
            .error_at(&field.node.origin, &field.path, message)
            .set_hint(hint);
    }
    let address = f.get("address");
    let url = f.get("url");
    let command = f.get("command");
    let expected_status = f.get("expected_status");

    let mut check = HealthCheck {
        probe: Probe::Exec {
            command: Vec::new(),
        },
        initial_delay: Duration::ZERO,
        period: Duration::from_secs(10),
        timeout: Duration::from_secs(3),
        failure_threshold: 3,
        success_threshold: 1,
    };
    set(
        &mut check.initial_delay,
        decoder.read(f, "initial_delay", Decoder::duration),
    );
    set(
        &mut check.period,
        decoder.read(f, "period", Decoder::positive_duration),
    );
    set(
        &mut check.timeout,
        decoder.read(f, "timeout", Decoder::positive_duration),
    );
    set(
        &mut check.failure_threshold,
        decoder.read(f, "failure_threshold", |d, f| d.count(f, 1)),
    );
    set(
        &mut check.success_threshold,
        decoder.read(f, "success_threshold", |d, f| d.count(f, 1)),
    );
    fields.finish(decoder, &["mode"]);

    let probe = match kind? {
        ProbeKind::Tcp => {
            warn_unused(decoder, "tcp", [&url, &command, &expected_status]);
            tcp_probe(decoder, field, address.as_ref())
        }
        ProbeKind::Http => {
            warn_unused(decoder, "http", [&address, &command]);
            http_probe(decoder, field, url.as_ref(), expected_status.as_ref())
        }
        ProbeKind::Exec => {
            warn_unused(decoder, "exec", [&address, &url, &expected_status]);
            exec_probe(decoder, field, command.as_ref())
        }
    };
    check.probe = probe?;
    Some(check)
}

/// Warns about keys that belong to another type of probe.
fn warn_unused<const N: usize>(
    decoder: &mut Decoder<'_>,
    kind: &str,
    fields: [&Option<Field<'_>>; N],
) {
    for field in fields.into_iter().flatten() {
        let key = field.path.rsplit('.').next().unwrap_or_default();
        let message = format!("`{key}` has no effect on a {kind} health check");
        decoder.warning(field, message);
    }
}

/// Reports that a probe type is missing the key it needs.
fn missing(decoder: &mut Decoder<'_>, check: &Field<'_>, kind: &str, key: &str, example: &str) {
    let message = format!("a {kind} health check needs `{key}`");
    let hint = format!("for example `{key}: {example}`");
    decoder
        .error_at(&check.node.origin, &check.path, message)
        .set_hint(hint);
}

fn tcp_probe(
    decoder: &mut Decoder<'_>,
    check: &Field<'_>,
    field: Option<&Field<'_>>,
) -> Option<Probe> {
    let Some(field) = field else {
        missing(decoder, check, "tcp", "address", "127.0.0.1:9000");
        return None;
    };
    let address = decoder.text(field)?;
    if let Err(invalid) = check_host_port(&address) {
        decoder
            .error(field, invalid.message)
            .set_hint(invalid.hint.unwrap_or_default());
        return None;
    }
    Some(Probe::Tcp { address })
}

fn http_probe(
    decoder: &mut Decoder<'_>,
    check: &Field<'_>,
    url_field: Option<&Field<'_>>,
    status_field: Option<&Field<'_>>,
) -> Option<Probe> {
    let expected_status = match status_field {
        Some(field) => u16::try_from(decoder.int(field, 100, 599)?).ok()?,
        None => 200,
    };
    let Some(field) = url_field else {
        missing(
            decoder,
            check,
            "http",
            "url",
            "http://127.0.0.1:8080/health",
        );
        return None;
    };
    let url = decoder.text(field)?;
    match parse_http_url(&url) {
        Ok((authority, path)) => Some(Probe::Http {
            url,
            authority,
            path,
            expected_status,
        }),
        Err(invalid) => {
            decoder
                .error(field, invalid.message)
                .set_hint(invalid.hint.unwrap_or_default());
            None
        }
    }
}

fn exec_probe(
    decoder: &mut Decoder<'_>,
    check: &Field<'_>,
    field: Option<&Field<'_>>,
) -> Option<Probe> {
    let Some(field) = field else {
        missing(decoder, check, "exec", "command", "[php-fpm-healthcheck]");
        return None;
    };
    let command = decoder.command(field)?;
    Some(Probe::Exec { command })
}

/// Splits `http://host:port/path?query` into `host:port` and `/path?query`.
/// The port defaults to 80 and the path to `/`; a `#fragment` is dropped.
pub(crate) fn parse_http_url(url: &str) -> Result<(String, String), Invalid> {
    let hint = "write http://host:port/path, like http://127.0.0.1:8080/health";
    let scheme_end = url.find("://").map_or(0, |index| index + 3);
    let scheme = url[..scheme_end].to_ascii_lowercase();
    if scheme == "https://" {
        let message = format!("`{url}`: the http health check doesn't support https");
        let hint = "probe the port with a tcp check, or use a plain http endpoint";
        return Err(Invalid {
            message,
            hint: Some(hint.to_owned()),
        });
    }
    if scheme != "http://" {
        let message = format!("`{url}` is not an http:// URL");
        return Err(Invalid {
            message,
            hint: Some(hint.to_owned()),
        });
    }

    let rest = &url[scheme_end..];
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if authority.contains('@') {
        let message = format!("`{url}` contains a user name, which the health check doesn't send");
        return Err(Invalid {
            message,
            hint: Some(hint.to_owned()),
        });
    }

    let authority = if has_port(authority) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    check_host_port(&authority).map_err(|invalid| Invalid {
        message: format!("`{url}` has an invalid host or port: {}", invalid.message),
        hint: Some(hint.to_owned()),
    })?;
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        let message = format!("`{url}` contains spaces or control characters");
        return Err(Invalid {
            message,
            hint: Some("encode them with %XX".to_owned()),
        });
    }
    Ok((authority, path))
}

/// Tells whether an authority ends in `:port`, allowing for `[ipv6]`.
fn has_port(authority: &str) -> bool {
    let after_host = authority
        .rfind(']')
        .map_or(authority, |index| &authority[index..]);
    after_host.contains(':')
}

/// Checks a `host:port` or `[ipv6]:port` address.
pub(crate) fn check_host_port(address: &str) -> Result<(), Invalid> {
    let hint = "write host:port, like 127.0.0.1:9000 or [::1]:9000";
    let invalid = |message: String| Invalid {
        message,
        hint: Some(hint.to_owned()),
    };

    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(invalid(format!("`{address}` has no port")));
    };
    let host_ok = match host.strip_prefix('[') {
        Some(bracketed) => bracketed
            .strip_suffix(']')
            .is_some_and(|inner| !inner.is_empty() && inner.parse::<std::net::Ipv6Addr>().is_ok()),
        None => {
            !host.is_empty()
                && !host.contains(':')
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        }
    };
    if !host_ok {
        return Err(invalid(format!("`{address}` has an invalid host")));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(invalid(format!("`{address}` has an invalid port"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Option<(String, String)> {
        parse_http_url(url).ok()
    }

    #[test]
    fn http_url_splits_authority_and_path() {
        let expected = ("127.0.0.1:8080".to_owned(), "/health?full=1".to_owned());

        assert_eq!(
            parsed("http://127.0.0.1:8080/health?full=1"),
            Some(expected)
        );
    }

    #[test]
    fn http_url_defaults_port_and_path() {
        assert_eq!(
            parsed("http://localhost"),
            Some(("localhost:80".to_owned(), "/".to_owned()))
        );
        assert_eq!(
            parsed("HTTP://[::1]?x"),
            Some(("[::1]:80".to_owned(), "/?x".to_owned()))
        );
        assert_eq!(
            parsed("http://web:80/a#frag"),
            Some(("web:80".to_owned(), "/a".to_owned()))
        );
    }

    #[test]
    fn https_url_is_rejected_with_advice() {
        let error = parse_http_url("https://localhost/health").err();
        let hint = error.and_then(|invalid| invalid.hint).unwrap_or_default();

        assert!(hint.contains("tcp check"), "{hint}");
    }

    #[test]
    fn malformed_urls_are_rejected() {
        let urls = [
            "localhost:8080/health",
            "ftp://host/x",
            "http://",
            "http://:8080/",
            "http://host:0/",
            "http://host:99999/",
            "http://user@host/",
            "http://host/a b",
            "http://[::1/",
        ];
        for url in urls {
            assert!(parse_http_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn host_port_accepts_names_and_addresses() {
        for address in [
            "127.0.0.1:9000",
            "php-fpm:9000",
            "[::1]:6379",
            "localhost:1",
        ] {
            assert!(check_host_port(address).is_ok(), "{address}");
        }
    }

    #[test]
    fn host_port_rejects_missing_parts() {
        for address in [
            "9000",
            ":9000",
            "host:",
            "host:port",
            "::1:80",
            "[]:80",
            "a b:80",
        ] {
            assert!(check_host_port(address).is_err(), "{address}");
        }
    }
}
