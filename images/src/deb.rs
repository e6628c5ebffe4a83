//! Unpacking Debian package archives into a [`Tree`].
//!
//! `dpkg-deb --fsys-tarfile` turns the package's data member (xz, zstd or
//! gzip) into a plain tar stream, which is read entry by entry into memory.
//! Nothing touches the host's file system, so no maintainer script runs and
//! ownership and setuid bits come straight from the archive.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tar::EntryType;

use crate::tree::{Node, NodeKind, Tree, TreeError};

/// Errors raised while unpacking one package archive.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// dpkg-deb couldn't be started.
    #[error("could not run dpkg-deb for {deb}; is dpkg installed?")]
    Spawn {
        /// Package archive.
        deb: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The tar stream couldn't be read.
    #[error("could not read the contents of {deb}")]
    Read {
        /// Package archive.
        deb: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// dpkg-deb exited with an error, for a damaged or missing archive.
    #[error("dpkg-deb --fsys-tarfile {deb} failed: {message}")]
    Failed {
        /// Package archive.
        deb: PathBuf,
        /// dpkg-deb's stderr.
        message: String,
    },
    /// An entry couldn't be placed in the tree.
    #[error("bad entry in {deb}")]
    Entry {
        /// Package archive.
        deb: PathBuf,
        /// The tree's error.
        #[source]
        source: TreeError,
    },
}

/// Adds every entry of the package archive `deb` to `tree`; returns the
/// number of entries read.
///
/// Later entries replace earlier ones at the same path, as unpacking over
/// an existing tree with `tar -x` does. Device nodes and FIFOs are skipped,
/// because a container runtime provides `/dev`.
///
/// # Errors
///
/// [`DebError`] when dpkg-deb fails or an entry has an unsafe path.
pub fn unpack(deb: &Path, tree: &mut Tree) -> Result<usize, DebError> {
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| DebError::Spawn {
            deb: deb.to_path_buf(),
            source,
        })?;

    let read_result = match child.stdout.take() {
        Some(stdout) => read_entries(stdout, deb, tree),
        None => Ok(0),
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|source| DebError::Spawn {
        deb: deb.to_path_buf(),
        source,
    })?;
    // A dpkg-deb failure explains a truncated stream better than the tar
    // reader's error, so it is checked first.
    if !status.success() {
        return Err(DebError::Failed {
            deb: deb.to_path_buf(),
            message: stderr.trim().to_string(),
        });
    }
    read_result
}

/// Returns the control paragraph of the package archive `deb` (the
/// `Package:`, `Version:`, `Depends:` ... fields), as `dpkg-deb --field`
/// prints it.
///
/// # Errors
///
/// [`DebError`] when dpkg-deb can't run or fails.
pub fn control(deb: &Path) -> Result<String, DebError> {
    let output = Command::new("dpkg-deb")
        .arg("--field")
        .arg(deb)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DebError::Spawn {
            deb: deb.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(DebError::Failed {
            deb: deb.to_path_buf(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn read_entries(stream: impl Read, deb: &Path, tree: &mut Tree) -> Result<usize, DebError> {
    let read_error = |source| DebError::Read {
        deb: deb.to_path_buf(),
        source,
    };
    let mut archive = tar::Archive::new(stream);
    let mut count = 0;
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let header = entry.header();
        let mode = header.mode().map_err(read_error)? & 0o7777;
        let uid = u32::try_from(header.uid().map_err(read_error)?).unwrap_or(0);
        let gid = u32::try_from(header.gid().map_err(read_error)?).unwrap_or(0);
        let path = entry.path().map_err(read_error)?.into_owned();

        let kind = match header.entry_type() {
            EntryType::Directory => NodeKind::Directory,
            EntryType::Regular | EntryType::Continuous => {
                let mut contents = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
                entry.read_to_end(&mut contents).map_err(read_error)?;
                NodeKind::File(contents)
            }
            EntryType::Symlink => NodeKind::Symlink(link_target(&entry, deb)?),
            EntryType::Link => NodeKind::HardLink(link_target(&entry, deb)?),
            _ => continue,
        };
        let node = Node {
            kind,
            mode,
            uid,
            gid,
        };
        tree.insert_archive_path(&path, node)
            .map_err(|source| DebError::Entry {
                deb: deb.to_path_buf(),
                source,
            })?;
        count += 1;
    }
    Ok(count)
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, deb: &Path) -> Result<PathBuf, DebError> {
    match entry.link_name() {
        Ok(Some(target)) => Ok(target.into_owned()),
        Ok(None) => Err(DebError::Read {
            deb: deb.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "link without a target"),
        }),
        Err(source) => Err(DebError::Read {
            deb: deb.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a small tar stream like a package's data member.
    fn sample_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: EntryType, mode: u32, data: &[u8], link: Option<&str>| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                header.set_link_name(link).expect("link name");
            }
            builder
                .append_data(&mut header, path, data)
                .expect("append");
        };
        add("./", EntryType::Directory, 0o755, b"", None);
        add("./bin/", EntryType::Directory, 0o755, b"", None);
        add("./bin/dash", EntryType::Regular, 0o755, b"ELF", None);
        add("./bin/sh", EntryType::Symlink, 0o777, b"", Some("dash"));
        add("./usr/bin/su", EntryType::Regular, 0o4755, b"su", None);
        add(
            "./usr/bin/su2",
            EntryType::Link,
            0o4755,
            b"",
            Some("./usr/bin/su"),
        );
        add("./dev/null", EntryType::Char, 0o666, b"", None);
        builder.into_inner().expect("tar")
    }

    #[test]
    fn entries_land_in_the_tree() {
        let mut tree = Tree::new();
        let count =
            read_entries(sample_tar().as_slice(), Path::new("x.deb"), &mut tree).expect("read");
        assert_eq!(count, 6);
        assert_eq!(tree.file_contents("usr/bin/dash"), Some(&b"ELF"[..]));
        assert_eq!(
            tree.get("usr/bin/sh").map(|n| &n.kind),
            Some(&NodeKind::Symlink("dash".into()))
        );
        assert_eq!(tree.get("usr/bin/su").map(|n| n.mode), Some(0o4755));
        assert_eq!(
            tree.get("usr/bin/su2").map(|n| &n.kind),
            Some(&NodeKind::HardLink("usr/bin/su".into()))
        );
        assert!(tree.get("dev/null").is_none());
        assert!(tree.get("bin").is_none());
    }

    #[test]
    fn missing_archive_reports_dpkg_deb_message() {
        if Command::new("dpkg-deb").arg("--version").output().is_err() {
            eprintln!("skipped: dpkg-deb is not installed");
            return;
        }
        let mut tree = Tree::new();
        let error = unpack(Path::new("/nonexistent/x.deb"), &mut tree).expect_err("missing");
        assert!(error.to_string().contains("/nonexistent/x.deb"), "{error}");
    }
}
