//! The values templates see: every validated setting under `env`, plus
//! facts about this start and values derived from the settings.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use minijinja::value::Value as Jinja;

use crate::framework::Framework;
use crate::laravel::Hook;
use crate::mode::Mode;
use crate::settings::Settings;
use crate::vars::{self, Value};

/// Paths of the rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outputs {
    /// Directory for the rendered files, pid files and nginx's temporary
    /// files.
    pub(crate) runtime_dir: PathBuf,
    /// The rendered phpeek-pm config.
    pub(crate) pm_config: PathBuf,
}

impl Outputs {
    /// Adds to a write failure the variable that chose the file's path:
    /// PHPEEK_PM_RUNTIME_CONFIG for the phpeek-pm config, PHPEEK_RUNTIME_DIR
    /// for everything in the runtime folder.
    pub(crate) fn name_setting(&self, error: super::RenderError) -> super::RenderError {
        match error {
            super::RenderError::Write {
                path,
                setting: None,
                source,
            } => {
                let written = std::path::Path::new(&path);
                let setting = if written == self.pm_config {
                    Some("PHPEEK_PM_RUNTIME_CONFIG")
                } else if written.starts_with(&self.runtime_dir) {
                    Some("PHPEEK_RUNTIME_DIR")
                } else {
                    None
                };
                super::RenderError::Write {
                    path,
                    setting,
                    source,
                }
            }
            other => other,
        }
    }

    /// Returns the path of the nginx main config.
    pub(crate) fn nginx_conf(&self) -> PathBuf {
        self.runtime_dir.join("nginx.conf")
    }

    /// Returns the path of the php-fpm config, global section and pool.
    pub(crate) fn fpm_conf(&self) -> PathBuf {
        self.runtime_dir.join("php-fpm.conf")
    }

    /// Returns the folder added to PHP_INI_SCAN_DIR, which contains only
    /// the drop-in.
    pub(crate) fn php_ini_dir(&self) -> PathBuf {
        self.runtime_dir.join("php.d")
    }

    /// Returns the path of the php.ini drop-in.
    pub(crate) fn php_ini(&self) -> PathBuf {
        self.php_ini_dir().join("zz-phpeek.ini")
    }
}

/// Facts about this start that templates need besides the settings.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    /// The start mode.
    pub(crate) mode: Mode,
    /// The detected framework.
    pub(crate) framework: Framework,
    /// The app directory.
    pub(crate) app_dir: PathBuf,
    /// The app user and its group, when the entrypoint runs as root and
    /// workers must switch to them.
    pub(crate) run_as: Option<(String, String)>,
    /// Laravel pre-start hooks.
    pub(crate) hooks: Vec<Hook>,
    /// Paths of the rendered files.
    pub(crate) outputs: Outputs,
}

