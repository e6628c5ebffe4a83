//! The start sequence: settings, framework, accounts, folders, configs,
//! checks, init scripts, then exec.
//!
//! Each step prints one line. The first failure stops the start and is
//! returned as a [`Failure`], which maps to the exit code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

use crate::accounts::{self, AccountError, AppUser};
use crate::folders::{self, Owner};
use crate::framework::Framework;
use crate::init_scripts::{self, InitError};
use crate::laravel;
use crate::launch::{self, LaunchError};
use crate::message;
use crate::mode::{self, Mode};
use crate::render::{self, Facts, Outputs, RenderError, Renderer};
use crate::settings::{Env, Settings, VarError};
use crate::verify::{self, VerifyError};

/// Exit code for an invalid configuration, as sysexits.h's EX_CONFIG.
pub(crate) const EX_CONFIG: u8 = 78;

/// The program that runs once the app is prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// phpeek-pm with the rendered or mounted config and these extra
    /// arguments.
    Stack(Vec<OsString>),
    /// The user's command, after setup without nginx and php-fpm configs.
    Command(Vec<OsString>),
}

/// The reason the start stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// One or more environment variables are invalid.
    #[error("{} invalid environment variables", .0.len())]
    Variables(Vec<VarError>),
    /// Settings that are valid alone but conflict.
    #[error("{0}")]
    Conflict(String),
    /// The app user can't be set up.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A template failed or a config couldn't be written.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A validator rejected a config.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// An init script failed.
    #[error(transparent)]
    Init(#[from] InitError),
    /// The final exec failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
}

impl Failure {
    /// Returns the exit code: 78 for configuration problems, 1 for init scripts and
    /// write failures, 126 or 127 when the final program can't run.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Init(InitError::Interrupted { signal }) => {
                u8::try_from(128 + signal).unwrap_or(143)
            }
            Failure::Init(_) | Failure::Render(RenderError::Write { .. }) => 1,
            Failure::Launch(error) => error.exit_code(),
            _ => EX_CONFIG,
        }
    }

    /// Prints the failure: one line per invalid variable, else the error
    /// with its causes.
    pub(crate) fn report(&self) {
        if let Failure::Variables(errors) = self {
            for error in errors {
                message::error(error);
            }
            return;
        }
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        message::error(text);
    }
}

/// Prepares the app and execs the target. Returns only on failure.
pub(crate) fn run(target: Target) -> Failure {
    match prepare_and_exec(target) {
        Ok(never) => match never {},
        Err(failure) => failure,
    }
}

/// Never constructed: the success type of a function that ends in exec.
enum Never {}

fn prepare_and_exec(target: Target) -> Result<Never, Failure> {
    let start = Start::prepare()?;
    match target {
        Target::Command(argv) => start.exec_command(&argv),
        Target::Stack(extra) => start.exec_stack(&extra),
    }
}

/// The steps both targets share, done: settings, app user, folders, and
/// the template context.
struct Start {
    env: Env,
    settings: Settings,
    facts: Facts,
    renderer: Renderer,
    context: minijinja::Value,
}

impl Start {
    fn prepare() -> Result<Start, Failure> {
        let env = Env::from_process();
        let settings = Settings::resolve(&env).map_err(Failure::Variables)?;
        let app_dir = settings.app_dir();
        let framework = detect_framework(&app_dir);
        laravel::report_legacy_names(&settings);

        let app_user = prepare_account(&settings)?;
        let owner = app_user.as_ref().map(|user| Owner {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        });
        // Laravel's SQLite connection uses database/database.sqlite unless
        // DB_DATABASE names another file.
        let sqlite = settings.text("DB_CONNECTION") == Some("sqlite")
            && settings.text("DB_DATABASE").is_none();
        folders::prepare(&app_dir, framework, owner, sqlite);

        let facts = Facts {
            mode: Mode::from_settings(&settings),
            framework,
            hooks: laravel_hooks(&settings, framework, &app_dir),
            app_dir,
            run_as: app_user.map(|user| (user.name, user.group)),
            outputs: Outputs {
                runtime_dir: settings.path("PHPEEK_RUNTIME_DIR"),
                pm_config: settings.path("PHPEEK_PM_RUNTIME_CONFIG"),
            },
        };
        let renderer = Renderer::new(&settings.path("PHPEEK_TEMPLATE_DIR"));
        let context = render::build_context(&settings, &facts);
        Ok(Start {
            env,
            settings,
            facts,
            renderer,
            context,
        })
    }

    /// Runs the init scripts and execs the user's command, with the php.ini
    /// drop-in when it can be written.
    fn exec_command(self, argv: &[OsString]) -> Result<Never, Failure> {
        let mut env = self.env.clone();
        // A one-off command such as a shell should start even when the
        // drop-in can't be written.
        let outputs = &self.facts.outputs;
        if let Err(error) = self.render_php_ini(&mut env) {
            let error = outputs.name_setting(error);
            message::info(format_args!(
                "{error}; continuing without the php.ini drop-in"
            ));
        }
        run_init_scripts(&self.settings, &self.facts.app_dir, &env)?;
        enter(&self.facts.app_dir);
        Err(launch::exec(argv, &env).into())
    }

