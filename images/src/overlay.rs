//! The phpeek layer: phpeek's binaries, templates and default configs. It
//! is the top layer unless the definition adds an app layer.
//!
//! - `/usr/local/bin/phpeek-pm` and `/usr/local/bin/phpeek-entrypoint`,
//!   copied from the release build;
//! - `/usr/share/phpeek/templates/`, the workspace's `templates/`;
//! - nginx's `nginx.conf` and `conf.d/default.conf`, and php-fpm's
//!   `php-fpm.conf` and `pool.d/www.conf`, which replace Debian's so that
//!   phpeek-pm's built-in configuration works unchanged: php-fpm on
//!   127.0.0.1:9000, nginx on port 80 with `/health`, all logs on stdio.

use std::path::{Path, PathBuf};

use crate::elf::Linkage;
use crate::tree::{Node, Tree, TreeError};

/// Errors raised while collecting the phpeek layer.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// A binary to ship is missing.
    #[error(
        "{name} not found at {path}: build it with `scripts/build-release.sh` \
         or pass {flag} PATH"
    )]
    MissingBinary {
        /// Binary name.
        name: &'static str,
        /// Path that was checked.
        path: PathBuf,
        /// The flag that points elsewhere.
        flag: &'static str,
    },
    /// A file couldn't be read.
    #[error("could not read {path}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file couldn't be placed in the layer.
    #[error("could not add a file to the phpeek layer")]
    Tree(#[from] TreeError),
}

/// Source paths of the phpeek layer's files.
#[derive(Debug, Clone)]
pub struct OverlaySources {
    /// The `phpeek-pm` binary.
    pub pm_bin: PathBuf,
    /// The `phpeek-entrypoint` binary.
    pub entrypoint_bin: PathBuf,
    /// The workspace's `templates/` directory.
    pub templates: PathBuf,
}

const NGINX_CONF: &str = include_str!("../files/nginx.conf");
const NGINX_SERVER: &str = include_str!("../files/default.conf");
const FPM_CONF: &str = include_str!("../files/php-fpm.conf");
const FPM_POOL: &str = include_str!("../files/www.conf");

/// Checks that both binaries exist, without reading them.
///
/// # Errors
///
/// [`OverlayError::MissingBinary`] for the first one that is missing.
pub fn check_binaries(sources: &OverlaySources) -> Result<(), OverlayError> {
    for (name, path, flag) in binaries(sources) {
        if !path.is_file() {
            return Err(OverlayError::MissingBinary {
                name,
                path: path.to_path_buf(),
                flag,
            });
        }
    }
    Ok(())
}

/// Returns a warning when the phpeek-pm to ship is dynamically linked, so
/// not the static build that `scripts/build-release.sh` leaves in
/// target/release. A `cargo build` of phpeek-pm writes such a build over
/// it. Files that are not ELF executables, or can't be read, get none.
pub fn dynamic_pm_warning(sources: &OverlaySources) -> Option<String> {
    let path = &sources.pm_bin;
    match crate::elf::read_linkage(path) {
        Ok(Some(Linkage::Dynamic)) => Some(format!(
            "{} is dynamically linked (it has a program interpreter), not the static \
             build of scripts/build-release.sh: in the image it loads the image's glibc, \
             and it idles in about 3 MiB more memory. Run scripts/build-release.sh, or \
             pass --pm-bin with the static build",
            path.display()
        )),
        _ => None,
    }
}

fn binaries(sources: &OverlaySources) -> [(&'static str, &Path, &'static str); 2] {
    [
        ("phpeek-pm", &sources.pm_bin, "--pm-bin"),
        (
            "phpeek-entrypoint",
            &sources.entrypoint_bin,
            "--entrypoint-bin",
        ),
    ]
}

/// Builds the phpeek layer for PHP `php_version`.
///
/// # Errors
///
/// [`OverlayError`] when a binary or template can't be read.
pub fn build(sources: &OverlaySources, php_version: &str) -> Result<Tree, OverlayError> {
    check_binaries(sources)?;
    let mut tree = Tree::new();
    for (name, path, _) in binaries(sources) {
        let contents = read(path)?;
        tree.insert(format!("usr/local/bin/{name}"), Node::file(contents, 0o755))?;
    }
    add_templates(
        &mut tree,
        &sources.templates,
        Path::new("usr/share/phpeek/templates"),
    )?;

    let render = |text: &str| text.replace("@PHP_VERSION@", php_version);
    let fpm = format!("etc/php/{php_version}/fpm");
    tree.insert("etc/nginx/nginx.conf", Node::file(NGINX_CONF, 0o644))?;
    tree.insert(
        "etc/nginx/conf.d/default.conf",
        Node::file(NGINX_SERVER, 0o644),
    )?;
    tree.insert(
        format!("{fpm}/php-fpm.conf"),
        Node::file(render(FPM_CONF), 0o644),
    )?;
    tree.insert(
        format!("{fpm}/pool.d/www.conf"),
        Node::file(FPM_POOL, 0o644),
    )?;
    Ok(tree)
}

