//! The optional app layer: a folder of the host, such as a Laravel app,
//! copied to the definition's `app.target` (default /var/www/html).
//!
//! Every file and folder under the source is copied, dot files included.
//! Files get mode 0755 when the owner may execute them and 0644 otherwise,
//! folders 0755, and symlinks keep their target. Like every entry of the
//! image, they belong to root; phpeek-entrypoint gives the folders that the
//! framework writes to the app user when the container starts. Sockets,
//! FIFOs and device files are skipped.
//!
//! A Laravel app (one with `artisan` and `public/`) also gets the link
//! `public/storage` -> `../storage/app/public` that `php artisan
//! storage:link` would create, unless it has a `public/storage` of its own.
//! `public/` belongs to root in the image, so the entrypoint's storage:link
//! hook, which runs as the app user, could not create the link at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::tree::{Node, Tree, TreeError};

/// Errors raised while collecting the app layer.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A file, folder or symlink of the app couldn't be read.
    #[error("could not read {path} of the app folder")]
    Read {
        /// The entry that failed.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file couldn't be placed in the layer.
    #[error("could not add a file to the app layer")]
    Tree(#[from] TreeError),
}

/// Builds the app layer from the folder `dir`, placed at `target` (an
/// absolute path in the image).
///
/// # Errors
///
/// [`AppError::Read`] when `dir` or an entry below it can't be read.
pub fn build(dir: &Path, target: &str) -> Result<Tree, AppError> {
    let mut tree = Tree::new();
    let target = Path::new(target.trim_start_matches('/'));
    add_dir(&mut tree, dir, target)?;
    add_storage_link(&mut tree, target)?;
    Ok(tree)
}

/// Adds Laravel's `public/storage` link below `target` when the app there
/// is a Laravel app without one. The link is relative, as `storage:link
/// --relative` makes it, so it resolves wherever the app is placed.
fn add_storage_link(tree: &mut Tree, target: &Path) -> Result<(), AppError> {
    let is_laravel =
        tree.get(target.join("artisan")).is_some() && tree.get(target.join("public")).is_some();
    let link = target.join("public/storage");
    if is_laravel && tree.get(&link).is_none() {
        tree.insert(link, Node::symlink("../storage/app/public"))?;
    }
    Ok(())
}

fn add_dir(tree: &mut Tree, dir: &Path, target: &Path) -> Result<(), AppError> {
    let read_error = |source| AppError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    tree.insert(target, Node::dir(0o755))?;

    for path in entries {
        let Some(name) = path.file_name() else {
            continue;
        };
        let read_error = |source| AppError::Read {
            path: path.clone(),
            source,
        };
        let metadata = std::fs::symlink_metadata(&path).map_err(read_error)?;
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            add_dir(tree, &path, &target.join(name))?;
        } else if file_type.is_symlink() {
            let link = std::fs::read_link(&path).map_err(read_error)?;
            tree.insert(target.join(name), Node::symlink(link))?;
        } else if file_type.is_file() {
            let mode = if metadata.permissions().mode() & 0o100 != 0 {
                0o755
            } else {
                0o644
            };
            let contents = std::fs::read(&path).map_err(read_error)?;
            tree.insert(target.join(name), Node::file(contents, mode))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_layer_keeps_layout_modes_and_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path();
        std::fs::create_dir_all(app.join("public")).expect("mkdir");
        std::fs::write(app.join("public/index.php"), "<?php").expect("write");
        std::fs::write(app.join("artisan"), "#!/usr/bin/env php").expect("write");
        std::fs::write(app.join(".env.example"), "APP_KEY=").expect("write");
        let executable = std::fs::Permissions::from_mode(0o750);
        std::fs::set_permissions(app.join("artisan"), executable).expect("chmod");
        std::os::unix::fs::symlink("public", app.join("web")).expect("symlink");

        let tree = build(app, "/var/www/html").expect("build");

        assert_eq!(
            tree.file_contents("var/www/html/public/index.php"),
            Some(&b"<?php"[..])
        );
        let mode = |path: &str| tree.get(path).map(|node| node.mode);
        assert_eq!(mode("var/www/html/public/index.php"), Some(0o644));
        assert_eq!(mode("var/www/html/artisan"), Some(0o755));
        assert_eq!(mode("var/www/html/public"), Some(0o755));
        assert!(tree.get("var/www/html/.env.example").is_some());
        assert_eq!(
            tree.get("var/www/html/web").map(|node| &node.kind),
            Some(&crate::tree::NodeKind::Symlink(PathBuf::from("public")))
        );
    }

    fn link_target(tree: &Tree, path: &str) -> Option<PathBuf> {
        match &tree.get(path)?.kind {
            crate::tree::NodeKind::Symlink(target) => Some(target.clone()),
            _ => None,
        }
    }

    #[test]
    fn laravel_app_gets_storage_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path();
        std::fs::create_dir_all(app.join("public")).expect("mkdir");
        std::fs::write(app.join("artisan"), "#!/usr/bin/env php").expect("write");

        let tree = build(app, "/var/www/html").expect("build");

        assert_eq!(
            link_target(&tree, "var/www/html/public/storage"),
            Some(PathBuf::from("../storage/app/public"))
        );
    }

    #[test]
    fn storage_link_of_the_app_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path();
        std::fs::create_dir_all(app.join("public/storage")).expect("mkdir");
        std::fs::write(app.join("artisan"), "#!/usr/bin/env php").expect("write");

        let tree = build(app, "/srv/app").expect("build");

        let node = tree.get("srv/app/public/storage").expect("public/storage");
        assert_eq!(node.kind, crate::tree::NodeKind::Directory);
    }

    #[test]
    fn other_apps_get_no_storage_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path();
        std::fs::create_dir_all(app.join("public")).expect("mkdir");
        std::fs::write(app.join("public/index.php"), "<?php").expect("write");

        let tree = build(app, "/var/www/html").expect("build");

        assert!(tree.get("var/www/html/public/storage").is_none());
    }

    #[test]
    fn missing_app_folder_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("absent");
        let error = build(&missing, "/var/www/html").expect_err("missing folder");
        assert!(error.to_string().contains("absent"), "{error}");
    }
}
