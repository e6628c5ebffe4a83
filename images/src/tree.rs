//! An in-memory file tree: the contents of one image layer.
//!
//! Paths are relative to `/` and kept in a `BTreeMap`, whose component-wise
//! order puts every directory before its contents, so iterating a tree
//! gives the sorted entry order that reproducible tar layers need. Paths
//! under `/bin`, `/sbin`, `/lib*` are stored under `/usr`, as on a
//! merged-usr system, where those top-level names are symlinks.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};

mod paths;

use paths::matches_pattern;
pub use paths::{find_entry_below_symlink, normalize};

/// Top-level directories that merged-usr turns into symlinks to `usr/`.
pub const MERGED_DIRS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Errors raised while adding entries to a tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A path is absolute after `./`, or climbs out with `..`.
    #[error("unsafe path {path:?} in a package archive")]
    UnsafePath {
        /// The path as found.
        path: PathBuf,
    },
    /// A non-directory would replace a directory that has contents.
    #[error("{path} is a non-empty directory and cannot be replaced by a file or link")]
    Conflict {
        /// The path.
        path: PathBuf,
    },
}

/// Kind of a tree entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Directory,
    /// A regular file and its contents.
    File(Vec<u8>),
    /// A symbolic link and its target, as written.
    Symlink(PathBuf),
    /// A hard link to another path of the same tree.
    HardLink(PathBuf),
}

/// One entry: its kind, permission bits and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Kind and contents.
    pub kind: NodeKind,
    /// Permission bits, including setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
}