    /// Renders and checks every config, runs the init scripts and execs
    /// phpeek-pm with `extra` arguments.
    fn exec_stack(self, extra: &[OsString]) -> Result<Never, Failure> {
        let mut env = self.env.clone();
        let outputs = &self.facts.outputs;
        let named = |error| outputs.name_setting(error);
        self.render_php_ini(&mut env).map_err(named)?;
        let mode = self.facts.mode;
        let pm_env = mode::pm_environment(&env, &self.settings, mode);
        check_ports(&self.settings, &pm_env, mode)?;
        let config = self
            .prepare_stack(&pm_env)
            .map_err(|failure| match failure {
                Failure::Render(error) => Failure::Render(named(error)),
                other => other,
            })?;
        run_init_scripts(&self.settings, &self.facts.app_dir, &env)?;
        enter(&self.facts.app_dir);

        let program = self.settings.text("PHPEEK_PM_BIN").unwrap_or("phpeek-pm");
        let mut argv = vec![OsString::from(program), "-c".into(), config.into()];
        argv.extend(extra.iter().cloned());
        message::info(format_args!(
            "starting {program} in {} mode",
            mode_name(mode)
        ));
        Err(launch::exec(&argv, &pm_env).into())
    }
    /// Renders the php.ini drop-in and points PHP_INI_SCAN_DIR at its
    /// folder. A leading `:` keeps PHP's compiled-in scan folder, and a
    /// value the user set is kept in front.
    fn render_php_ini(&self, env: &mut Env) -> Result<(), RenderError> {
        let outputs = &self.facts.outputs;
        let ini = outputs.php_ini();
        self.renderer
            .render_to(render::PHP_INI_TEMPLATE, &self.context, &ini)?;
        let dir = outputs.php_ini_dir().display().to_string();
        let scan_dir = match env.get("PHP_INI_SCAN_DIR") {
            Some(existing) if !existing.is_empty() => format!("{existing}:{dir}"),
            _ => format!(":{dir}"),
        };
        env.set("PHP_INI_SCAN_DIR", &scan_dir);
        message::info(format_args!("rendered {}", ini.display()));
        Ok(())
    }

    /// Renders nginx.conf, php-fpm.conf and the phpeek-pm config (unless a
    /// mounted one exists), then checks all three. Returns the phpeek-pm
    /// config to run.
    fn prepare_stack(&self, pm_env: &Env) -> Result<PathBuf, Failure> {
        let outputs = &self.facts.outputs;
        let render = |template, path: &Path| self.renderer.render_to(template, &self.context, path);
        render(render::NGINX_TEMPLATE, &outputs.nginx_conf())?;
        // nginx creates its temporary folders, but not their parent.
        let temp_dir = outputs.runtime_dir.join("nginx");
        render::create_folder(&temp_dir).map_err(|source| RenderError::Write {
            path: temp_dir.display().to_string(),
            setting: None,
            source,
        })?;
        render(render::FPM_TEMPLATE, &outputs.fpm_conf())?;
        message::info(format_args!(
            "rendered {} and {}",
            outputs.nginx_conf().display(),
            outputs.fpm_conf().display()
        ));
        let pm_config = match mounted_config(&self.settings) {
            Some(path) => PmConfig::Mounted(path),
            None => PmConfig::Rendered(self.renderer.render(render::PM_TEMPLATE, &self.context)?),
        };

        self.verify_web_configs(pm_env)?;
        match pm_config {
            PmConfig::Mounted(path) => {
                verify::pm_config(&path, pm_env)?;
                Ok(path)
            }
            PmConfig::Rendered(text) => {
                self.write_effective_config(&text, pm_env)?;
                Ok(outputs.pm_config.clone())
            }
        }
    }

    /// Runs `php-fpm -t` and `nginx -t`.
    fn verify_web_configs(&self, pm_env: &Env) -> Result<(), VerifyError> {
        let outputs = &self.facts.outputs;
        let fpm = self.settings.text("PHP_FPM_BIN").unwrap_or("php-fpm");
        verify::php_fpm(fpm, &outputs.fpm_conf(), pm_env)?;
        let nginx = self.settings.text("NGINX_BIN").unwrap_or("nginx");
        let prefix = format!("{}/", outputs.runtime_dir.display());
        let port = self.settings.int("NGINX_HTTP_PORT");
        verify::nginx(nginx, &prefix, &outputs.nginx_conf(), port, pm_env)
    }

