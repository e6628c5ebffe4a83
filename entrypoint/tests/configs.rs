//! Rendering and checking the configs with the real binary, php-fpm -t and
//! nginx -t. PHPEEK_PM_BIN is `true`, so a successful start ends in exit 0
//! right after the checks.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use support::{path_text, Sandbox};

/// A non-default value for every NGINX_* and PHP_* variable, the file it
/// must show up in, and the text it must render to there.
#[rustfmt::skip]
fn samples(sandbox: &Sandbox) -> Vec<(&'static str, String, &'static str, String)> {
    let port = sandbox.var("NGINX_HTTP_PORT").to_owned();
    let fpm = sandbox.var("PHP_FPM_LISTEN").to_owned();
    let access_log = path_text(&sandbox.path("logs/access.log"));
    let error_log = path_text(&sandbox.path("logs/error.log"));
    let php_log = path_text(&sandbox.path("logs/php.log"));
    let webroot = path_text(&sandbox.path("app/web"));
    let nginx_bin = sandbox.var("NGINX_BIN").to_owned();
    let fpm_bin = sandbox.var("PHP_FPM_BIN").to_owned();
    let text = |value: &str| value.to_owned();
    let nginx = "run/nginx.conf";
    let ini = "run/php.d/zz-phpeek.ini";
    let pool = "run/php-fpm.conf";
    let pm = "run/phpeek-pm.yaml";

    let mut rows = vec![
        ("NGINX_HTTP_PORT", text(&port), nginx, format!("listen 127.0.0.1:{port} default_server;")),
        ("NGINX_LISTEN_ADDRESS", text("127.0.0.1"), nginx, format!("listen 127.0.0.1:{port} ")),
        ("NGINX_WEBROOT", text(&webroot), nginx, format!("root \"{webroot}\";")),
        ("NGINX_INDEX", text("index.html index.php"), nginx, "index index.html index.php;".into()),
        ("NGINX_WORKER_PROCESSES", text("2"), nginx, "worker_processes 2;".into()),
        ("NGINX_WORKER_CONNECTIONS", text("512"), nginx, "worker_connections 512;".into()),
        ("NGINX_CLIENT_MAX_BODY_SIZE", text("12m"), nginx, "client_max_body_size 12m;".into()),
        ("NGINX_CLIENT_BODY_TIMEOUT", text("15s"), nginx, "client_body_timeout 15s;".into()),
        ("NGINX_CLIENT_HEADER_TIMEOUT", text("2m"), nginx, "client_header_timeout 2m;".into()),
        ("NGINX_SERVER_TOKENS", text("on"), nginx, "server_tokens on;".into()),
        ("NGINX_HEALTH_LOCAL_ONLY", text("yes"), nginx, "$realip_remote_addr".into()),
        ("NGINX_ACCESS_LOG", text(&access_log), nginx, format!("    access_log \"{access_log}\" phpeek;")),
        ("NGINX_STATIC_ACCESS_LOG", text("yes"), nginx, format!("            access_log \"{access_log}\" phpeek;")),
        ("NGINX_ERROR_LOG", text(&error_log), nginx, format!("error_log \"{error_log}\" notice;")),
        ("NGINX_ERROR_LOG_LEVEL", text("notice"), nginx, "notice;".into()),
        ("NGINX_TRY_FILES", text("/index.php?$args"), nginx, "try_files $uri $uri/ /index.php?$args;".into()),
        ("NGINX_FASTCGI_PASS", text("127.0.0.1:9999"), nginx, "fastcgi_pass 127.0.0.1:9999;".into()),
        ("NGINX_FASTCGI_BUFFERS", text("8 32k"), nginx, "fastcgi_buffers 8 32k;".into()),
        ("NGINX_FASTCGI_BUFFER_SIZE", text("16k"), nginx, "fastcgi_buffer_size 16k;".into()),
        ("NGINX_FASTCGI_BUSY_BUFFERS_SIZE", text("48k"), nginx, "fastcgi_busy_buffers_size 48k;".into()),
        ("NGINX_FASTCGI_CONNECT_TIMEOUT", text("5s"), nginx, "fastcgi_connect_timeout 5s;".into()),
        ("NGINX_FASTCGI_SEND_TIMEOUT", text("70s"), nginx, "fastcgi_send_timeout 70s;".into()),
        ("NGINX_FASTCGI_READ_TIMEOUT", text("300"), nginx, "fastcgi_read_timeout 300;".into()),
        ("NGINX_STATIC_EXPIRES", text("2d"), nginx, "add_header Cache-Control \"max-age=172800, ".into()),
        ("NGINX_STATIC_CACHE_CONTROL", text("public"), nginx, "\"max-age=172800, public\" always;".into()),
        ("NGINX_GZIP", text("off"), nginx, "gzip off;".into()),
        ("NGINX_GZIP_VARY", text("FALSE"), nginx, "gzip_vary off;".into()),
        ("NGINX_GZIP_PROXIED", text("expired no-cache"), nginx, "gzip_proxied expired no-cache;".into()),
        ("NGINX_GZIP_COMP_LEVEL", text("2"), nginx, "gzip_comp_level 2;".into()),
        ("NGINX_GZIP_MIN_LENGTH", text("256"), nginx, "gzip_min_length 256;".into()),
        ("NGINX_GZIP_TYPES", text("text/css application/json"), nginx, "gzip_types text/css application/json;".into()),
        ("NGINX_OPEN_FILE_CACHE", text("max=500 inactive=1m"), nginx, "open_file_cache max=500 inactive=1m;".into()),
        ("NGINX_OPEN_FILE_CACHE_VALID", text("45s"), nginx, "open_file_cache_valid 45s;".into()),
        ("NGINX_OPEN_FILE_CACHE_MIN_USES", text("3"), nginx, "open_file_cache_min_uses 3;".into()),
        ("NGINX_OPEN_FILE_CACHE_ERRORS", text("no"), nginx, "open_file_cache_errors off;".into()),
        ("NGINX_TRUSTED_PROXIES", text("10.0.0.0/8,fd00::/8"), nginx, "set_real_ip_from 10.0.0.0/8;\n    set_real_ip_from fd00::/8;".into()),
        ("NGINX_REAL_IP_HEADER", text("X-Real-IP"), nginx, "real_ip_header X-Real-IP;".into()),
        ("NGINX_REAL_IP_RECURSIVE", text("0"), nginx, "real_ip_recursive off;".into()),
        ("NGINX_BIN", text(&nginx_bin), pm, format!("command:\n      - \"{nginx_bin}\"\n      - \"-p\"\n")),
        ("PHP_MEMORY_LIMIT", text("321M"), ini, "memory_limit = 321M\n".into()),
        ("PHP_MAX_EXECUTION_TIME", text("33"), ini, "max_execution_time = 33\n".into()),
        ("PHP_MAX_INPUT_TIME", text("-1"), ini, "max_input_time = -1\n".into()),
        ("PHP_POST_MAX_SIZE", text("12M"), ini, "post_max_size = 12M\n".into()),
        ("PHP_UPLOAD_MAX_FILESIZE", text("11M"), ini, "upload_max_filesize = 11M\n".into()),
        ("PHP_MAX_FILE_UPLOADS", text("7"), ini, "max_file_uploads = 7\n".into()),
        ("PHP_MAX_INPUT_VARS", text("3000"), ini, "max_input_vars = 3000\n".into()),
        ("PHP_DATE_TIMEZONE", text("Europe/Berlin"), ini, "date.timezone = \"Europe/Berlin\"\n".into()),
        ("PHP_DISPLAY_ERRORS", text("stderr"), ini, "display_errors = stderr\n".into()),
        ("PHP_DISPLAY_STARTUP_ERRORS", text("on"), ini, "display_startup_errors = On\n".into()),
        ("PHP_ERROR_REPORTING", text("E_ALL"), ini, "error_reporting = E_ALL\n".into()),
        ("PHP_LOG_ERRORS", text("off"), ini, "log_errors = Off\n".into()),
        ("PHP_ERROR_LOG", text(&php_log), ini, format!("error_log = \"{php_log}\"\n")),
        ("PHP_OPCACHE_ENABLE", text("false"), ini, "opcache.enable = 0\n".into()),
        ("PHP_OPCACHE_MEMORY_CONSUMPTION", text("64"), ini, "opcache.memory_consumption = 64\n".into()),
        ("PHP_OPCACHE_INTERNED_STRINGS_BUFFER", text("8"), ini, "opcache.interned_strings_buffer = 8\n".into()),
        ("PHP_OPCACHE_MAX_ACCELERATED_FILES", text("4000"), ini, "opcache.max_accelerated_files = 4000\n".into()),
        ("PHP_OPCACHE_VALIDATE_TIMESTAMPS", text("off"), ini, "opcache.validate_timestamps = 0\n".into()),
        ("PHP_OPCACHE_REVALIDATE_FREQ", text("0"), ini, "opcache.revalidate_freq = 0\n".into()),
        ("PHP_OPCACHE_JIT", text("function"), ini, "opcache.jit = function\n".into()),
        ("PHP_OPCACHE_JIT_BUFFER_SIZE", text("32M"), ini, "opcache.jit_buffer_size = 32M\n".into()),
        ("PHP_FPM_LISTEN", text(&fpm), pool, format!("listen = {fpm}\n")),
        ("PHP_FPM_PM", text("static"), pool, "pm = static\n".into()),
        ("PHP_FPM_PM_MAX_CHILDREN", text("12"), pool, "pm.max_children = 12\n".into()),
        ("PHP_FPM_PM_START_SERVERS", text("3"), pool, "pm.start_servers = 3\n".into()),
        ("PHP_FPM_PM_MIN_SPARE_SERVERS", text("2"), pool, "pm.min_spare_servers = 2\n".into()),
        ("PHP_FPM_PM_MAX_SPARE_SERVERS", text("6"), pool, "pm.max_spare_servers = 6\n".into()),
        ("PHP_FPM_PM_MAX_REQUESTS", text("1000"), pool, "pm.max_requests = 1000\n".into()),
        ("PHP_FPM_PM_PROCESS_IDLE_TIMEOUT", text("30s"), pool, "pm.process_idle_timeout = 30s\n".into()),
        ("PHP_FPM_REQUEST_TERMINATE_TIMEOUT", text("2m"), pool, "request_terminate_timeout = 2m\n".into()),
        ("PHP_FPM_ACCESS_LOG", text("on"), pool, "access.log = /proc/self/fd/2\n".into()),
        ("PHP_FPM_BIN", text(&fpm_bin), pm, format!("command:\n      - \"{fpm_bin}\"\n      - \"--nodaemonize\"\n")),
        ("PHP_BIN", text("/usr/bin/php"), pm, "      - \"/usr/bin/php\"\n      - \"artisan\"\n      - \"horizon\"\n".into()),
    ];
    let headers = [
        ("NGINX_HEADER_X_FRAME_OPTIONS", "DENY", "X-Frame-Options"),
        ("NGINX_HEADER_X_CONTENT_TYPE_OPTIONS", "nosniff", "X-Content-Type-Options"),
        ("NGINX_HEADER_X_XSS_PROTECTION", "1; mode=block", "X-XSS-Protection"),
        ("NGINX_HEADER_CSP", "default-src 'self'; img-src * data:", "Content-Security-Policy"),
        ("NGINX_HEADER_REFERRER_POLICY", "no-referrer", "Referrer-Policy"),
        ("NGINX_HEADER_COOP", "same-origin", "Cross-Origin-Opener-Policy"),
        ("NGINX_HEADER_COEP", "require-corp", "Cross-Origin-Embedder-Policy"),
        ("NGINX_HEADER_CORP", "same-site", "Cross-Origin-Resource-Policy"),
        ("NGINX_HEADER_PERMISSIONS_POLICY", "camera=()", "Permissions-Policy"),
    ];
    for (name, value, header) in headers {
        let line = format!("add_header {header} \"{value}\" always;");
        rows.push((name, text(value), nginx, line));
    }
    rows
}