impl Node {
    /// Creates a root-owned directory with `mode`.
    pub fn dir(mode: u32) -> Node {
        Node {
            kind: NodeKind::Directory,
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// Creates a root-owned regular file with `mode`.
    pub fn file(contents: impl Into<Vec<u8>>, mode: u32) -> Node {
        Node {
            kind: NodeKind::File(contents.into()),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// Creates a root-owned symlink to `target`.
    pub fn symlink(target: impl Into<PathBuf>) -> Node {
        Node {
            kind: NodeKind::Symlink(target.into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }

    /// Returns the same node with another owner.
    pub fn owned_by(mut self, uid: u32, gid: u32) -> Node {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// A set of entries keyed by path relative to `/`.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    nodes: BTreeMap<PathBuf, Node>,
}

impl Tree {
    /// Creates an empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Iterates over the entries in path order, directories before their
    /// contents.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, &Node)> {
        self.nodes.iter().map(|(path, node)| (path.as_path(), node))
    }

    /// Returns the entry at `path` (relative to `/`, already normalized).
    pub fn get(&self, path: impl AsRef<Path>) -> Option<&Node> {
        self.nodes.get(path.as_ref())
    }

    /// Returns the contents of the regular file at `path`, if it is one.
    pub fn file_contents(&self, path: impl AsRef<Path>) -> Option<&[u8]> {
        match &self.get(path)?.kind {
            NodeKind::File(contents) => Some(contents),
            _ => None,
        }
    }

    /// Iterates over the entries strictly below `dir`, in path order.
    pub fn below<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = (&'a Path, &'a Node)> + 'a {
        self.nodes
            .range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
            .take_while(move |(path, _)| path.starts_with(dir))
            .map(|(path, node)| (path.as_path(), node))
    }

    /// Normalizes the archive path `raw` (such as `./bin/sh`) and adds
    /// `node` there. Returns the normalized path, or `None` for the root and
    /// the merged-usr top-level directories, because the builder creates
    /// those itself.
    ///
    /// Missing parent directories are created as root-owned `0755`. An
    /// existing entry is replaced, except that a directory entry onto an
    /// existing directory only updates its mode and owner, as `tar -x`
    /// does.
    ///
    /// # Errors
    ///
    /// [`TreeError::UnsafePath`] for paths that leave the root, and
    /// [`TreeError::Conflict`] when a file would replace a directory that
    /// has contents.
    pub fn insert_archive_path(
        &mut self,
        raw: &Path,
        mut node: Node,
    ) -> Result<Option<PathBuf>, TreeError> {
        let Some(path) = normalize(raw)? else {
            return Ok(None);
        };
        if let NodeKind::HardLink(target) = &node.kind {
            match normalize(target)? {
                Some(target) => node.kind = NodeKind::HardLink(target),
                None => {
                    return Err(TreeError::UnsafePath {
                        path: target.clone(),
                    })
                }
            }
        }
        self.insert(&path, node)?;
        Ok(Some(path))
    }

    /// Adds `node` at the normalized `path`, creating missing parents.
    ///
    /// # Errors
    ///
    /// As for [`Tree::insert_archive_path`].
    pub fn insert(&mut self, path: impl AsRef<Path>, node: Node) -> Result<(), TreeError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent() {
            self.create_parents(parent);
        }
        let replaces_directory =
            matches!(self.nodes.get(path), Some(existing) if existing.kind == NodeKind::Directory);
        let is_directory = node.kind == NodeKind::Directory;
        if replaces_directory && !is_directory && self.below(path).next().is_some() {
            return Err(TreeError::Conflict {
                path: path.to_path_buf(),
            });
        }
        self.nodes.insert(path.to_path_buf(), node);
        Ok(())
    }

    /// Removes the entry at `path` and everything below it.
    pub fn remove(&mut self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let doomed: Vec<PathBuf> = self.below(path).map(|(p, _)| p.to_path_buf()).collect();
        for p in doomed {
            self.nodes.remove(&p);
        }
        self.nodes.remove(path);
    }

    /// Drops every entry strictly below the `exclude` directories unless it
    /// matches a `keep` pattern (`*` matches one component) or is a
    /// directory that a kept entry needs.
    pub fn prune(&mut self, exclude: &[String], keep: &[String]) {
        let keep: Vec<Vec<&str>> = keep.iter().map(|k| k.split('/').collect()).collect();
        let excluded = |path: &Path| {
            exclude
                .iter()
                .any(|dir| path.starts_with(dir) && path != Path::new(dir))
        };
        let kept = |path: &Path| keep.iter().any(|pattern| matches_pattern(path, pattern));

        let mut needed_dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for (path, _) in self.nodes.iter().filter(|(p, _)| excluded(p) && kept(p)) {
            needed_dirs.extend(path.ancestors().skip(1).map(Path::to_path_buf));
        }
        self.nodes
            .retain(|path, _| !excluded(path) || kept(path) || needed_dirs.contains(path));
    }

    /// Paths that merged-usr maps to `usr/` and that the tree uses.
    pub fn used_merged_dirs(&self) -> Vec<&'static str> {
        MERGED_DIRS
            .iter()
            .copied()
            .filter(|dir| self.get(Path::new("usr").join(dir)).is_some())
            .collect()
    }

    fn create_parents(&mut self, dir: &Path) {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .take_while(|a| !self.nodes.contains_key(*a))
            .map(Path::to_path_buf)
            .collect();
        for path in missing.into_iter().rev() {
            self.nodes.insert(path, Node::dir(0o755));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_creates_parents_in_order() {
        let mut tree = Tree::new();
        tree.insert_archive_path(Path::new("./bin/dash"), Node::file("x", 0o755))
            .expect("insert");
        let paths: Vec<&Path> = tree.iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                Path::new("usr"),
                Path::new("usr/bin"),
                Path::new("usr/bin/dash")
            ]
        );
    }

    #[test]
    fn iteration_puts_directories_before_contents() {
        let mut tree = Tree::new();
        for path in ["usr/bin2/a", "usr/bin/x", "usr/bin-x/y", "usr/bin/a/b"] {
            tree.insert(path, Node::file("", 0o644)).expect("insert");
        }
        let paths: Vec<String> = tree.iter().map(|(p, _)| p.display().to_string()).collect();
        let dir_pos = paths.iter().position(|p| p == "usr/bin").expect("usr/bin");
        let child_pos = paths.iter().position(|p| p == "usr/bin/x").expect("child");
        assert!(dir_pos < child_pos, "{paths:?}");
        assert_eq!(tree.below(Path::new("usr/bin")).count(), 3, "{paths:?}");
    }

    #[test]
    fn directory_entry_updates_existing_directory() {
        let mut tree = Tree::new();
        tree.insert("tmp/x", Node::file("", 0o644)).expect("insert");
        tree.insert("tmp", Node::dir(0o1777)).expect("insert");
        assert_eq!(tree.get("tmp").map(|n| n.mode), Some(0o1777));
        assert!(tree.get("tmp/x").is_some());
    }

    #[test]
    fn file_over_non_empty_directory_is_a_conflict() {
        let mut tree = Tree::new();
        tree.insert("etc/x/y", Node::file("", 0o644))
            .expect("insert");
        let error = tree
            .insert("etc/x", Node::file("", 0o644))
            .expect_err("conflict");
        assert!(matches!(error, TreeError::Conflict { .. }));
    }

    #[test]
    fn hard_link_targets_are_normalized() {
        let mut tree = Tree::new();
        let link = Node {
            kind: NodeKind::HardLink("./bin/a".into()),
            mode: 0o755,
            uid: 0,
            gid: 0,
        };
        tree.insert_archive_path(Path::new("./bin/b"), link)
            .expect("insert");
        assert_eq!(
            tree.get("usr/bin/b").map(|n| &n.kind),
            Some(&NodeKind::HardLink("usr/bin/a".into()))
        );
    }

    #[test]
    fn prune_keeps_copyright_files() {
        let mut tree = Tree::new();
        tree.insert("usr/share/doc/dash/copyright", Node::file("c", 0o644))
            .expect("insert");
        tree.insert("usr/share/doc/dash/changelog.gz", Node::file("c", 0o644))
            .expect("insert");
        tree.insert("usr/share/man/man1/dash.1.gz", Node::file("m", 0o644))
            .expect("insert");
        tree.prune(
            &["usr/share/doc".into(), "usr/share/man".into()],
            &["usr/share/doc/*/copyright".into()],
        );
        assert!(tree.get("usr/share/doc/dash/copyright").is_some());
        assert!(tree.get("usr/share/doc/dash").is_some());
        assert!(tree.get("usr/share/doc/dash/changelog.gz").is_none());
        assert!(tree.get("usr/share/man/man1").is_none());
        assert!(tree.get("usr/share/man").is_some());
    }

    #[test]
    fn remove_drops_subtree() {
        let mut tree = Tree::new();
        tree.insert("etc/nginx/sites-enabled/default", Node::symlink("x"))
            .expect("insert");
        tree.remove("etc/nginx/sites-enabled");
        assert!(tree.get("etc/nginx/sites-enabled").is_none());
        assert!(tree.get("etc/nginx").is_some());
    }
}
