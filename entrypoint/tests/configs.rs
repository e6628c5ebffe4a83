//! Rendering and checking the configs with the real binary, php-fpm -t and
//! nginx -t. PHPEEK_PM_BIN is `true`, so a successful start ends in exit 0
//! right after the checks.

mod support;

use std::collections::BTreeSet;

use support::{path_text, Sandbox};

/// A non-default value for every NGINX_* and PHP_* variable, the file it
/// must show up in, and the text it must render to there.
fn samples(sandbox: &Sandbox) -> Vec<(&'static str, String, &'static str, String)> {
    let port = sandbox.var("NGINX_HTTP_PORT").to_owned();
    let fpm = sandbox.var("PHP_FPM_LISTEN").to_owned();
    let access_log = path_text(&sandbox.path("logs/access.log"));
    let error_log = path_text(&sandbox.path("logs/error.log"));
    let php_log = path_text(&sandbox.path("logs/php.log"));
    let webroot = path_text(&sandbox.path("app/web"));
    let nginx_bin = sandbox.var("NGINX_BIN").to_owned();
    let fpm_bin = sandbox.var("PHP_FPM_BIN").to_owned();
    let same = |value: &str| (value.to_owned(), value.to_owned());
    let nginx = "run/nginx.conf";
    let ini = "run/php.d/zz-phpeek.ini";
    let pool = "run/php-fpm.conf";
    let pm = "run/phpeek-pm.yaml";

    let mut rows = vec![
        (
            "NGINX_HTTP_PORT",
            same(&port),
            nginx,
            format!("listen 127.0.0.1:{port} default_server;"),
        ),
        (
            "NGINX_LISTEN_ADDRESS",
            same("127.0.0.1"),
            nginx,
            format!("listen 127.0.0.1:{port} "),
        ),
        (
            "NGINX_WEBROOT",
            same(&webroot),
            nginx,
            format!("root \"{webroot}\";"),
        ),
        (
            "NGINX_INDEX",
            same("index.html index.php"),
            nginx,
            "index index.html index.php;".into(),
        ),
        (
            "NGINX_WORKER_PROCESSES",
            same("2"),
            nginx,
            "worker_processes 2;".into(),
        ),
        (
            "NGINX_WORKER_CONNECTIONS",
            same("512"),
            nginx,
            "worker_connections 512;".into(),
        ),
        (
            "NGINX_CLIENT_MAX_BODY_SIZE",
            same("12m"),
            nginx,
            "client_max_body_size 12m;".into(),
        ),
        (
            "NGINX_CLIENT_BODY_TIMEOUT",
            same("15s"),
            nginx,
            "client_body_timeout 15s;".into(),
        ),
        (
            "NGINX_CLIENT_HEADER_TIMEOUT",
            same("2m"),
            nginx,
            "client_header_timeout 2m;".into(),
        ),
        (
            "NGINX_SERVER_TOKENS",
            same("on"),
            nginx,
            "server_tokens on;".into(),
        ),
        (
            "NGINX_ACCESS_LOG",
            same(&access_log),
            nginx,
            format!("    access_log \"{access_log}\" phpeek;"),
        ),
        (
            "NGINX_STATIC_ACCESS_LOG",
            same("yes"),
            nginx,
            format!("            access_log \"{access_log}\" phpeek;"),
        ),
        (
            "NGINX_ERROR_LOG",
            same(&error_log),
            nginx,
            format!("error_log \"{error_log}\" notice;"),
        ),
        (
            "NGINX_ERROR_LOG_LEVEL",
            same("notice"),
            nginx,
            "notice;".into(),
        ),
        (
            "NGINX_TRY_FILES",
            same("/index.php?$args"),
            nginx,
            "try_files $uri $uri/ /index.php?$args;".into(),
        ),
        (
            "NGINX_FASTCGI_PASS",
            same("127.0.0.1:9999"),
            nginx,
            "fastcgi_pass 127.0.0.1:9999;".into(),
        ),
        (
            "NGINX_FASTCGI_BUFFERS",
            same("8 32k"),
            nginx,
            "fastcgi_buffers 8 32k;".into(),
        ),
        (
            "NGINX_FASTCGI_BUFFER_SIZE",
            same("16k"),
            nginx,
            "fastcgi_buffer_size 16k;".into(),
        ),
        (
            "NGINX_FASTCGI_BUSY_BUFFERS_SIZE",
            same("48k"),
            nginx,
            "fastcgi_busy_buffers_size 48k;".into(),
        ),
        (
            "NGINX_FASTCGI_CONNECT_TIMEOUT",
            same("5s"),
            nginx,
            "fastcgi_connect_timeout 5s;".into(),
        ),
        (
            "NGINX_FASTCGI_SEND_TIMEOUT",
            same("70s"),
            nginx,
            "fastcgi_send_timeout 70s;".into(),
        ),
        (
            "NGINX_FASTCGI_READ_TIMEOUT",
            same("300"),
            nginx,
            "fastcgi_read_timeout 300;".into(),
        ),
        (
            "NGINX_STATIC_EXPIRES",
            same("2d"),
            nginx,
            "add_header Cache-Control \"max-age=172800, ".into(),
        ),
        (
            "NGINX_STATIC_CACHE_CONTROL",
            same("public"),
            nginx,
            "\"max-age=172800, public\" always;".into(),
        ),
        ("NGINX_GZIP", same("off"), nginx, "gzip off;".into()),
        (
            "NGINX_GZIP_VARY",
            same("FALSE"),
            nginx,
            "gzip_vary off;".into(),
        ),
        (
            "NGINX_GZIP_PROXIED",
            same("expired no-cache"),
            nginx,
            "gzip_proxied expired no-cache;".into(),
        ),
        (
            "NGINX_GZIP_COMP_LEVEL",
            same("2"),
            nginx,
            "gzip_comp_level 2;".into(),
        ),
        (
            "NGINX_GZIP_MIN_LENGTH",
            same("256"),
            nginx,
            "gzip_min_length 256;".into(),
        ),
        (
            "NGINX_GZIP_TYPES",
            same("text/css application/json"),
            nginx,
            "gzip_types text/css application/json;".into(),
        ),
        (
            "NGINX_OPEN_FILE_CACHE",
            same("max=500 inactive=1m"),
            nginx,
            "open_file_cache max=500 inactive=1m;".into(),
        ),
        (
            "NGINX_OPEN_FILE_CACHE_VALID",
            same("45s"),
            nginx,
            "open_file_cache_valid 45s;".into(),
        ),
        (
            "NGINX_OPEN_FILE_CACHE_MIN_USES",
            same("3"),
            nginx,
            "open_file_cache_min_uses 3;".into(),
        ),
        (
            "NGINX_OPEN_FILE_CACHE_ERRORS",
            same("no"),
            nginx,
            "open_file_cache_errors off;".into(),
        ),
        (
            "NGINX_TRUSTED_PROXIES",
            same("10.0.0.0/8,fd00::/8"),
            nginx,
            "set_real_ip_from 10.0.0.0/8;\n    set_real_ip_from fd00::/8;".into(),
        ),
        (
            "NGINX_REAL_IP_HEADER",
            same("X-Real-IP"),
            nginx,
            "real_ip_header X-Real-IP;".into(),
        ),
        (
            "NGINX_REAL_IP_RECURSIVE",
            same("0"),
            nginx,
            "real_ip_recursive off;".into(),
        ),
        (
            "NGINX_BIN",
            same(&nginx_bin),
            pm,
            format!("command: [\"{nginx_bin}\", \"-p\""),
        ),
        (
            "PHP_MEMORY_LIMIT",
            same("321M"),
            ini,
            "memory_limit = 321M\n".into(),
        ),
        (
            "PHP_MAX_EXECUTION_TIME",
            same("33"),
            ini,
            "max_execution_time = 33\n".into(),
        ),
        (
            "PHP_MAX_INPUT_TIME",
            same("-1"),
            ini,
            "max_input_time = -1\n".into(),
        ),
        (
            "PHP_POST_MAX_SIZE",
            same("12M"),
            ini,
            "post_max_size = 12M\n".into(),
        ),
        (
            "PHP_UPLOAD_MAX_FILESIZE",
            same("11M"),
            ini,
            "upload_max_filesize = 11M\n".into(),
        ),
        (
            "PHP_MAX_FILE_UPLOADS",
            same("7"),
            ini,
            "max_file_uploads = 7\n".into(),
        ),
        (
            "PHP_MAX_INPUT_VARS",
            same("3000"),
            ini,
            "max_input_vars = 3000\n".into(),
        ),
        (
            "PHP_DATE_TIMEZONE",
            same("Europe/Berlin"),
            ini,
            "date.timezone = \"Europe/Berlin\"\n".into(),
        ),
        (
            "PHP_DISPLAY_ERRORS",
            same("stderr"),
            ini,
            "display_errors = stderr\n".into(),
        ),
        (
            "PHP_DISPLAY_STARTUP_ERRORS",
            same("on"),
            ini,
            "display_startup_errors = On\n".into(),
        ),
        (
            "PHP_ERROR_REPORTING",
            same("E_ALL"),
            ini,
            "error_reporting = E_ALL\n".into(),
        ),
        (
            "PHP_LOG_ERRORS",
            same("off"),
            ini,
            "log_errors = Off\n".into(),
        ),
        (
            "PHP_ERROR_LOG",
            same(&php_log),
            ini,
            format!("error_log = \"{php_log}\"\n"),
        ),
        (
            "PHP_OPCACHE_ENABLE",
            same("false"),
            ini,
            "opcache.enable = 0\n".into(),
        ),
        (
            "PHP_OPCACHE_MEMORY_CONSUMPTION",
            same("64"),
            ini,
            "opcache.memory_consumption = 64\n".into(),
        ),
        (
            "PHP_OPCACHE_INTERNED_STRINGS_BUFFER",
            same("8"),
            ini,
            "opcache.interned_strings_buffer = 8\n".into(),
        ),
        (
            "PHP_OPCACHE_MAX_ACCELERATED_FILES",
            same("4000"),
            ini,
            "opcache.max_accelerated_files = 4000\n".into(),
        ),
        (
            "PHP_OPCACHE_VALIDATE_TIMESTAMPS",
            same("off"),
            ini,
            "opcache.validate_timestamps = 0\n".into(),
        ),
        (
            "PHP_OPCACHE_REVALIDATE_FREQ",
            same("0"),
            ini,
            "opcache.revalidate_freq = 0\n".into(),
        ),
        (
            "PHP_OPCACHE_JIT",
            same("function"),
            ini,
            "opcache.jit = function\n".into(),
        ),
        (
            "PHP_OPCACHE_JIT_BUFFER_SIZE",
            same("32M"),
            ini,
            "opcache.jit_buffer_size = 32M\n".into(),
        ),
        (
            "PHP_FPM_LISTEN",
            same(&fpm),
            pool,
            format!("listen = {fpm}\n"),
        ),
        ("PHP_FPM_PM", same("static"), pool, "pm = static\n".into()),
        (
            "PHP_FPM_PM_MAX_CHILDREN",
            same("12"),
            pool,
            "pm.max_children = 12\n".into(),
        ),
        (
            "PHP_FPM_PM_START_SERVERS",
            same("3"),
            pool,
            "pm.start_servers = 3\n".into(),
        ),
        (
            "PHP_FPM_PM_MIN_SPARE_SERVERS",
            same("2"),
            pool,
            "pm.min_spare_servers = 2\n".into(),
        ),
        (
            "PHP_FPM_PM_MAX_SPARE_SERVERS",
            same("6"),
            pool,
            "pm.max_spare_servers = 6\n".into(),
        ),
        (
            "PHP_FPM_PM_MAX_REQUESTS",
            same("1000"),
            pool,
            "pm.max_requests = 1000\n".into(),
        ),
        (
            "PHP_FPM_PM_PROCESS_IDLE_TIMEOUT",
            same("30s"),
            pool,
            "pm.process_idle_timeout = 30s\n".into(),
        ),
        (
            "PHP_FPM_REQUEST_TERMINATE_TIMEOUT",
            same("2m"),
            pool,
            "request_terminate_timeout = 2m\n".into(),
        ),
        (
            "PHP_FPM_ACCESS_LOG",
            same("on"),
            pool,
            "access.log = /proc/self/fd/2\n".into(),
        ),
        (
            "PHP_FPM_BIN",
            same(&fpm_bin),
            pm,
            format!("command: [\"{fpm_bin}\", \"--nodaemonize\""),
        ),
        (
            "PHP_BIN",
            same("/usr/bin/php"),
            pm,
            "command: [\"/usr/bin/php\", \"artisan\", \"horizon\"]".into(),
        ),
    ];
    let headers = [
        ("NGINX_HEADER_X_FRAME_OPTIONS", "DENY", "X-Frame-Options"),
        (
            "NGINX_HEADER_X_CONTENT_TYPE_OPTIONS",
            "nosniff",
            "X-Content-Type-Options",
        ),
        (
            "NGINX_HEADER_X_XSS_PROTECTION",
            "1; mode=block",
            "X-XSS-Protection",
        ),
        (
            "NGINX_HEADER_CSP",
            "default-src 'self'; img-src * data:",
            "Content-Security-Policy",
        ),
        (
            "NGINX_HEADER_REFERRER_POLICY",
            "no-referrer",
            "Referrer-Policy",
        ),
        (
            "NGINX_HEADER_COOP",
            "same-origin",
            "Cross-Origin-Opener-Policy",
        ),
        (
            "NGINX_HEADER_COEP",
            "require-corp",
            "Cross-Origin-Embedder-Policy",
        ),
        (
            "NGINX_HEADER_CORP",
            "same-site",
            "Cross-Origin-Resource-Policy",
        ),
        (
            "NGINX_HEADER_PERMISSIONS_POLICY",
            "camera=()",
            "Permissions-Policy",
        ),
    ];
    for (name, value, header) in headers {
        let line = format!("add_header {header} \"{value}\" always;");
        rows.push((name, same(value), nginx, line));
    }
    rows.into_iter()
        .map(|(name, (value, _), file, expected)| (name, value, file, expected))
        .collect()
}