/// Names of the entrypoint's variables in `--print-env-table` that start
/// with `prefix`. The rows after the phpeek-pm section are phpeek-pm's, which
/// the templates don't use.
fn table_names(sandbox: &Sandbox, prefix: &str) -> BTreeSet<String> {
    let run = sandbox.run(&["--print-env-table"]);
    assert_eq!(run.code, Some(0), "{}", run.transcript());
    run.stdout
        .lines()
        .take_while(|line| !line.starts_with("| **phpeek-pm**"))
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
fn unknown_php_time_zone_is_rejected() {
    let mut sandbox = Sandbox::new();
    sandbox.set("PHP_DATE_TIMEZONE", "Europe/Berln");

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    let line = "phpeek-entrypoint: error: PHP_DATE_TIMEZONE: invalid value \"Europe/Berln\": \
                not a zone of the IANA time zone database (did you mean Europe/Berlin?); \
                expected an IANA time zone name, like UTC or Europe/Berlin";
    assert!(run.stderr.contains(line), "{}", run.transcript());
    assert!(!sandbox.path("run/php.d").exists(), "{}", run.transcript());
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

/// Returns the permission bits of a file in the sandbox.
fn mode(sandbox: &Sandbox, relative: &str) -> u32 {
    let metadata = std::fs::metadata(sandbox.path(relative)).expect("stat");
    metadata.permissions().mode() & 0o777
}

#[test]
fn effective_config_is_private_and_overlaid() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    sandbox.write("app/artisan", "<?php\n");
    let old = sandbox.write("run/phpeek-pm.yaml", "stale\n");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    sandbox
        .set("PHPEEK_PROCESS_MANAGER", "phpeek-pm")
        .set("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENABLED", "true")
        .set("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "2")
        .set(
            "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_ENV_MAIL_PASSWORD",
            "s3cret",
        );

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let yaml = sandbox.read("run/phpeek-pm.yaml");
    assert_eq!(mode(&sandbox, "run/phpeek-pm.yaml"), 0o600);
    assert!(yaml.starts_with("# Written by phpeek-entrypoint"), "{yaml}");
    assert!(yaml.contains("    scale: 2\n"), "{yaml}");
    assert!(yaml.contains("      MAIL_PASSWORD: \"s3cret\"\n"), "{yaml}");
    assert!(
        run.stderr.contains("is valid: 3 enabled processes"),
        "{}",
        run.transcript()
    );
    assert!(run
        .stderr
        .contains("wrote the effective phpeek-pm config to"));
}

#[test]
fn invalid_overlay_leaves_rendered_config() {
    let mut sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    sandbox
        .set("PHPEEK_PROCESS_MANAGER", "phpeek-pm")
        .set("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "0");

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(78), "{}", run.transcript());
    let line = "$PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE: processes.queue-default.scale";
    assert!(run.stderr.contains(line), "{}", run.transcript());
    let yaml = sandbox.read("run/phpeek-pm.yaml");
    assert!(
        yaml.starts_with("# Rendered by phpeek-entrypoint"),
        "{yaml}"
    );
    assert_eq!(mode(&sandbox, "run/phpeek-pm.yaml"), 0o600);
}

/// Reads tests/golden/<name>.env: the variables, and whether the example
/// is a Laravel app.
fn golden_example(name: &str) -> (Vec<(String, String)>, bool) {
    let path = support::repo_dir().join(format!("entrypoint/tests/golden/{name}.env"));
    let text = std::fs::read_to_string(&path).expect("read example");
    let laravel = text.contains("\n# app: laravel\n");
    let pairs = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    (pairs, laravel)
}

#[test]
fn golden_examples_pass_check_config() {
    let Some(pm) = support::phpeek_pm() else {
        support::skip_without_phpeek_pm();
        return;
    };
    let dir = support::repo_dir().join("entrypoint/tests/golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read golden folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".env").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");

    for name in names {
        let mut sandbox = Sandbox::new();
        if !sandbox.has_web_stack() {
            return;
        }
        let (pairs, laravel) = golden_example(&name);
        if laravel {
            sandbox.write("app/artisan", "<?php\n");
        }
        sandbox.set("PHPEEK_PM_BIN", &path_text(&pm));
        for (variable, value) in &pairs {
            sandbox.set(variable, value);
        }

        let run = sandbox.run(&["phpeek-pm", "check-config"]);

        assert_eq!(run.code, Some(0), "{name}: {}", run.transcript());
        assert_eq!(
            run.stdout,
            "configuration is valid\n",
            "{name}: {}",
            run.transcript()
        );
    }
}