    /// Applies phpeek-pm's environment overlay to the rendered config and
    /// writes the result, with mode 0600 because an API token can be in it.
    /// The file then shows what phpeek-pm runs. When the config is invalid,
    /// the rendered text is written instead, because the line numbers in
    /// the error refer to it.
    fn write_effective_config(&self, rendered: &str, pm_env: &Env) -> Result<(), Failure> {
        let path = &self.facts.outputs.pm_config;
        match verify::effective_pm_config(rendered, path, pm_env) {
            Ok(effective) => {
                render::write_private(path, &effective)?;
                message::info(format_args!(
                    "wrote the effective phpeek-pm config to {}",
                    path.display()
                ));
                Ok(())
            }
            Err(error) => {
                // The config error is the one to report, even when the
                // rendered text can't be saved for reading it.
                if let Err(RenderError::Write { path, source, .. }) =
                    render::write_private(path, rendered)
                {
                    message::info(format_args!(
                        "failed to write the rendered config to {path}: {source}"
                    ));
                }
                Err(error.into())
            }
        }
    }
}

/// The phpeek-pm config of a start, before it is checked.
enum PmConfig {
    /// The user's file from PHPEEK_PM_CONFIG, used as it is.
    Mounted(PathBuf),
    /// The rendered template, before the environment overlay.
    Rendered(String),
}

/// Returns the config named by PHPEEK_PM_CONFIG when that file exists.
/// A name without a file is reported, and the config is rendered instead.
fn mounted_config(settings: &Settings) -> Option<PathBuf> {
    let path = PathBuf::from(settings.text("PHPEEK_PM_CONFIG")?);
    if path.is_file() {
        message::info(format_args!(
            "using the mounted phpeek-pm config {}",
            path.display()
        ));
        Some(path)
    } else {
        message::info(format_args!(
            "PHPEEK_PM_CONFIG {} does not exist; rendering the config instead",
            path.display()
        ));
        None
    }
}

/// Detects the framework and reports it in one line.
fn detect_framework(app_dir: &Path) -> Framework {
    let framework = Framework::detect(app_dir);
    if app_dir.is_dir() {
        message::info(format_args!(
            "detected {framework} app in {}",
            app_dir.display()
        ));
    } else {
        message::info(format_args!(
            "app directory {} does not exist; treating it as plain PHP",
            app_dir.display()
        ));
    }
    framework
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Full => "phpeek-pm (full stack)",
        Mode::Default => "default (php-fpm and nginx)",
    }
}

/// Sets up the app user as root. Without root there is nothing to switch
/// to, so PUID and PGID are reported as ignored.
fn prepare_account(settings: &Settings) -> Result<Option<AppUser>, Failure> {
    if Uid::effective().is_root() {
        return Ok(Some(accounts::prepare(settings)?));
    }
    if settings.is_explicit("PUID") || settings.is_explicit("PGID") {
        message::info("PUID/PGID ignored: not running as root");
    }
    Ok(None)
}

fn laravel_hooks(settings: &Settings, framework: Framework, app_dir: &Path) -> Vec<laravel::Hook> {
    if framework != Framework::Laravel {
        return Vec::new();
    }
    let entrypoint = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "phpeek-entrypoint".to_owned());
    laravel::hooks(settings, app_dir, &entrypoint)
}

/// Rejects nginx on php-fpm's port, and Reverb on nginx's port, which would
/// make one of them fail to bind. Reverb is only checked when it runs.
fn check_ports(settings: &Settings, pm_env: &Env, mode: Mode) -> Result<(), Failure> {
    let nginx = settings.int("NGINX_HTTP_PORT");
    let fpm_port = settings
        .text("PHP_FPM_LISTEN")
        .and_then(|listen| listen.rsplit_once(':'))
        .and_then(|(_, port)| port.parse::<i64>().ok());
    if let (Some(nginx), Some(fpm)) = (nginx, fpm_port) {
        if nginx == fpm {
            return Err(Failure::Conflict(format!(
                "NGINX_HTTP_PORT and the port of PHP_FPM_LISTEN are both {fpm}; give one of them another port"
            )));
        }
    }
    if mode != Mode::Full || !mode::process_enabled(pm_env, "REVERB") {
        return Ok(());
    }
    let reverb = settings.int("REVERB_PORT");
    if reverb.is_some() && reverb == settings.int("NGINX_HTTP_PORT") {
        let port = reverb.unwrap_or_default();
        return Err(Failure::Conflict(format!(
            "REVERB_PORT and NGINX_HTTP_PORT are both {port}; give Reverb another port"
        )));
    }
    Ok(())
}

fn run_init_scripts(settings: &Settings, app_dir: &Path, env: &Env) -> Result<(), Failure> {
    let working_dir = if app_dir.is_dir() {
        app_dir
    } else {
        Path::new("/")
    };
    init_scripts::run_all(&settings.path("PHPEEK_INIT_DIR"), working_dir, env)?;
    Ok(())
}

/// Makes the app directory the working directory of what runs next.
fn enter(app_dir: &Path) {
    if let Err(error) = std::env::set_current_dir(app_dir) {
        message::info(format_args!(
            "staying in the current directory: cannot enter {}: {error}",
            app_dir.display()
        ));
    }
}
