//! Decoding `health_check` and checking probe addresses and URLs.

use std::time::Duration;

use super::fields::{Decoder, Field};
use super::model::{HealthCheck, Probe};
use super::values::Invalid;
use crate::config::Redaction;
use crate::output::Redactor;

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

    let kind_field = fields.get("type");
    let kind = kind_field
        .as_ref()
        .and_then(|kind| decoder.choice(kind, "health check type", PROBE_KINDS));
    if kind_field.is_none() {
        let hint = "set `type` to tcp, http or exec";
        let message = "health check has no `type`";
        decoder
            .error_at(&field.node.origin, &field.path, message)
            .set_hint(hint);
    }
    let address = fields.get("address");
    let url = fields.get("url");
    let command = fields.get("command");
    let expected_status = fields.get("expected_status");
    let at_least_one = |decoder: &mut Decoder<'_>, field: &Field<'_>| decoder.count(field, 1);
    let initial_delay = decoder.read(&mut fields, "initial_delay", Decoder::duration);
    let period = decoder.read(&mut fields, "period", Decoder::positive_duration);
    let timeout = decoder.read(&mut fields, "timeout", Decoder::positive_duration);
    let failure_threshold = decoder.read(&mut fields, "failure_threshold", at_least_one);
    let success_threshold = decoder.read(&mut fields, "success_threshold", at_least_one);
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
    Some(HealthCheck {
        probe: probe?,
        initial_delay: initial_delay.unwrap_or(Duration::ZERO),
        period: period.unwrap_or(Duration::from_secs(10)),
        timeout: timeout.unwrap_or(Duration::from_secs(3)),
        failure_threshold: failure_threshold.unwrap_or(3),
        success_threshold: success_threshold.unwrap_or(1),
    })
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
    // Errors are printed, so they show the URL with its password and
    // secret query values replaced, as the log would.
    let redactor = Redactor::new(&Redaction::default());
    let redacted_url = redactor.redact(url);
    let scheme_end = url.find("://").map_or(0, |index| index + 3);
    let scheme = url[..scheme_end].to_ascii_lowercase();
    if scheme == "https://" {
        let message = format!("`{redacted_url}`: the http health check doesn't support https");
        let hint = "probe the port with a tcp check, or use a plain http endpoint";
        return Err(Invalid {
            message,
            hint: Some(hint.to_owned()),
        });
    }
    if scheme != "http://" {
        let message = format!("`{redacted_url}` is not an http:// URL");
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
        let message =
            format!("`{redacted_url}` contains a user name, which the health check doesn't send");
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
        message: format!(
            "`{redacted_url}` has an invalid host or port: {}",
            invalid.message
        ),
        hint: Some(hint.to_owned()),
    })?;
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        let message = format!("`{redacted_url}` contains spaces or control characters");
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
    use super::super::testing::{config, errors, loaded, only_error, position};
    use super::*;

    /// Builds a file with a process `web` whose `health_check` is `body`, indented by six.
    fn with_check(body: &str) -> String {
        format!("processes:\n  web:\n    command: [a]\n    health_check:\n{body}")
    }

    fn check(body: &str) -> Option<HealthCheck> {
        config(&with_check(body)).processes.remove(0).health_check
    }

    #[test]
    fn tcp_check_reads_address_and_defaults() {
        let check = check("      type: tcp\n      address: 127.0.0.1:${FPM_PORT}\n");
        let check = check.unwrap_or_else(|| panic!("no health check"));

        assert_eq!(
            check.probe,
            Probe::Tcp {
                address: "127.0.0.1:9000".to_owned()
            }
        );
        assert_eq!(check.initial_delay, Duration::ZERO);
        assert_eq!(check.period, Duration::from_secs(10));
        assert_eq!(check.timeout, Duration::from_secs(3));
        assert_eq!(check.failure_threshold, 3);
        assert_eq!(check.success_threshold, 1);
    }

    #[test]
    fn http_check_reads_url_and_status() {
        let body = "      type: http\n      url: http://localhost:8080/up\n      \
                    expected_status: 204\n      period: 30\n      timeout: 500ms\n";
        let check = check(body).unwrap_or_else(|| panic!("no health check"));
        let expected = Probe::Http {
            url: "http://localhost:8080/up".to_owned(),
            authority: "localhost:8080".to_owned(),
            path: "/up".to_owned(),
            expected_status: 204,
        };

        assert_eq!(check.probe, expected);
        assert_eq!(check.period, Duration::from_secs(30));
        assert_eq!(check.timeout, Duration::from_millis(500));
    }

    #[test]
    fn exec_check_reads_command() {
        let check = check("      type: exec\n      command: php-fpm-healthcheck -v\n");
        let probe = check.map(|check| check.probe);

        let command = vec!["php-fpm-healthcheck".to_owned(), "-v".to_owned()];
        assert_eq!(probe, Some(Probe::Exec { command }));
    }

    #[test]
    fn https_url_is_an_error_at_the_url() {
        let error = only_error(&with_check("      type: http\n      url: https://x/\n"));

        assert_eq!(error.path, "processes.web.health_check.url");
        assert_eq!(position(&error), (Some(6), Some(12)));
        assert!(error.hint.is_some_and(|hint| hint.contains("tcp check")));
    }

    #[test]
    fn tcp_address_without_port_is_an_error() {
        let error = only_error(&with_check("      type: tcp\n      address: localhost\n"));

        assert_eq!(error.path, "processes.web.health_check.address");
        assert_eq!(error.message, "`localhost` has no port");
    }

    #[test]
    fn missing_type_and_missing_address_are_errors() {
        let error = only_error(&with_check("      period: 5\n"));
        assert_eq!(error.message, "health check has no `type`");
        assert_eq!(position(&error), (Some(5), Some(7)));

        let error = only_error(&with_check("      type: tcp\n"));
        assert_eq!(error.message, "a tcp health check needs `address`");
    }

    #[test]
    fn zero_thresholds_and_timings_are_all_reported() {
        let body = "      type: exec\n      command: [true]\n      failure_threshold: 0\n      \
                    success_threshold: 0\n      timeout: 0\n      period: 0s\n";
        let errors = errors(&with_check(body));
        let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();

        assert_eq!(
            paths,
            [
                "processes.web.health_check.failure_threshold",
                "processes.web.health_check.success_threshold",
                "processes.web.health_check.timeout",
                "processes.web.health_check.period",
            ]
        );
        assert_eq!(position(&errors[0]), (Some(7), Some(26)));
        assert_eq!(
            errors[0].hint.as_deref(),
            Some("use a number from 1 to 4294967295")
        );
    }

    #[test]
    fn keys_of_other_probe_types_are_warnings() {
        let body = "      type: tcp\n      address: a:1\n      url: http://a/\n      mode: both\n";
        let warnings = loaded(&with_check(body)).warnings;
        let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();

        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], "`url` has no effect on a tcp health check");
        assert!(messages[1].starts_with("`mode` is accepted for compatibility"));
    }

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
    fn url_errors_hide_password_and_token() {
        let url = "http://admin:hunter2@127.0.0.1:1/health?token=hunter3";

        let Err(error) = parse_http_url(url) else {
            panic!("a URL with a user name was accepted");
        };

        assert!(!error.message.contains("hunter2"), "{}", error.message);
        assert!(!error.message.contains("hunter3"), "{}", error.message);
        assert!(error.message.contains("admin:"), "{}", error.message);
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