/// Names of the variables in `--print-env-table` that start with `prefix`.
fn table_names(sandbox: &Sandbox, prefix: &str) -> BTreeSet<String> {
    let run = sandbox.run(&["--print-env-table"]);
    assert_eq!(run.code, Some(0), "{}", run.transcript());
    run.stdout
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split('`').next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_template_variable_rendered() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    std::fs::create_dir_all(sandbox.path("logs")).expect("create logs folder");
    std::fs::create_dir_all(sandbox.path("app/web")).expect("create webroot");
    sandbox.set("PHPEEK_PROCESS_MANAGER", "phpeek-pm");
    sandbox.write("app/artisan", "<?php\n");
    let samples = samples(&sandbox);
    for (name, value, _, _) in &samples {
        sandbox.set(name, value);
    }

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    for (name, value, file, expected) in &samples {
        let text = sandbox.read(file);
        assert!(
            text.contains(expected.as_str()),
            "{name}={value:?}: {expected:?} not in {file}:\n{text}"
        );
    }
    let covered: BTreeSet<String> = samples.iter().map(|row| row.0.to_owned()).collect();
    let mut listed = table_names(&sandbox, "NGINX_");
    listed.extend(table_names(&sandbox, "PHP_"));
    assert_eq!(covered, listed, "samples and the variable table differ");
}