/// Builds the template context.
pub(crate) fn build(settings: &Settings, facts: &Facts) -> Jinja {
    let (app_user, app_group) = match &facts.run_as {
        Some((user, group)) => (Jinja::from(user.as_str()), Jinja::from(group.as_str())),
        None => (Jinja::from(()), Jinja::from(())),
    };
    let outputs = &facts.outputs;
    let runtime = outputs.runtime_dir.as_path();

    minijinja::context! {
        env => settings_map(settings),
        mode => match facts.mode { Mode::Full => "phpeek-pm", Mode::Default => "default" },
        full_stack => facts.mode == Mode::Full,
        framework => facts.framework.name(),
        app_dir => display(&facts.app_dir),
        as_root => facts.run_as.is_some(),
        app_user,
        app_group,
        runtime_dir => display(runtime),
        hooks => hooks(&facts.hooks),
        nginx => nginx(settings, facts),
        php_fpm => minijinja::context! {
            config => display(&outputs.fpm_conf()),
            pid => display(&runtime.join("php-fpm.pid")),
            listen => settings.text("PHP_FPM_LISTEN").unwrap_or("127.0.0.1:9000"),
        },
        php_ini_dir => display(&outputs.php_ini_dir()),
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Builds a map of every variable of the table by name, with none for
/// unset ones.
fn settings_map(settings: &Settings) -> Jinja {
    let map: BTreeMap<String, Jinja> = vars::VARIABLES
        .iter()
        .map(|var| {
            let value = match settings.value(var.name) {
                Some(Value::Bool(flag)) => Jinja::from(*flag),
                Some(Value::Int(number)) => Jinja::from(*number),
                Some(Value::Text(text)) => Jinja::from(text.as_str()),
                Some(Value::List(items)) => Jinja::from(items.clone()),
                None => Jinja::from(()),
            };
            (var.name.to_owned(), value)
        })
        .collect();
    Jinja::from(map)
}

fn hooks(hooks: &[Hook]) -> Jinja {
    hooks
        .iter()
        .map(|hook| {
            minijinja::context! {
                name => hook.name,
                command => hook.command.clone(),
                timeout => hook.timeout,
                continue_on_error => hook.continue_on_error,
            }
        })
        .collect()
}

/// Headers sent with every response, from the NGINX_HEADER_* settings that
/// are not empty.
const SECURITY_HEADERS: [(&str, &str); 9] = [
    ("X-Frame-Options", "NGINX_HEADER_X_FRAME_OPTIONS"),
    (
        "X-Content-Type-Options",
        "NGINX_HEADER_X_CONTENT_TYPE_OPTIONS",
    ),
    ("X-XSS-Protection", "NGINX_HEADER_X_XSS_PROTECTION"),
    ("Content-Security-Policy", "NGINX_HEADER_CSP"),
    ("Referrer-Policy", "NGINX_HEADER_REFERRER_POLICY"),
    ("Cross-Origin-Opener-Policy", "NGINX_HEADER_COOP"),
    ("Cross-Origin-Embedder-Policy", "NGINX_HEADER_COEP"),
    ("Cross-Origin-Resource-Policy", "NGINX_HEADER_CORP"),
    ("Permissions-Policy", "NGINX_HEADER_PERMISSIONS_POLICY"),
];

fn nginx(settings: &Settings, facts: &Facts) -> Jinja {
    let port = settings.int("NGINX_HTTP_PORT").unwrap_or(80);
    let address = settings
        .text("NGINX_LISTEN_ADDRESS")
        .and_then(|text| text.parse::<IpAddr>().ok());
    let listen = match address {
        Some(IpAddr::V4(v4)) => format!("{v4}:{port}"),
        Some(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        None => port.to_string(),
    };
    // The health check connects to where nginx listens; a wildcard address
    // is reached on loopback.
    let health_host = match address {
        Some(IpAddr::V4(v4)) if !v4.is_unspecified() => v4.to_string(),
        Some(IpAddr::V6(v6)) if v6.is_unspecified() => "[::1]".to_owned(),
        Some(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => "127.0.0.1".to_owned(),
    };
    let headers: Vec<Jinja> = SECURITY_HEADERS
        .iter()
        .filter_map(|(header, name)| {
            let value = settings.text(name).filter(|value| !value.is_empty())?;
            Some(Jinja::from(vec![(*header).to_owned(), value.to_owned()]))
        })
        .collect();
    let trusted_proxies = match settings.value("NGINX_TRUSTED_PROXIES") {
        Some(Value::List(items)) => items.clone(),
        _ => Vec::new(),
    };
    let fastcgi_pass = settings
        .text("NGINX_FASTCGI_PASS")
        .or(settings.text("PHP_FPM_LISTEN"))
        .unwrap_or("127.0.0.1:9000");
    let runtime = facts.outputs.runtime_dir.as_path();

    minijinja::context! {
        config => display(&facts.outputs.nginx_conf()),
        prefix => format!("{}/", runtime.display()),
        pid => display(&runtime.join("nginx.pid")),
        temp_dir => display(&runtime.join("nginx")),
        listen,
        health_url => format!("http://{health_host}:{port}/health"),
        webroot => display(&webroot(settings, facts)),
        fastcgi_pass,
        security_headers => headers,
        trusted_proxies,
        static_max_age => settings.text("NGINX_STATIC_EXPIRES").and_then(max_age_seconds),
    }
}

/// NGINX_WEBROOT, else `public/` in the app directory, except for
/// WordPress, which serves the app directory itself.
fn webroot(settings: &Settings, facts: &Facts) -> PathBuf {
    match settings.text("NGINX_WEBROOT") {
        Some(root) => PathBuf::from(root),
        None if facts.framework == Framework::WordPress => facts.app_dir.clone(),
        None => facts.app_dir.join("public"),
    }
}

/// Converts an NGINX_STATIC_EXPIRES value into seconds, with nginx's units:
/// a month is 30 days and a year 365 days. Returns none for `off`.
pub(crate) fn max_age_seconds(expires: &str) -> Option<u64> {
    let unit_start = expires
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(expires.len());
    let (digits, unit) = expires.split_at(unit_start);
    let count: u64 = digits.parse().ok()?;
    let unit_seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    count.checked_mul(unit_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_uses_nginx_units() {
        assert_eq!(max_age_seconds("1y"), Some(31_536_000));
        assert_eq!(max_age_seconds("2M"), Some(5_184_000));
        assert_eq!(max_age_seconds("90"), Some(90));
        assert_eq!(max_age_seconds("off"), None);
        assert_eq!(max_age_seconds("99999999999999999999y"), None);
    }

    #[test]
    fn write_failures_name_the_variable_of_their_path() {
        let outputs = Outputs {
            runtime_dir: PathBuf::from("/run/phpeek"),
            pm_config: PathBuf::from("/tmp/phpeek-pm.yaml"),
        };
        let failure = |path: &str| super::super::RenderError::Write {
            path: path.to_owned(),
            setting: None,
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };

        let message = |path| outputs.name_setting(failure(path)).to_string();
        assert_eq!(
            message("/run/phpeek/nginx.conf"),
            "failed to write /run/phpeek/nginx.conf (set PHPEEK_RUNTIME_DIR to a writable path)"
        );
        assert!(message("/tmp/phpeek-pm.yaml").contains("PHPEEK_PM_RUNTIME_CONFIG"));
        assert_eq!(message("/elsewhere/x"), "failed to write /elsewhere/x");
    }

    #[test]
    fn read_only_failure_names_tmpfs_on_tmp() {
        let outputs = Outputs {
            runtime_dir: PathBuf::from("/tmp/phpeek"),
            pm_config: PathBuf::from("/tmp/phpeek-pm.yaml"),
        };
        let failure = super::super::RenderError::Write {
            path: "/tmp/phpeek/php.d/zz-phpeek.ini".to_owned(),
            setting: None,
            source: std::io::Error::from_raw_os_error(libc::EROFS),
        };

        let message = outputs.name_setting(failure).to_string();

        assert!(message.contains("mount a tmpfs on /tmp"), "{message}");
        assert!(message.contains("--tmpfs /tmp"), "{message}");
        assert!(message.contains("opcache lock file"), "{message}");
        assert!(!message.contains("set PHPEEK_RUNTIME_DIR"), "{message}");
    }
}
