//! `phpeek-pm health` and `phpeek-pm ctl`: the commands that talk to a
//! running phpeek-pm over HTTP.

use std::net::IpAddr;
use std::process::ExitCode;

use phpeek::ctl::{self, Client};

use crate::cli::CtlArgs;
use crate::ConfigSource;

/// Probes `/readyz`: exit 0 when ready, 1 otherwise.
pub(crate) fn health(source: &ConfigSource, url: Option<String>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match local_readyz(source) {
            Some(url) => url,
            None => {
                eprintln!(
                    "phpeek-pm health: the metrics endpoint, which serves /readyz, is disabled"
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let outcome = block_on(ctl::probe(&url));
    match outcome {
        Some(Ok((ready, body))) => {
            println!("{}", body.trim_end());
            if ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some(Err(error)) => {
            eprintln!("phpeek-pm health: {}", chain(&error));
            ExitCode::FAILURE
        }
        None => ExitCode::FAILURE,
    }
}

/// Returns the URL of the local `/readyz` from the config, or the default
/// port when the config can't be loaded; none when metrics are disabled.
fn local_readyz(source: &ConfigSource) -> Option<String> {
    let Ok(loaded) = source.load() else {
        return Some("http://127.0.0.1:9090/readyz".to_owned());
    };
    let metrics = loaded.config.global.metrics;
    if !metrics.enabled {
        return None;
    }
    // A wildcard bind is reachable on loopback.
    let host = match metrics.address {
        address if address.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(address) => format!("[{address}]"),
        IpAddr::V4(address) => address.to_string(),
    };
    Some(format!("http://{host}:{}/readyz", metrics.port))
}

/// Returns the API URL and token: the flags or variables when given, else
/// the config's API address, port and token, else the default address.
fn api_target(
    source: &ConfigSource,
    url: Option<String>,
    token: Option<String>,
) -> (String, Option<String>) {
    if let (Some(url), Some(token)) = (&url, &token) {
        return (url.clone(), Some(token.clone()));
    }
    let api = source.load().ok().map(|loaded| loaded.config.global.api);
    let url = url.unwrap_or_else(|| match &api {
        Some(api) => {
            let host = match api.address {
                address if address.is_unspecified() => "127.0.0.1".to_owned(),
                IpAddr::V6(address) => format!("[{address}]"),
                IpAddr::V4(address) => address.to_string(),
            };
            format!("http://{host}:{}", api.port)
        }
        None => "http://127.0.0.1:9180".to_owned(),
    });
    let token = token.or_else(|| api?.token.map(|token| token.expose().to_owned()));
    (url, token)
}

/// Runs one `ctl` subcommand.
pub(crate) fn ctl(source: &ConfigSource, args: CtlArgs) -> ExitCode {
    let (url, token) = api_target(source, args.url, args.token);
    let client = match Client::new(&url, token) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("phpeek-pm ctl: {}", chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let action = args.action.into_action();
    match block_on(client.run(&action, args.json)) {
        Some(Ok(text)) => {
            print!("{text}");
            if args.json {
                println!();
            }
            ExitCode::SUCCESS
        }
        Some(Err(error)) => {
            eprintln!("phpeek-pm ctl: {}", chain(&error));
            ExitCode::FAILURE
        }
        None => ExitCode::FAILURE,
    }
}

/// Runs `future` on a current-thread runtime; none when the runtime can't
/// start, after printing why.
fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime.block_on(future)),
        Err(error) => {
            eprintln!("phpeek-pm: could not start the async runtime: {error}");
            None
        }
    }
}

/// Formats an error with its causes.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