#[test]
fn defaults_render_and_pass_validators() {
    let sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    for line in [
        "php-fpm -t accepted",
        "nginx -t accepted",
        "is valid: 2 enabled processes",
    ] {
        assert!(
            run.stderr.contains(line),
            "{line:?} missing:\n{}",
            run.transcript()
        );
    }
    let env = std::collections::HashMap::<String, String>::new();
    let loaded = phpeek::config::load_file(&sandbox.path("run/phpeek-pm.yaml"), &env);
    let names: Vec<String> = loaded
        .map(|loaded| {
            loaded
                .config
                .processes
                .iter()
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["php-fpm", "nginx"]);
}

#[test]
fn hostile_values_are_rejected_by_name() {
    let mut sandbox = Sandbox::new();
    let hostile = [
        ("NGINX_INDEX", "index.php;\n    include /etc/passwd"),
        ("NGINX_CLIENT_MAX_BODY_SIZE", "1m}"),
        ("NGINX_HEADER_CSP", "default-src \"self\""),
        ("NGINX_TRY_FILES", "/index.php; return 200"),
        ("PHP_MEMORY_LIMIT", "1G\nextension=evil.so"),
        ("PHP_DATE_TIMEZONE", "UTC\"\nauto_prepend_file=/tmp/x"),
        ("PHP_FPM_PM", "dynamic\nuser = root"),
        ("QUEUE_CONNECTION", "redis\"]\nprocesses: {}"),
        ("LARAVEL_MIGRATE_ENABLED", "sure"),
    ];
    for (name, value) in hostile {
        sandbox.set(name, value);
    }

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    for (name, _) in hostile {
        let line = format!("phpeek-entrypoint: error: {name}: invalid value");
        assert!(
            run.stderr.contains(&line),
            "{name} not named:\n{}",
            run.transcript()
        );
    }
    assert!(run.stderr.contains("true/false, 1/0, yes/no or on/off"));
    assert!(!sandbox.path("run/nginx.conf").exists());
    assert!(!sandbox.path("run/phpeek-pm.yaml").exists());
}

#[test]
fn nginx_rejection_is_passed_through() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    // Valid alone, but nginx requires busy buffers of at least one buffer.
    sandbox.set("NGINX_FASTCGI_BUSY_BUFFERS_SIZE", "1k");

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(run.stderr.contains("[emerg]"), "{}", run.transcript());
    assert!(run.stderr.contains("\"fastcgi_busy_buffers_size\" must be"));
    assert!(run.stderr.contains("test failed"));
    assert!(run.stderr.contains("(exit code 1); its output is above"));
    assert!(
        !run.stderr.contains("phpeek-pm config"),
        "{}",
        run.transcript()
    );
}

