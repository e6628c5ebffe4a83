//! The start sequence: settings, framework, accounts, folders, configs,
//! checks, init scripts, then exec.
//!
//! Each step prints one line. The first failure stops the start and is
//! returned as a [`Failure`], which maps to the exit code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

use crate::accounts::{self, AccountError, AppUser};
use crate::capabilities::Capabilities;
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
    let env = Env::from_process();
    let settings = Settings::resolve(&env).map_err(Failure::Variables)?;
    let app_dir = settings.app_dir();
    let framework = Framework::detect(&app_dir);
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
    laravel::report_legacy_names(&settings);

    let app_user = prepare_account(&settings)?;
    let owner = app_user.as_ref().map(|user| Owner {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    });
    let sqlite = settings.text("DB_CONNECTION") == Some("sqlite");
    folders::prepare(&app_dir, framework, owner, sqlite);

    let mode = Mode::from_settings(&settings);
    let capabilities = Capabilities::probe();
    let facts = Facts {
        mode,
        framework,
        app_dir: app_dir.clone(),
        run_as: app_user.map(|user| (user.name, user.group)),
        hooks: laravel_hooks(&settings, framework, &app_dir),
        capabilities,
        outputs: Outputs {
            runtime_dir: settings.path("PHPEEK_RUNTIME_DIR"),
            pm_config: settings.path("PHPEEK_PM_RUNTIME_CONFIG"),
        },
    };
    let renderer = Renderer::new(&settings.path("PHPEEK_TEMPLATE_DIR"));
    let context = render::build_context(&settings, &facts);

    let mut child_env = env.clone();
    match &target {
        Target::Command(argv) => {
            // A one-off command such as a shell should start even when the
            // drop-in can't be written.
            if let Err(error) = render_php_ini(&renderer, &context, &facts.outputs, &mut child_env)
            {
                message::info(format_args!(
                    "{error}; continuing without the php.ini drop-in"
                ));
            }
            run_init_scripts(&settings, &app_dir, &child_env)?;
            enter(&app_dir);
            Err(launch::exec(argv, &child_env).into())
        }
        Target::Stack(extra) => {
            render_php_ini(&renderer, &context, &facts.outputs, &mut child_env)?;
            let pm_env = mode::pm_environment(&child_env, &settings, mode, capabilities.scheduler);
            check_ports(&settings, &pm_env, mode)?;
            let config = prepare_stack(&settings, &renderer, &context, &facts, &pm_env)?;
            run_init_scripts(&settings, &app_dir, &child_env)?;
            enter(&app_dir);

            let program = settings.text("PHPEEK_PM_BIN").unwrap_or("phpeek-pm");
            let mut argv = vec![OsString::from(program), "-c".into(), config.into()];
            argv.extend(extra.iter().cloned());
            message::info(format_args!(
                "starting {program} in {} mode",
                mode_name(mode)
            ));
            Err(launch::exec(&argv, &pm_env).into())
        }
    }
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

/// Renders the php.ini drop-in and points PHP_INI_SCAN_DIR at its folder.
/// A leading `:` keeps PHP's compiled-in scan folder; a value the user set
/// is kept in front.
fn render_php_ini(
    renderer: &Renderer,
    context: &minijinja::Value,
    outputs: &Outputs,
    env: &mut Env,
) -> Result<(), RenderError> {
    renderer.render_to(render::PHP_INI_TEMPLATE, context, &outputs.php_ini())?;
    let dir = outputs.php_ini_dir().display().to_string();
    let scan_dir = match env.get("PHP_INI_SCAN_DIR") {
        Some(existing) if !existing.is_empty() => format!("{existing}:{dir}"),
        _ => format!(":{dir}"),
    };
    env.set("PHP_INI_SCAN_DIR", &scan_dir);
    message::info(format_args!("rendered {}", outputs.php_ini().display()));
    Ok(())
}

/// Refuses Reverb on nginx's port, which would make one of them fail to
/// bind. Only checked when Reverb runs.
fn check_ports(settings: &Settings, pm_env: &Env, mode: Mode) -> Result<(), Failure> {
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

/// Renders nginx.conf, php-fpm.conf and the phpeek-pm config (unless a
/// mounted one exists), then checks all three. Returns the phpeek-pm config
/// to run.
fn prepare_stack(
    settings: &Settings,
    renderer: &Renderer,
    context: &minijinja::Value,
    facts: &Facts,
    pm_env: &Env,
) -> Result<PathBuf, Failure> {
    let outputs = &facts.outputs;
    renderer.render_to(render::NGINX_TEMPLATE, context, &outputs.nginx_conf())?;
    // nginx creates its temporary folders, but not their parent.
    let temp_dir = outputs.runtime_dir.join("nginx");
    render::create_folder(&temp_dir).map_err(|source| RenderError::Write {
        path: temp_dir.display().to_string(),
        source,
    })?;
    renderer.render_to(render::FPM_TEMPLATE, context, &outputs.fpm_conf())?;
    message::info(format_args!(
        "rendered {} and {}",
        outputs.nginx_conf().display(),
        outputs.fpm_conf().display()
    ));

    let mounted = settings
        .text("PHPEEK_PM_CONFIG")
        .map(PathBuf::from)
        .filter(|path| {
            let exists = path.is_file();
            if !exists {
                message::info(format_args!(
                    "PHPEEK_PM_CONFIG {} does not exist; rendering the config instead",
                    path.display()
                ));
            }
            exists
        });
    let config = match mounted {
        Some(path) => {
            message::info(format_args!(
                "using the mounted phpeek-pm config {}",
                path.display()
            ));
            path
        }
        None => {
            renderer.render_to(render::PM_TEMPLATE, context, &outputs.pm_config)?;
            message::info(format_args!("rendered {}", outputs.pm_config.display()));
            outputs.pm_config.clone()
        }
    };

    let fpm = settings.text("PHP_FPM_BIN").unwrap_or("php-fpm");
    verify::php_fpm(fpm, &outputs.fpm_conf(), pm_env)?;
    let nginx = settings.text("NGINX_BIN").unwrap_or("nginx");
    let prefix = format!("{}/", outputs.runtime_dir.display());
    verify::nginx(nginx, &prefix, &outputs.nginx_conf(), pm_env)?;
    verify::pm_config(&config, pm_env)?;
    Ok(config)
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
