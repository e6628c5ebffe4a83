//! Decoding the `global` keys of the two HTTP listeners: the metrics
//! endpoint (`metrics_*`) and the management API (`api_*`).
//!
//! The API can stop and scale every process, so it must not be reachable
//! from the network without a token: a bind address other than loopback
//! without `api_auth` is an error, not a warning.

use std::net::IpAddr;

use super::fields::{Decoder, Field, Fields};
use super::model::{ApiSettings, MetricsSettings, Secret};

/// Paths served beside the metrics, which `metrics_path` must not take.
const PROBE_PATHS: &[&str] = &["/healthz", "/readyz"];

/// Reads the `metrics_*` and `api_*` keys of `global`.
pub(crate) fn decode(
    decoder: &mut Decoder<'_>,
    fields: &mut Fields<'_>,
) -> (MetricsSettings, ApiSettings) {
    let metrics = decode_metrics(decoder, fields);
    let api = decode_api(decoder, fields);
    if metrics.enabled && api.enabled && metrics.port == api.port {
        if let Some(field) = fields
            .get("api_port")
            .or_else(|| fields.get("metrics_port"))
        {
            let message = format!(
                "metrics_port and api_port are both {}, but the two listeners need separate ports",
                api.port
            );
            decoder
                .error(&field, message)
                .set_hint("change one of them; the defaults are 9090 and 9180");
        }
    }
    (metrics, api)
}

fn decode_metrics(decoder: &mut Decoder<'_>, fields: &mut Fields<'_>) -> MetricsSettings {
    let defaults = MetricsSettings::default();
    let enabled = decoder.read(fields, "metrics_enabled", Decoder::bool);
    let address = decoder.read(fields, "metrics_address", address);
    let port = decoder.read(fields, "metrics_port", port);
    let path = decoder.read(fields, "metrics_path", metrics_path);
    MetricsSettings {
        enabled: enabled.unwrap_or(defaults.enabled),
        address: address.unwrap_or(defaults.address),
        port: port.unwrap_or(defaults.port),
        path: path.unwrap_or(defaults.path),
    }
}

fn decode_api(decoder: &mut Decoder<'_>, fields: &mut Fields<'_>) -> ApiSettings {
    let defaults = ApiSettings::default();
    let enabled = decoder.read(fields, "api_enabled", Decoder::bool);
    let address_field = fields.get("api_address");
    let address = address_field
        .as_ref()
        .and_then(|field| address(decoder, field));
    let port = decoder.read(fields, "api_port", port);
    let token = decoder.read(fields, "api_auth", token);
    let max_request_body = decoder.read(fields, "api_max_request_body", |decoder, field| {
        let size = decoder.size(field)?;
        if size == 0 {
            decoder.error(field, "must be greater than 0");
            return None;
        }
        Some(size)
    });

    let settings = ApiSettings {
        enabled: enabled.unwrap_or(defaults.enabled),
        address: address.unwrap_or(defaults.address),
        port: port.unwrap_or(defaults.port),
        token: token.flatten(),
        max_request_body: max_request_body.unwrap_or(defaults.max_request_body),
    };
    if settings.enabled && settings.token.is_none() && !settings.address.is_loopback() {
        if let Some(field) = &address_field {
            let message = format!(
                "the management API would listen on {} without a token, \
                 so anyone who reaches that address could stop every process",
                settings.address
            );
            let hint = "set global.api_auth (or PHPEEK_PM_API_TOKEN) to a secret token, \
                        or set global.api_address to 127.0.0.1";
            decoder.error(field, message).set_hint(hint);
        }
    }
    settings
}

