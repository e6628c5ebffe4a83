//! Image definitions: the TOML file that declares one image.
//!
//! A definition names the image, the Debian suite and archives to install
//! from, the two package sets (OS and PHP, one layer each), the paths to
//! leave out, and the environment and labels of the image config. See
//! `images/definitions/` for the shipped ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors raised while reading a definition file.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The file could not be read.
    #[error("could not read the image definition {path}")]
    Read {
        /// Definition file.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or missing keys.
    #[error("invalid image definition {path}")]
    Parse {
        /// Definition file.
        path: PathBuf,
        /// TOML error, with line and column.
        #[source]
        source: toml::de::Error,
    },
    /// A value parsed but breaks a rule of the format.
    #[error("invalid image definition {path}: {field}: {reason}")]
    Invalid {
        /// Definition file.
        path: PathBuf,
        /// Key path of the bad value, such as `packages.php`.
        field: String,
        /// Problem and allowed values.
        reason: String,
    },
}

/// One image definition, as read from its TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Repository part of the image name, such as `php-fpm-nginx`.
    pub name: String,
    /// Tag of the image, such as `8.2-bookworm`.
    pub tag: String,
    /// Value of the `org.opencontainers.image.title` label.
    pub title: String,
    /// Value of the `org.opencontainers.image.description` label.
    pub description: String,
    /// PHP version as `MAJOR.MINOR`; it selects `/etc/php/<version>` and
    /// the `php<version>` and `php-fpm<version>` binaries.
    pub php_version: String,
    /// Debian architecture of the packages and of the image, such as `amd64`.
    #[serde(default = "default_architecture")]
    pub architecture: String,
    /// Package sources.
    pub apt: AptSection,
    /// Package sets and excluded paths.
    pub packages: PackageSection,
    /// Environment variables of the image config, besides `PATH` and
    /// `PHP_VERSION`, which the builder sets.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Labels added to the `org.opencontainers.image.*` ones.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Application folder added as the top layer.
    #[serde(default)]
    pub app: Option<AppSection>,
}

/// The `[app]` table: a folder of the host copied into the image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// Folder to copy. [`Definition::load`] resolves a relative path
    /// against the folder of the definition file.
    pub dir: PathBuf,
    /// Absolute path in the image that receives the folder's contents.
    #[serde(default = "default_app_target")]
    pub target: String,
}

/// The `[apt]` table: suite, archives and keyring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptSection {
    /// Debian release the image is based on, such as `bookworm`.
    pub suite: String,
    /// Keyring that verifies the archives' Release files.
    #[serde(default = "default_keyring")]
    pub keyring: PathBuf,
    /// Archive components, such as `main`.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// One entry per archive.
    pub sources: Vec<SourceEntry>,
}

/// One archive and the suites taken from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// Which mirror serves it.
    pub archive: Archive,
    /// Suites of that archive, such as `bookworm` and `bookworm-updates`.
    pub suites: Vec<String>,
}

/// The two Debian archives a mirror setup has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Archive {
    /// The main archive (`.../debian`).
    #[serde(rename = "debian")]
    Debian,
    /// The security archive (`.../debian-security`).
    #[serde(rename = "debian-security")]
    Security,
}

/// The `[packages]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSection {
    /// Packages whose closure forms the OS layer.
    pub os: Vec<String>,
    /// Packages whose closure, minus the OS layer's, forms the PHP layer.
    pub php: Vec<String>,
    /// Directories, relative to `/`, whose contents are left out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Patterns of files kept inside excluded directories; `*` matches one
    /// path component.
    #[serde(default)]
    pub keep: Vec<String>,
}

fn default_architecture() -> String {
    "amd64".to_string()
}

fn default_keyring() -> PathBuf {
    PathBuf::from("/usr/share/keyrings/debian-archive-keyring.gpg")
}

fn default_app_target() -> String {
    crate::image::WORKING_DIR.to_string()
}

fn default_components() -> Vec<String> {
    vec!["main".to_string()]
}

