//! PHP: module ini files, `conf.d` links, `php.ini` and alternatives.
//!
//! Debian's php packages ship each module's ini file under
//! `/usr/share/php<V>-<package>/<package>/` (PECL modules ship theirs
//! directly in `/etc/php/<V>/mods-available/`), and their `postinst` runs
//! `phpenmod`, which copies the file into `mods-available` and links
//! `/etc/php/<V>/<sapi>/conf.d/<priority>-<module>.ini` to it. The priority
//! comes from a `; priority=NN` line and is 20 without one, so modules load
//! in dependency order (mysqlnd at 10 before mysqli at 20).

use std::path::{Path, PathBuf};

use super::PostconfError;
use crate::tree::{Node, NodeKind, Tree};

/// Priority `phpenmod` uses for an ini file without a `; priority=` line.
const DEFAULT_PRIORITY: u32 = 20;

/// Server APIs whose `conf.d` gets a link per module, when installed.
const SAPIS: [&str; 2] = ["cli", "fpm"];

/// Configures PHP `version` (such as `8.2`) in `tree`.
///
/// # Errors
///
/// [`PostconfError::Missing`] when `php.ini-production` is missing, which
/// means `php<V>-common` is not in the tree, and [`PostconfError::Tree`]
/// when a packaged entry is in the way.
pub fn configure(tree: &mut Tree, version: &str) -> Result<(), PostconfError> {
    let etc = PathBuf::from(format!("etc/php/{version}"));
    let mods = etc.join("mods-available");
    copy_shipped_ini_files(tree, version, &mods)?;
    link_modules(tree, &etc, &mods)?;
    install_php_ini(tree, version, &etc)?;
    link_alternatives(tree, version)?;

    // php<V>-fpm's tmpfiles.d entry: "d /run/php 0755 www-data www-data".
    tree.insert("run/php", Node::dir(0o755).owned_by(33, 33))?;
    Ok(())
}

/// Copies `/usr/share/php<V>-*/*/*.ini` into `mods-available`.
fn copy_shipped_ini_files(
    tree: &mut Tree,
    version: &str,
    mods: &Path,
) -> Result<(), PostconfError> {
    let prefix = format!("php{version}-");
    let shipped: Vec<(PathBuf, Vec<u8>)> = tree
        .below(Path::new("usr/share"))
        .filter_map(|(path, node)| {
            let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
            match (&node.kind, parts.as_slice()) {
                (NodeKind::File(contents), ["usr", "share", package, _, file])
                    if package.starts_with(&prefix) && file.ends_with(".ini") =>
                {
                    Some((PathBuf::from(file), contents.clone()))
                }
                _ => None,
            }
        })
        .collect();
    for (file, contents) in shipped {
        tree.insert(mods.join(file), Node::file(contents, 0o644))?;
    }
    Ok(())
}

/// Links every module in `mods-available` into each installed SAPI's
/// `conf.d`.
fn link_modules(tree: &mut Tree, etc: &Path, mods: &Path) -> Result<(), PostconfError> {
    let modules: Vec<(String, u32)> = tree
        .below(mods)
        .filter_map(|(path, node)| {
            let NodeKind::File(contents) = &node.kind else {
                return None;
            };
            let name = path.file_stem()?.to_str()?.to_string();
            path.extension().filter(|e| *e == "ini")?;
            Some((name, priority(contents)))
        })
        .collect();
    for sapi in SAPIS {
        let sapi_dir = etc.join(sapi);
        if tree.get(&sapi_dir).is_none() {
            continue;
        }
        for (module, priority) in &modules {
            let link = sapi_dir.join(format!("conf.d/{priority:02}-{module}.ini"));
            let target = Path::new("/").join(mods).join(format!("{module}.ini"));
            tree.insert(link, Node::symlink(target))?;
        }
    }
    Ok(())
}

/// Reads the `; priority=NN` line of an ini file.
fn priority(contents: &[u8]) -> u32 {
    String::from_utf8_lossy(contents)
        .lines()
        .filter_map(|line| line.trim().strip_prefix(';'))
        .filter_map(|rest| rest.trim().strip_prefix("priority="))
        .find_map(|value| value.trim().parse().ok())
        .unwrap_or(DEFAULT_PRIORITY)
}

/// Installs `php.ini` for each SAPI, as php<V>-fpm's and php<V>-cli's
/// `postinst` do with ucf: `php.ini-production` for fpm and
/// `php.ini-production.cli` (Debian's CLI variant, falling back to the
/// plain file) for cli.
fn install_php_ini(tree: &mut Tree, version: &str, etc: &Path) -> Result<(), PostconfError> {
    let lib = PathBuf::from(format!("usr/lib/php/{version}"));
    let production = lib.join("php.ini-production");
    let Some(fpm_ini) = tree.file_contents(&production).map(<[u8]>::to_vec) else {
        return Err(PostconfError::Missing {
            path: production,
            hint: format!("it is part of php{version}-common"),
        });
    };
    let cli_ini = tree
        .file_contents(lib.join("php.ini-production.cli"))
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| fpm_ini.clone());
    for (sapi, contents) in [("fpm", fpm_ini), ("cli", cli_ini)] {
        if tree.get(etc.join(sapi)).is_some() {
            tree.insert(etc.join(sapi).join("php.ini"), Node::file(contents, 0o644))?;
        }
    }
    Ok(())
}

