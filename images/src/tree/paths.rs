//! Path rules of trees: merged-usr normalization, keep patterns and
//! entries below symlinks.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::{NodeKind, Tree, TreeError, MERGED_DIRS};

/// Finds an entry whose parent path is a symlink in any of `layers`;
/// returns the entry and the symlink.
///
/// Unpacking such an entry would write through the link, or fail,
/// depending on the container runtime, so the builder rejects it.
/// Merged-usr paths never trigger this, because [`normalize`] moves them
/// under `usr/` before they reach a tree.
pub fn find_entry_below_symlink(layers: &[&Tree]) -> Option<(PathBuf, PathBuf)> {
    let links: BTreeSet<&Path> = layers
        .iter()
        .flat_map(|tree| tree.iter())
        .filter(|(_, node)| matches!(node.kind, NodeKind::Symlink(_)))
        .map(|(path, _)| path)
        .collect();
    layers
        .iter()
        .flat_map(|tree| tree.iter())
        .find_map(|(path, _)| {
            path.ancestors()
                .skip(1)
                .find(|ancestor| links.contains(ancestor))
                .map(|link| (path.to_path_buf(), link.to_path_buf()))
        })
}

/// Matches `path` against a keep pattern split at `/`, where `*` matches
/// exactly one component.
pub(super) fn matches_pattern(path: &Path, pattern: &[&str]) -> bool {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    parts.len() == pattern.len()
        && parts
            .iter()
            .zip(pattern)
            .all(|(part, pat)| *pat == "*" || part == pat)
}

/// Normalizes an archive path: strips `./`, maps merged-usr top-level
/// directories under `usr/`, and returns `None` for the root itself and for
/// the merged top-level directories.
///
/// # Errors
///
/// [`TreeError::UnsafePath`] for `..` components and absolute paths.
pub fn normalize(raw: &Path) -> Result<Option<PathBuf>, TreeError> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in raw.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => parts.push(part),
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(TreeError::UnsafePath {
                    path: raw.to_path_buf(),
                });
            }
        }
    }
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let merged = MERGED_DIRS.iter().any(|dir| *first == *dir);
    if merged && parts.len() == 1 {
        return Ok(None);
    }
    let mut path = PathBuf::new();
    if merged {
        path.push("usr");
    }
    path.extend(parts);
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Node;

    #[test]
    fn merged_usr_paths_move_under_usr() {
        let map = |p: &str| normalize(Path::new(p)).expect("safe");
        assert_eq!(map("./bin/sh"), Some(PathBuf::from("usr/bin/sh")));
        assert_eq!(
            map("./lib64/ld-linux-x86-64.so.2"),
            Some(PathBuf::from("usr/lib64/ld-linux-x86-64.so.2"))
        );
        assert_eq!(
            map("./usr/bin/php8.2"),
            Some(PathBuf::from("usr/bin/php8.2"))
        );
        assert_eq!(map("./etc/passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(map("./binaries/x"), Some(PathBuf::from("binaries/x")));
        assert_eq!(map("./"), None);
        assert_eq!(map("./bin/"), None);
    }

    #[test]
    fn escaping_paths_are_rejected() {
        assert!(normalize(Path::new("./../etc/passwd")).is_err());
        assert!(normalize(Path::new("/etc/passwd")).is_err());
    }

    #[test]
    fn entry_below_symlink_of_lower_layer_is_found() {
        let mut lower = Tree::new();
        lower
            .insert("usr/lib/ssl/certs", Node::symlink("/etc/ssl/certs"))
            .expect("insert");
        let mut upper = Tree::new();
        upper
            .insert("usr/lib/ssl/openssl.cnf", Node::file("", 0o644))
            .expect("insert");
        assert_eq!(find_entry_below_symlink(&[&lower, &upper]), None);

        upper
            .insert("usr/lib/ssl/certs/x.pem", Node::file("", 0o644))
            .expect("insert");
        let found = find_entry_below_symlink(&[&lower, &upper]);
        assert_eq!(
            found,
            Some(("usr/lib/ssl/certs/x.pem".into(), "usr/lib/ssl/certs".into()))
        );
    }
}