/// Copies the regular files under `dir` into `target`, keeping the
/// directory structure; symlinks and special files are skipped.
fn add_templates(tree: &mut Tree, dir: &Path, target: &Path) -> Result<(), OverlayError> {
    let read_dir_error = |source| OverlayError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_dir_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_dir_error)?;
    entries.sort();
    tree.insert(target, Node::dir(0o755))?;
    for path in entries {
        let Some(name) = path.file_name() else {
            continue;
        };
        let metadata = std::fs::symlink_metadata(&path).map_err(|source| OverlayError::Read {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            add_templates(tree, &path, &target.join(name))?;
        } else if metadata.is_file() {
            tree.insert(target.join(name), Node::file(read(&path)?, 0o644))?;
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, OverlayError> {
    std::fs::read(path).map_err(|source| OverlayError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> OverlaySources {
        let templates = dir.join("templates");
        std::fs::create_dir_all(templates.join("nginx")).expect("mkdir");
        std::fs::write(templates.join("a.yaml"), "a").expect("write");
        std::fs::write(templates.join("nginx/site.conf.j2"), "s").expect("write");
        std::fs::write(dir.join("pm"), "pm").expect("write");
        std::fs::write(dir.join("ep"), "ep").expect("write");
        OverlaySources {
            pm_bin: dir.join("pm"),
            entrypoint_bin: dir.join("ep"),
            templates,
        }
    }

    #[test]
    fn dynamic_pm_gets_a_warning() {
        use crate::elf::{test_elf64, PT_INTERP, PT_LOAD};

        let dir = tempfile::tempdir().expect("tempdir");
        let sources = sources(dir.path());
        std::fs::write(&sources.pm_bin, test_elf64(&[PT_LOAD, PT_INTERP])).expect("write");

        let warning = dynamic_pm_warning(&sources).unwrap_or_default();

        let path = sources.pm_bin.display().to_string();
        assert!(warning.starts_with(&path), "{warning}");
        assert!(warning.contains("dynamically linked"), "{warning}");
        assert!(warning.contains("scripts/build-release.sh"), "{warning}");
    }

    #[test]
    fn static_pm_gets_no_warning() {
        use crate::elf::{test_elf64, PT_LOAD};

        let dir = tempfile::tempdir().expect("tempdir");
        let sources = sources(dir.path());

        assert_eq!(dynamic_pm_warning(&sources), None);
        std::fs::write(&sources.pm_bin, test_elf64(&[PT_LOAD])).expect("write");
        assert_eq!(dynamic_pm_warning(&sources), None);
    }

    #[test]
    fn layer_holds_binaries_templates_and_configs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = build(&sources(dir.path()), "8.4").expect("build");
        assert_eq!(
            tree.file_contents("usr/local/bin/phpeek-pm"),
            Some(&b"pm"[..])
        );
        assert_eq!(
            tree.get("usr/local/bin/phpeek-entrypoint").map(|n| n.mode),
            Some(0o755)
        );
        assert!(tree.get("usr/share/phpeek/templates/a.yaml").is_some());
        assert!(tree
            .get("usr/share/phpeek/templates/nginx/site.conf.j2")
            .is_some());
        let fpm = tree
            .file_contents("etc/php/8.4/fpm/php-fpm.conf")
            .expect("fpm conf");
        let fpm = String::from_utf8_lossy(fpm);
        assert!(
            fpm.contains("include = /etc/php/8.4/fpm/pool.d/*.conf"),
            "{fpm}"
        );
        assert!(!fpm.contains('@'), "{fpm}");
        assert!(tree.get("etc/nginx/conf.d/default.conf").is_some());
    }

    #[test]
    fn missing_entrypoint_names_the_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sources = sources(dir.path());
        sources.entrypoint_bin = dir.path().join("absent");
        let error = build(&sources, "8.2").expect_err("missing");
        let text = error.to_string();
        assert!(text.contains("phpeek-entrypoint"), "{text}");
        assert!(text.contains("--entrypoint-bin"), "{text}");
        assert!(text.contains("scripts/build-release.sh"), "{text}");
    }

    #[test]
    fn shipped_configs_match_the_built_in_phpeek_config() {
        // phpeek-pm's built-in config probes these; see templates/.
        assert!(NGINX_SERVER.contains("location = /health"));
        assert!(NGINX_SERVER.contains("listen 80 "));
        assert!(FPM_POOL.contains("listen = 127.0.0.1:9000"));
        let daemon_lines = NGINX_CONF
            .lines()
            .filter(|l| l.trim_start().starts_with("daemon"));
        assert_eq!(daemon_lines.count(), 0, "daemon is passed with -g");
    }
}
