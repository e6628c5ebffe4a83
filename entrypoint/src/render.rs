//! Rendering the config templates with minijinja.
//!
//! Templates are loaded from PHPEEK_TEMPLATE_DIR by name. Undefined
//! variables are errors, so a typo in a template fails the start with the
//! template's name and line instead of rendering an empty value.

mod context;
mod filters;

use std::io;
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub(crate) use context::{build as build_context, Facts, Outputs};

/// The templates and the files they render to.
pub(crate) const PM_TEMPLATE: &str = "phpeek-pm.yaml.j2";
/// nginx main config and server block.
pub(crate) const NGINX_TEMPLATE: &str = "nginx.conf.j2";
/// php-fpm global section and pool.
pub(crate) const FPM_TEMPLATE: &str = "php-fpm.conf.j2";
/// php.ini drop-in.
pub(crate) const PHP_INI_TEMPLATE: &str = "php.ini.j2";

/// A failed render or write.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    /// The template is missing or invalid, or uses a value it can't.
    #[error("failed to render {template} from {dir}: {detail}")]
    Template {
        /// Template name.
        template: String,
        /// Template directory.
        dir: String,
        /// minijinja's message with the line.
        detail: String,
    },
    /// The output could not be written.
    #[error("failed to write {path}{}", write_hint(*setting, source))]
    Write {
        /// The output file.
        path: String,
        /// The variable that chose the path, once known.
        setting: Option<&'static str>,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Returns the fix for a failed write, in brackets, or nothing when no
/// variable chose the path and the file system is writable.
fn write_hint(setting: Option<&str>, source: &io::Error) -> String {
    // On a read-only root, moving PHPEEK_RUNTIME_DIR alone is not enough:
    // php-fpm -t then fails on opcache's lock file, which
    // opcache.lockfile_path puts in /tmp.
    if source.kind() == io::ErrorKind::ReadOnlyFilesystem {
        return " (with a read-only root file system, mount a tmpfs on /tmp, like \
                `docker run --read-only --tmpfs /tmp`: the runtime files, the phpeek-pm \
                config and PHP's opcache lock file are written there)"
            .to_owned();
    }
    setting
        .map(|name| format!(" (set {name} to a writable path)"))
        .unwrap_or_default()
}

/// Renders templates from one directory.
pub(crate) struct Renderer {
    env: Environment<'static>,
    dir: PathBuf,
}

impl Renderer {
    /// Prepares a renderer for the templates in `dir`. Nothing is read
    /// until a template is rendered.
    pub(crate) fn new(dir: &Path) -> Renderer {
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(dir));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // These are config files, never HTML or JSON.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build();
        if let Ok(syntax) = syntax {
            env.set_syntax(syntax);
        }
        filters::register(&mut env);
        Renderer {
            env,
            dir: dir.to_path_buf(),
        }
    }

    /// Renders template `name` with `context`.
    ///
    /// # Errors
    ///
    /// Returns [`RenderError::Template`] when the template is missing,
    /// doesn't parse, or fails while rendering.
    pub(crate) fn render(
        &self,
        name: &str,
        context: &minijinja::Value,
    ) -> Result<String, RenderError> {
        let failed = |error: minijinja::Error| RenderError::Template {
            template: name.to_owned(),
            dir: self.dir.display().to_string(),
            detail: describe(&error),
        };
        let template = self.env.get_template(name).map_err(failed)?;
        template.render(context).map_err(failed)
    }

    /// Renders template `name` into the file `path`, creating its folder.
    ///
    /// # Errors
    ///
    /// Returns an error when rendering or writing fails.
    pub(crate) fn render_to(
        &self,
        name: &str,
        context: &minijinja::Value,
        path: &Path,
    ) -> Result<(), RenderError> {
        let text = self.render(name, context)?;
        write(path, &text)
    }
}

/// Returns minijinja's message with its causes, on one line.
fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Writes `text` to `path`, creating the folder with mode 0755 so that
/// workers that switch to the app user can still reach the file.
///
/// # Errors
///
/// Returns [`RenderError::Write`] naming the path.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), RenderError> {
    let failed = |source| RenderError::Write {
        path: path.display().to_string(),
        setting: None,
        source,
    };
    if let Some(folder) = path.parent() {
        create_folder(folder).map_err(failed)?;
    }
    std::fs::write(path, text).map_err(failed)
}

/// Writes `text` to `path` with mode 0600, for files that may contain
/// secrets. The text goes to a new file next to `path` first, which is then
/// renamed over it, so no other account can hold the file open or own it,
/// and a reader never sees half of it.
///
/// # Errors
///
/// Returns [`RenderError::Write`] naming the path.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), RenderError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let failed = |source| RenderError::Write {
        path: path.display().to_string(),
        setting: None,
        source,
    };
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let staging = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    if let Some(folder) = path.parent() {
        create_folder(folder).map_err(failed)?;
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staging)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&staging, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    written.map_err(failed)
}

/// Creates `folder` and its parents with mode 0755.
///
/// # Errors
///
/// Returns the I/O error of the first folder that can't be created.
pub(crate) fn create_folder(folder: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(folder)
}

#[cfg(test)]
mod tests;