#[test]
fn php_fpm_rejection_is_passed_through() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    sandbox
        .set("PHP_FPM_PM_MIN_SPARE_SERVERS", "10")
        .set("PHP_FPM_PM_MAX_SPARE_SERVERS", "5");

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(
        run.stderr.contains("ALERT: [pool www]"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr.contains("(exit code 78); its output is above"));
}

#[test]
fn broken_template_stops_with_validator_message() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    let templates = sandbox.path("templates");
    std::fs::create_dir_all(&templates).expect("create templates");
    for entry in std::fs::read_dir(support::repo_dir().join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_owned();
        let mut text = std::fs::read_to_string(&path).expect("read template");
        if name == "nginx.conf.j2" {
            text = text.replace("sendfile on;", "sendfile on;\n    bogus_directive 1;");
        }
        std::fs::write(templates.join(name), text).expect("write template");
    }
    sandbox.set("PHPEEK_TEMPLATE_DIR", &path_text(&templates));

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(
        run.stderr.contains("unknown directive \"bogus_directive\""),
        "{}",
        run.transcript()
    );
}

#[test]
fn template_errors_name_the_template() {
    let mut sandbox = Sandbox::new();
    let templates = sandbox.path("templates");
    std::fs::create_dir_all(&templates).expect("create templates");
    std::fs::write(
        templates.join("php.ini.j2"),
        "memory_limit = {{ env.PHP_MEMORY_LIMT }}\n",
    )
    .expect("write template");
    sandbox.set("PHPEEK_TEMPLATE_DIR", &path_text(&templates));

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    assert!(
        run.stderr.contains("failed to render php.ini.j2 from"),
        "{}",
        run.transcript()
    );
    let missing = sandbox
        .set("PHPEEK_TEMPLATE_DIR", "/nonexistent/templates")
        .run(&[]);

    assert_eq!(missing.code, Some(78), "{}", missing.transcript());
    assert!(
        missing.stderr.contains("php.ini.j2"),
        "{}",
        missing.transcript()
    );
}