impl Definition {
    /// Reads and checks the definition in `path`, and resolves a relative
    /// `app.dir` against the folder that contains `path`.
    ///
    /// # Errors
    ///
    /// Returns [`DefinitionError`] when the file can't be read, isn't valid
    /// TOML for this format, or holds a value that breaks a rule.
    pub fn load(path: &Path) -> Result<Definition, DefinitionError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut definition = Definition::parse(&text, path)?;
        if let Some(app) = &mut definition.app {
            let base = path.parent().unwrap_or(Path::new("."));
            app.dir = base.join(&app.dir);
        }
        Ok(definition)
    }

    /// Parses and checks definition text; `path` is used in messages only.
    ///
    /// # Errors
    ///
    /// As for [`Definition::load`], without the read error.
    pub fn parse(text: &str, path: &Path) -> Result<Definition, DefinitionError> {
        let definition: Definition =
            toml::from_str(text).map_err(|source| DefinitionError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        definition
            .check()
            .map_err(|(field, reason)| DefinitionError::Invalid {
                path: path.to_path_buf(),
                field: field.to_string(),
                reason,
            })?;
        Ok(definition)
    }

    /// Full reference of the image in local storage.
    pub fn reference(&self) -> String {
        format!("localhost/phpeek/{}:{}", self.name, self.tag)
    }

    /// Checks the rules serde can't express; returns the field and reason.
    fn check(&self) -> Result<(), (&'static str, String)> {
        check_name("name", &self.name, |c| {
            c.is_ascii_lowercase() || "0123456789-_.".contains(c)
        })?;
        check_name("tag", &self.tag, |c| {
            c.is_ascii_alphanumeric() || "-_.".contains(c)
        })?;
        if !is_php_version(&self.php_version) {
            return Err((
                "php_version",
                format!(
                    "expected MAJOR.MINOR such as 8.2, got {:?}",
                    self.php_version
                ),
            ));
        }
        check_name("architecture", &self.architecture, |c| {
            c.is_ascii_alphanumeric()
        })?;
        if !self
            .apt
            .sources
            .iter()
            .any(|s| s.suites.contains(&self.apt.suite))
        {
            return Err((
                "apt.suite",
                format!(
                    "{:?} is not among the suites of apt.sources",
                    self.apt.suite
                ),
            ));
        }
        for source in &self.apt.sources {
            for suite in &source.suites {
                check_name("apt.sources.suites", suite, is_apt_word)?;
            }
        }
        for component in &self.apt.components {
            check_name("apt.components", component, is_apt_word)?;
        }
        check_packages("packages.os", &self.packages.os)?;
        check_packages("packages.php", &self.packages.php)?;
        check_relative_paths("packages.exclude", &self.packages.exclude)?;
        check_relative_paths("packages.keep", &self.packages.keep)?;
        if let Some(app) = &self.app {
            let target = app.target.strip_prefix('/').unwrap_or("");
            if target.is_empty() || check_relative_paths("app.target", &[target.into()]).is_err() {
                let reason = format!(
                    "{:?} must be an absolute path other than / without empty or .. components",
                    app.target
                );
                return Err(("app.target", reason));
            }
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key == "PATH" || key == "PHP_VERSION" {
                let reason = format!(
                    "{key:?} is not allowed: a name must be non-empty and without '=', \
                     and PATH and PHP_VERSION are set by the builder"
                );
                return Err(("env", reason));
            }
        }
        Ok(())
    }
}

fn check_name(
    field: &'static str,
    value: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), (&'static str, String)> {
    if value.is_empty() || !value.chars().all(allowed) {
        return Err((
            field,
            format!("{value:?} is empty or contains characters that are not allowed"),
        ));
    }
    Ok(())
}

fn check_packages(field: &'static str, packages: &[String]) -> Result<(), (&'static str, String)> {
    if packages.is_empty() {
        return Err((field, "lists no package".to_string()));
    }
    for package in packages {
        // Debian policy 5.6.1: lower case letters, digits, + - and '.'.
        let valid = package.len() >= 2
            && package.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && package
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !valid {
            return Err((
                field,
                format!("{package:?} is not a valid Debian package name"),
            ));
        }
    }
    Ok(())
}

fn check_relative_paths(
    field: &'static str,
    paths: &[String],
) -> Result<(), (&'static str, String)> {
    for path in paths {
        if path.starts_with('/') || path.split('/').any(|part| part.is_empty() || part == "..") {
            let reason = format!("{path:?} must be a relative path without empty or .. components");
            return Err((field, reason));
        }
    }
    Ok(())
}

fn is_apt_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.".contains(c)
}