/// Links the unversioned names that `update-alternatives` would manage:
/// `php`, `phar`, `phar.phar` and `php-fpm`.
fn link_alternatives(tree: &mut Tree, version: &str) -> Result<(), PostconfError> {
    let links = [
        ("usr/bin/php", format!("php{version}")),
        ("usr/bin/phar", format!("phar{version}")),
        ("usr/bin/phar.phar", format!("phar.phar{version}")),
        ("usr/sbin/php-fpm", format!("php-fpm{version}")),
    ];
    for (link, target) in links {
        let dir = Path::new(link).parent().unwrap_or(Path::new(""));
        if tree.get(dir.join(&target)).is_some() {
            tree.insert(link, Node::symlink(target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn php_tree() -> Tree {
        let mut tree = Tree::new();
        let mut add = |path: &str, contents: &str| {
            tree.insert(path, Node::file(contents, 0o644))
                .expect("insert");
        };
        add("usr/lib/php/8.2/php.ini-production", "; production\n");
        add(
            "usr/lib/php/8.2/php.ini-production.cli",
            "; production cli\n",
        );
        add(
            "usr/share/php8.2-opcache/opcache/opcache.ini",
            "; priority=10\nzend_extension=opcache.so\n",
        );
        add(
            "usr/share/php8.2-mysql/mysql/mysqli.ini",
            "; priority=20\nextension=mysqli.so\n",
        );
        add("usr/share/php8.3-mysql/mysql/other.ini", "; priority=20\n");
        add(
            "etc/php/8.2/mods-available/redis.ini",
            "extension=redis.so\n",
        );

        add("usr/bin/php8.2", "ELF");
        add("usr/sbin/php-fpm8.2", "ELF");
        tree.insert("etc/php/8.2/cli", Node::dir(0o755))
            .expect("cli");
        tree.insert("etc/php/8.2/fpm", Node::dir(0o755))
            .expect("fpm");
        tree
    }

    fn link_target(tree: &Tree, path: &str) -> Option<PathBuf> {
        match &tree.get(path)?.kind {
            NodeKind::Symlink(target) => Some(target.clone()),
            _ => None,
        }
    }

    #[test]
    fn modules_are_linked_with_their_priority() {
        let mut tree = php_tree();
        configure(&mut tree, "8.2").expect("configure");
        for sapi in ["cli", "fpm"] {
            assert_eq!(
                link_target(&tree, &format!("etc/php/8.2/{sapi}/conf.d/10-opcache.ini")),
                Some(PathBuf::from("/etc/php/8.2/mods-available/opcache.ini"))
            );
            assert!(
                link_target(&tree, &format!("etc/php/8.2/{sapi}/conf.d/20-mysqli.ini")).is_some()
            );
        }
        assert!(tree
            .file_contents("etc/php/8.2/mods-available/opcache.ini")
            .is_some());
    }

    #[test]
    fn ini_without_priority_gets_twenty() {
        let mut tree = php_tree();
        configure(&mut tree, "8.2").expect("configure");
        assert!(link_target(&tree, "etc/php/8.2/fpm/conf.d/20-redis.ini").is_some());
    }

    #[test]
    fn other_php_versions_are_ignored() {
        let mut tree = php_tree();
        configure(&mut tree, "8.2").expect("configure");
        assert!(tree.get("etc/php/8.2/mods-available/other.ini").is_none());
    }

    #[test]
    fn php_ini_uses_the_cli_variant_for_cli() {
        let mut tree = php_tree();
        configure(&mut tree, "8.2").expect("configure");
        assert_eq!(
            tree.file_contents("etc/php/8.2/fpm/php.ini"),
            Some(&b"; production\n"[..])
        );
        assert_eq!(
            tree.file_contents("etc/php/8.2/cli/php.ini"),
            Some(&b"; production cli\n"[..])
        );
    }

    #[test]
    fn alternatives_link_to_existing_binaries_only() {
        let mut tree = php_tree();
        configure(&mut tree, "8.2").expect("configure");
        assert_eq!(
            link_target(&tree, "usr/bin/php"),
            Some(PathBuf::from("php8.2"))
        );
        assert_eq!(
            link_target(&tree, "usr/sbin/php-fpm"),
            Some(PathBuf::from("php-fpm8.2"))
        );
        assert!(tree.get("usr/bin/phar").is_none());
    }

    #[test]
    fn missing_common_package_is_reported() {
        let mut tree = Tree::new();
        let error = configure(&mut tree, "8.4").expect_err("no php.ini");
        assert!(error.to_string().contains("php8.4-common"), "{error}");
    }

    #[test]
    fn priority_line_parsing() {
        assert_eq!(
            priority(b"; configuration\n; priority=25\nextension=x.so\n"),
            25
        );
        assert_eq!(priority(b"extension=x.so\n"), 20);
        assert_eq!(priority(b";priority = 05\n"), 20);
    }
}
