//! The whole stack: phpeek-entrypoint execs the real phpeek-pm, which runs
//! php-fpm and nginx from the rendered configs and serves examples/app.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{get, path_text, wait_until_serving, Sandbox};

/// Sends GET `path` from the source address `source`, with `headers`
/// (each ending in CRLF), and returns the status.
fn get_from(source: &str, port: u16, path: &str, headers: &str) -> std::io::Result<u16> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;

    let parse = |text: &str| {
        text.parse::<SockaddrIn>()
            .map_err(|error| std::io::Error::other(format!("{text}: {error}")))
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )?;
    bind(fd.as_raw_fd(), &parse(&format!("{source}:0"))?)?;
    connect(fd.as_raw_fd(), &parse(&format!("127.0.0.1:{port}"))?)?;
    let mut stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok());
    Ok(status.unwrap_or(0))
}

/// Copies examples/app/public into the sandbox's app, readable by all, so
/// workers running as the app user can read it.
fn install_example_app(sandbox: &Sandbox) {
    let source = support::repo_dir().join("examples/app/public");
    for entry in std::fs::read_dir(source).expect("read examples/app/public") {
        let path = entry.expect("entry").path();
        let target = sandbox
            .path("app/public")
            .join(path.file_name().expect("name"));
        std::fs::copy(&path, &target).expect("copy example file");
    }
    sandbox.write("app/public/style.css", "body { color: black; }\n");
    sandbox.write("app/public/uploads/evil.php", "<?php echo 'executed';\n");
    sandbox.write("app/public/.env", "SECRET=1\n");
    sandbox.write("app/public/.hidden/app.js", "secret();\n");
}

#[test]
fn stack_serves_example_app_and_stops_on_sigterm() {
    let Some(pm) = support::phpeek_pm() else {
        support::skip_without_phpeek_pm();
        return;
    };
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    install_example_app(&sandbox);
    // With loopback trusted, a forwarded header could claim 127.0.0.1; the
    // loopback-only /health check must look at the peer itself.
    sandbox
        .set("PHPEEK_PM_BIN", &path_text(&pm))
        .set("NGINX_TRUSTED_PROXIES", "127.0.0.0/8")
        .set("NGINX_HEALTH_LOCAL_ONLY", "true");
    let port: u16 = sandbox.var("NGINX_HTTP_PORT").parse().expect("port");
    let mut child = sandbox.spawn_logged("stack.log");
    let transcript = || sandbox.read("stack.log");

    let serving = wait_until_serving(port, Duration::from_secs(30));
    let page = get(port, "/");
    let health = get(port, "/health");
    let forwarded = "X-Forwarded-For: 127.0.0.1\r\n";
    let remote_health = get_from("127.0.0.2", port, "/health", forwarded);
    let remote_page = get_from("127.0.0.2", port, "/", "");
    let upload = get(port, "/uploads/evil.php");
    let dotfile = get(port, "/.env");
    let hidden_static = get(port, "/.hidden/app.js");
    let style = get(port, "/style.css");
    let code = support::stop(&mut child);

    assert!(serving, "never served GET /:\n{}", transcript());
    let (status, _, body) = page.expect("GET /");
    assert_eq!(status, 200);
    assert!(body.contains("hello from phpeek"), "{body}");
    let (status, _, body) = health.expect("GET /health");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(remote_health.expect("GET /health from 127.0.0.2"), 404);
    assert_eq!(remote_page.expect("GET / from 127.0.0.2"), 200);
    let (status, _, body) = upload.expect("GET /uploads/evil.php");
    assert_eq!(status, 404);
    assert!(!body.contains("executed"));
    assert_eq!(dotfile.expect("GET /.env").0, 404);
    assert_eq!(hidden_static.expect("GET /.hidden/app.js").0, 404);
    let (status, head, _) = style.expect("GET /style.css");
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        head.contains("cache-control: max-age=31536000, public, immutable"),
        "{head}"
    );
    assert_eq!(head.matches("cache-control").count(), 1, "{head}");
    assert_eq!(
        code,
        Some(0),
        "phpeek-pm did not stop cleanly:\n{}",
        transcript()
    );
    assert!(
        transcript().contains("\"msg\":\"shutdown finished\""),
        "{}",
        transcript()
    );
}

/// An `artisan` that records each command it runs, with the uid and the
/// working directory, in bootstrap/cache/commands.log.
const RECORDING_ARTISAN: &str = r#"<?php
$line = implode(' ', array_slice($argv, 1)) . ' uid=' . posix_getuid() . ' cwd=' . getcwd() . "\n";
file_put_contents(__DIR__ . '/bootstrap/cache/commands.log', $line, FILE_APPEND);
"#;

#[test]
fn laravel_hooks_run_as_app_user() {
    let Some(pm) = support::phpeek_pm() else {
        support::skip_without_phpeek_pm();
        return;
    };
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    install_example_app(&sandbox);
    sandbox.write("app/artisan", RECORDING_ARTISAN);
    let database = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let database = database.local_addr().expect("address").to_string();
    sandbox
        .set("PHPEEK_PM_BIN", &path_text(&pm))
        .set("PHP_BIN", "php")
        .set("LARAVEL_OPTIMIZE_CONFIG", "true")
        .set("LARAVEL_AUTO_MIGRATE", "yes")
        .set("LARAVEL_MIGRATE_WAIT_FOR", &database)
        .set("LARAVEL_MIGRATE_WAIT_TIMEOUT", "10");
    let port: u16 = sandbox.var("NGINX_HTTP_PORT").parse().expect("port");
    let mut child = sandbox.spawn_logged("stack.log");

    let serving = wait_until_serving(port, Duration::from_secs(30));
    let code = support::stop(&mut child);

    let transcript = sandbox.read("stack.log");
    assert!(serving, "never served GET /:\n{transcript}");
    assert_eq!(code, Some(0), "{transcript}");
    let uid = if support::is_root() {
        nix::unistd::User::from_name("www-data")
            .ok()
            .flatten()
            .map_or(0, |user| user.uid.as_raw())
    } else {
        nix::unistd::Uid::effective().as_raw()
    };
    let app = path_text(&sandbox.path("app"));
    let expected: Vec<String> = ["storage:link", "config:cache", "migrate --force"]
        .iter()
        .map(|command| format!("{command} uid={uid} cwd={app}"))
        .collect();
    let recorded = sandbox.read("app/bootstrap/cache/commands.log");
    assert_eq!(
        recorded.lines().collect::<Vec<_>>(),
        expected,
        "{transcript}"
    );
    assert!(transcript.contains("accepts connections"), "{transcript}");
    assert!(transcript.contains("legacy variables in use: LARAVEL_AUTO_MIGRATE"));
}