fn address(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<IpAddr> {
    let text = decoder.text(field)?;
    match text.trim().parse() {
        Ok(address) => Some(address),
        Err(_) => {
            let message = format!("invalid IP address `{text}`");
            let hint = "use an address such as 127.0.0.1, 0.0.0.0 or ::";
            decoder.error(field, message).set_hint(hint);
            None
        }
    }
}

fn port(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<u16> {
    let port = decoder.int(field, 1, i64::from(u16::MAX))?;
    u16::try_from(port).ok()
}

fn metrics_path(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<String> {
    let path = decoder.text(field)?;
    // Only characters that need no escaping in a URL and mean nothing to the
    // router, which reads `{name}`, `*` and `:` as patterns.
    let valid = path.starts_with('/')
        && path.len() > 1
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'));
    if !valid {
        let message = format!("invalid metrics path `{path}`");
        let hint = "use an absolute path of letters, digits and / - _ . ~, such as /metrics";
        decoder.error(field, message).set_hint(hint);
        return None;
    }
    if PROBE_PATHS.contains(&path.as_str()) {
        let message = format!("metrics path `{path}` is taken by the health probe");
        decoder.error(field, message).set_hint("use /metrics");
        return None;
    }
    Some(path)
}

/// Reads the token; an empty value means no token.
fn token(decoder: &mut Decoder<'_>, field: &Field<'_>) -> Option<Option<Secret>> {
    let token = decoder.text(field)?;
    if token.is_empty() {
        return Some(None);
    }
    // A token travels in an HTTP header, where spaces and control characters
    // would be cut or rejected.
    if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        let message = "the API token may contain only printable ASCII characters without spaces";
        decoder
            .error(field, message)
            .set_hint("generate one with `openssl rand -hex 32`");
        return None;
    }
    Some(Some(Secret::new(token)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, only_error};

    const WEB: &str = "processes:\n  web:\n    command: [nginx]\n";

    fn with_global(global: &str) -> String {
        format!("global:\n{global}{WEB}")
    }

    #[test]
    fn defaults_bind_metrics_everywhere_and_api_to_loopback() {
        let global = config(WEB).global;

        assert!(!global.metrics.enabled);
        assert_eq!(global.metrics.address.to_string(), "0.0.0.0");
        assert_eq!(global.metrics.port, 9090);
        assert_eq!(global.metrics.path, "/metrics");
        assert!(!global.api.enabled);
        assert_eq!(global.api.address.to_string(), "127.0.0.1");
        assert_eq!(global.api.port, 9180);
        assert_eq!(global.api.token, None);
        assert_eq!(global.api.max_request_body, 65536);
    }

    #[test]
    fn keys_are_read_without_warnings() {
        let yaml = with_global(
            "  metrics_enabled: false\n  metrics_address: 127.0.0.1\n  metrics_port: 9191\n  \
             metrics_path: /prom\n  api_enabled: true\n  api_address: '::'\n  api_port: 9200\n  \
             api_auth: s3cret\n  api_max_request_body: 1KiB\n",
        );
        let loaded = super::super::testing::loaded(&yaml);
        let global = loaded.config.global;

        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert!(!global.metrics.enabled);
        assert_eq!(global.metrics.address.to_string(), "127.0.0.1");
        assert_eq!(global.metrics.port, 9191);
        assert_eq!(global.metrics.path, "/prom");
        assert_eq!(global.api.address.to_string(), "::");
        assert_eq!(global.api.port, 9200);
        assert_eq!(
            global.api.token.as_ref().map(|t| t.expose()),
            Some("s3cret")
        );
        assert_eq!(global.api.max_request_body, 1024);
    }

    #[test]
    fn public_api_without_token_is_an_error() {
        let yaml = with_global("  api_enabled: true\n  api_address: 0.0.0.0\n");
        let error = only_error(&yaml);

        assert_eq!(error.path, "global.api_address");
        assert!(
            error.message.contains("without a token"),
            "{}",
            error.message
        );
        let hint = error.hint.unwrap_or_default();
        assert!(hint.contains("api_auth"), "{hint}");
        assert!(hint.contains("PHPEEK_PM_API_TOKEN"), "{hint}");
    }

    #[test]
    fn public_api_with_token_loads() {
        let yaml = with_global("  api_enabled: true\n  api_address: 0.0.0.0\n  api_auth: abc\n");
        assert!(config(&yaml).global.api.enabled);
    }

    #[test]
    fn disabled_public_api_needs_no_token() {
        let yaml = with_global("  api_enabled: false\n  api_address: 0.0.0.0\n");
        assert!(!config(&yaml).global.api.enabled);
    }

    #[test]
    fn empty_token_means_none() {
        let yaml = with_global("  api_auth: ''\n");
        assert_eq!(config(&yaml).global.api.token, None);
    }

    #[test]
    fn token_with_space_is_rejected() {
        let error = only_error(&with_global("  api_auth: 'a b'\n"));
        assert_eq!(error.path, "global.api_auth");
    }

    #[test]
    fn same_port_for_both_listeners_is_rejected() {
        let yaml = with_global("  metrics_enabled: true\n  api_enabled: true\n  api_port: 9090\n");
        let error = only_error(&yaml);
        assert_eq!(error.path, "global.api_port");
    }

    #[test]
    fn invalid_values_are_rejected() {
        for (global, path) in [
            ("  metrics_port: 0\n", "global.metrics_port"),
            ("  metrics_port: 70000\n", "global.metrics_port"),
            ("  metrics_address: localhost\n", "global.metrics_address"),
            ("  metrics_path: metrics\n", "global.metrics_path"),
            ("  metrics_path: /readyz\n", "global.metrics_path"),
            ("  metrics_path: \"/a/*rest\"\n", "global.metrics_path"),
            ("  metrics_path: \"/:x\"\n", "global.metrics_path"),
            ("  metrics_path: \"/{x}\"\n", "global.metrics_path"),
            ("  metrics_path: \"/m}\"\n", "global.metrics_path"),
            ("  api_max_request_body: 0\n", "global.api_max_request_body"),
        ] {
            let error = only_error(&with_global(global));
            assert_eq!(error.path, path, "{global}");
        }
    }

    #[test]
    fn every_accepted_metrics_path_builds_a_router() {
        for path in ["/metrics", "/prom/v1.0/scrape_~x-y", "/a/"] {
            let yaml = with_global(&format!("  metrics_path: {path}\n"));
            assert_eq!(config(&yaml).global.metrics.path, path);
            // The router panics on a path it can't route; this must not.
            let _ = axum::Router::<()>::new().route(path, axum::routing::get(|| async { "" }));
        }
    }

    #[test]
    fn secret_debug_hides_the_value() {
        let secret = super::Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