fn is_php_version(value: &str) -> bool {
    let mut parts = value.split('.');
    let numeric = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "php-fpm-nginx"
tag = "8.2-bookworm"
title = "t"
description = "d"
php_version = "8.2"

[apt]
suite = "bookworm"
sources = [
  { archive = "debian", suites = ["bookworm", "bookworm-updates"] },
  { archive = "debian-security", suites = ["bookworm-security"] },
]

[packages]
os = ["dash"]
php = ["php8.2-cli"]
"#;

    fn parse(text: &str) -> Result<Definition, DefinitionError> {
        Definition::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn minimal_definition_parses_with_defaults() {
        let definition = parse(MINIMAL).expect("valid definition");
        assert_eq!(definition.architecture, "amd64");
        assert_eq!(definition.apt.components, vec!["main"]);
        assert_eq!(definition.apt.sources[1].archive, Archive::Security);
        assert_eq!(
            definition.reference(),
            "localhost/phpeek/php-fpm-nginx:8.2-bookworm"
        );
    }

    #[test]
    fn shipped_definitions_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("definitions");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("definitions dir") {
            let path = entry.expect("dir entry").path();
            Definition::load(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            count += 1;
        }
        assert!(count >= 2);
    }

    #[test]
    fn unknown_key_is_rejected() {
        let text = MINIMAL.replace("php_version", "phpversion = \"8.2\"\nphp_version");
        let error = parse(&text).expect_err("unknown key");
        assert!(matches!(error, DefinitionError::Parse { .. }), "{error:?}");
    }

    #[test]
    fn bad_package_name_is_rejected() {
        let text = MINIMAL.replace("\"dash\"", "\"Dash Shell\"");
        let error = parse(&text).expect_err("bad package name");
        assert!(error.to_string().contains("packages.os"), "{error}");
        assert!(error.to_string().contains("Dash Shell"), "{error}");
    }

    #[test]
    fn php_version_needs_major_and_minor() {
        for bad in ["8", "8.2.1", "8.x", ""] {
            let text = MINIMAL.replace("php_version = \"8.2\"", &format!("php_version = {bad:?}"));
            let error = parse(&text).expect_err(bad);
            assert!(error.to_string().contains("php_version"), "{error}");
        }
    }

    #[test]
    fn suite_must_be_listed_in_sources() {
        let text = MINIMAL.replace("suite = \"bookworm\"", "suite = \"trixie\"");
        let error = parse(&text).expect_err("suite not in sources");
        assert!(error.to_string().contains("apt.suite"), "{error}");
    }

    #[test]
    fn builder_owned_env_is_rejected() {
        let text = format!("{MINIMAL}\n[env]\nPATH = \"/bin\"\n");
        let error = parse(&text).expect_err("PATH in env");
        assert!(error.to_string().contains("PATH"), "{error}");
    }

    #[test]
    fn keep_pattern_must_be_relative() {
        let text = MINIMAL.replace(
            "php = [\"php8.2-cli\"]",
            "php = [\"php8.2-cli\"]\nkeep = [\"usr/../etc\"]",
        );
        let error = parse(&text).expect_err("climbing keep pattern");
        assert!(error.to_string().contains("packages.keep"), "{error}");
    }

    #[test]
    fn app_dir_is_resolved_against_the_definition() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.toml");
        let text = format!("{MINIMAL}\n[app]\ndir = \"../site\"\n");
        std::fs::write(&file, text).expect("write");
        let definition = Definition::load(&file).expect("valid definition");
        let app = definition.app.expect("app table");
        assert_eq!(app.dir, dir.path().join("../site"));
        assert_eq!(app.target, "/var/www/html");
    }

    #[test]
    fn app_target_must_be_absolute() {
        for bad in ["var/www", "/", "/var/../etc", "/var//www"] {
            let text = format!("{MINIMAL}\n[app]\ndir = \"site\"\ntarget = {bad:?}\n");
            let error = parse(&text).expect_err(bad);
            assert!(error.to_string().contains("app.target"), "{error}");
        }
    }

    #[test]
    fn exclude_must_be_relative() {
        let text = MINIMAL.replace(
            "php = [\"php8.2-cli\"]",
            "php = [\"php8.2-cli\"]\nexclude = [\"/usr/share/doc\"]",
        );
        let error = parse(&text).expect_err("absolute exclude");
        assert!(error.to_string().contains("packages.exclude"), "{error}");
    }
}