#[test]
fn reverb_on_nginx_port_is_rejected() {
    let mut sandbox = Sandbox::new();
    let port = sandbox.var("NGINX_HTTP_PORT").to_owned();
    sandbox
        .set("PHPEEK_PROCESS_MANAGER", "phpeek-pm")
        .set("LARAVEL_REVERB", "true")
        .set("REVERB_PORT", &port);

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    let message = format!("REVERB_PORT and NGINX_HTTP_PORT are both {port}");
    assert!(run.stderr.contains(&message), "{}", run.transcript());
}

#[test]
fn mounted_config_wins_and_is_validated() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    let mounted = sandbox.write(
        "mounted.yaml",
        "processes:\n  web:\n    command: [nginx]\n    scale: 0\n",
    );
    sandbox.set("PHPEEK_PM_CONFIG", &path_text(&mounted));

    let invalid = sandbox.run(&[]);

    assert_eq!(invalid.code, Some(78), "{}", invalid.transcript());
    assert!(
        invalid.stderr.contains("scale must be at least 1"),
        "{}",
        invalid.transcript()
    );
    assert!(!sandbox.path("run/phpeek-pm.yaml").exists());
    sandbox.write("mounted.yaml", "processes:\n  web:\n    command: [nginx]\n");
    sandbox.set("PHPEEK_PM_BIN", "echo");

    let valid = sandbox.run(&["phpeek-pm", "check-config"]);

    assert_eq!(valid.code, Some(0), "{}", valid.transcript());
    assert_eq!(
        valid.stdout.trim(),
        format!("-c {} check-config", path_text(&mounted))
    );
}

#[test]
fn default_mode_reports_ignored_variables() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    sandbox
        .set("PHPEEK_PM_PROCESS_HORIZON_ENABLED", "true")
        .set("LARAVEL_QUEUE", "true");

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let line = "default mode ignores PHPEEK_PM_PROCESS_HORIZON_ENABLED, LARAVEL_QUEUE; \
                set PHPEEK_PROCESS_MANAGER=phpeek-pm to use them";
    assert!(run.stderr.contains(line), "{}", run.transcript());
}
