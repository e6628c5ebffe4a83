//! Reproducible layer blobs: a [`Tree`] written as a gzip-compressed tar.
//!
//! Two runs of the same phpeek-image build over the same tree give the same
//! bytes. Another version of the compressor (flate2 with zlib-rs) may
//! produce different, equally valid gzip streams, and so other digests.
//! What makes the bytes repeatable:
//!
//! - entries come in the tree's path order;
//! - every entry gets the same mtime (`SOURCE_DATE_EPOCH`), numeric uid
//!   and gid from the tree, no user or group names, and zero atime and
//!   ctime;
//! - the gzip header has no file name, mtime 0 and OS byte 255 (unknown),
//!   and the compression level is fixed.
//!
//! The blob's digest (of the gzip stream) and the diff ID (of the plain
//! tar) are computed while writing, in one pass.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header};

use crate::storage::{self, HashingWriter, StorageError};
use crate::tree::{NodeKind, Tree};

/// A written layer blob.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Digest of the compressed blob, `sha256:HEX`.
    pub digest: String,
    /// Digest of the uncompressed tar (the config's diff ID).
    pub diff_id: String,
    /// Size of the compressed blob in bytes.
    pub size: u64,
    /// Size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
}

/// Gzip level 6, zlib's default: a fixed level keeps output stable.
const LEVEL: u32 = 6;

/// Writes `tree` as a layer blob into `blobs` (`blobs/sha256/HEX`);
/// `name` keeps the temporary files of layers written at once apart.
///
/// `progress` is called after each entry with the uncompressed bytes
/// written so far.
///
/// # Errors
///
/// [`StorageError`] when the blob can't be written; `DiskFull` carries the
/// tree's content size as a lower bound of the space needed.
pub fn write(
    tree: &Tree,
    name: &str,
    mtime: u64,
    blobs: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LayerBlob, StorageError> {
    let staging = blobs.join(format!("layer-{name}.partial"));
    storage::create_parent(&staging)?;
    let needed = Some(content_size(tree));
    let result = write_to(tree, mtime, &staging, progress);
    let blob = match result {
        Ok(blob) => blob,
        Err(source) => {
            let _ = std::fs::remove_file(&staging);
            return Err(StorageError::write(&staging, needed, source));
        }
    };
    let path = storage::blob_path(blobs, &blob.digest);
    storage::create_parent(&path)?;
    std::fs::rename(&staging, &path).map_err(|e| StorageError::write(&path, needed, e))?;
    Ok(blob)
}

/// Total size of the files in `tree`.
pub fn content_size(tree: &Tree) -> u64 {
    tree.iter()
        .map(|(_, node)| match &node.kind {
            NodeKind::File(contents) => contents.len() as u64,
            _ => 0,
        })
        .sum()
}

fn write_to(
    tree: &Tree,
    mtime: u64,
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<LayerBlob> {
    let file = BufWriter::new(File::create(path)?);
    let compressed = HashingWriter::new(file);
    let gzip = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(compressed, Compression::new(LEVEL));
    let mut builder = tar::Builder::new(HashingWriter::new(gzip));

    let mut written_files: BTreeSet<PathBuf> = BTreeSet::new();
    for (entry_path, node) in tree.iter() {
        let mut header = Header::new_gnu();
        header.set_mode(node.mode);
        header.set_uid(u64::from(node.uid));
        header.set_gid(u64::from(node.gid));
        header.set_mtime(mtime);
        header.set_size(0);
        match &node.kind {
            NodeKind::Directory => {
                header.set_entry_type(EntryType::Directory);
                builder.append_data(&mut header, entry_path, io::empty())?;
            }
            NodeKind::File(contents) => {
                header.set_entry_type(EntryType::Regular);
                header.set_size(contents.len() as u64);
                builder.append_data(&mut header, entry_path, contents.as_slice())?;
                written_files.insert(entry_path.to_path_buf());
            }
            NodeKind::Symlink(target) => {
                header.set_entry_type(EntryType::Symlink);
                builder.append_link(&mut header, entry_path, target)?;
            }
            NodeKind::HardLink(target) => {
                append_hard_link(
                    &mut builder,
                    &mut header,
                    tree,
                    entry_path,
                    target,
                    &written_files,
                )?;
            }
        }
        progress(builder.get_ref().written());
    }

    let counting = builder.into_inner()?;
    let (gzip, diff_id, uncompressed_size) = counting.finish();
    let compressed = gzip.finish()?;
    let (mut file, digest, size) = compressed.finish();
    file.flush()?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(LayerBlob {
        digest,
        diff_id,
        size,
        uncompressed_size,
    })
}

/// Writes a hard link, or a copy of its target when the target hasn't been
/// written yet: tar readers resolve a link against entries already read,
/// and path order may put the link first.
fn append_hard_link<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut Header,
    tree: &Tree,
    path: &Path,
    target: &Path,
    written_files: &BTreeSet<PathBuf>,
) -> io::Result<()> {
    if written_files.contains(target) {
        header.set_entry_type(EntryType::Link);
        return builder.append_link(header, path, target);
    }
    let Some(contents) = tree.file_contents(target) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "hard link {} points at {}, which is not a file of this layer",
                path.display(),
                target.display()
            ),
        ));
    };
    header.set_entry_type(EntryType::Regular);
    header.set_size(contents.len() as u64);
    builder.append_data(header, path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Node;
    use std::io::Read;

    fn sample_tree() -> Tree {
        let mut tree = Tree::new();
        tree.insert("usr/bin/php8.2", Node::file(vec![7u8; 5000], 0o755))
            .expect("insert");
        tree.insert("usr/bin/php", Node::symlink("php8.2"))
            .expect("insert");
        tree.insert(
            "usr/bin/a-link",
            Node {
                kind: NodeKind::HardLink("usr/bin/php8.2".into()),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        )
        .expect("insert");
        tree.insert(
            "usr/bin/z-link",
            Node {
                kind: NodeKind::HardLink("usr/bin/php8.2".into()),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        )
        .expect("insert");
        tree.insert(
            "etc/shadow",
            Node::file("root:*:::\n", 0o640).owned_by(0, 42),
        )
        .expect("insert");
        tree.insert("tmp", Node::dir(0o1777)).expect("insert");
        tree
    }

    fn read_blob(blobs: &Path, digest: &str) -> Vec<u8> {
        std::fs::read(storage::blob_path(blobs, digest)).expect("blob")
    }

    #[test]
    fn same_tree_gives_same_digest() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        let a = write(&sample_tree(), "test", 1_700_000_000, first.path(), &|_| {}).expect("write");
        let b = write(
            &sample_tree(),
            "test",
            1_700_000_000,
            second.path(),
            &|_| {},
        )
        .expect("write");
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.diff_id, b.diff_id);
        let c = write(
            &sample_tree(),
            "test",
            1_700_000_001,
            second.path(),
            &|_| {},
        )
        .expect("write");
        assert_ne!(a.digest, c.digest, "mtime must change the digest");
    }

    #[test]
    fn gzip_header_has_no_name_and_no_mtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blob = write(&sample_tree(), "test", 0, dir.path(), &|_| {}).expect("write");
        let bytes = read_blob(dir.path(), &blob.digest);
        assert_eq!(&bytes[..3], &[0x1f, 0x8b, 8], "gzip magic and deflate");
        assert_eq!(bytes[3], 0, "no FNAME, FCOMMENT or FEXTRA flag");
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "mtime 0");
        assert_eq!(bytes[9], 255, "OS unknown");
        assert_eq!(blob.size, bytes.len() as u64);
        assert_eq!(blob.digest, storage::sha256_digest(&bytes));
    }

    #[test]
    fn entries_are_sorted_with_fixed_metadata() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blob = write(&sample_tree(), "test", 1234, dir.path(), &|_| {}).expect("write");
        let bytes = read_blob(dir.path(), &blob.digest);
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut tar_bytes)
            .expect("gunzip");
        assert_eq!(storage::sha256_digest(&tar_bytes), blob.diff_id);

        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let header = entry.header();
            assert_eq!(header.mtime().expect("mtime"), 1234);
            let path = entry.path().expect("path").display().to_string();
            seen.push((
                path,
                header.entry_type(),
                header.mode().expect("mode"),
                header.gid().expect("gid"),
            ));
        }
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| Path::new(a).cmp(Path::new(b)));
        assert_eq!(names, sorted);
        let shadow = seen.iter().find(|s| s.0 == "etc/shadow").expect("shadow");
        assert_eq!((shadow.2, shadow.3), (0o640, 42));
        let tmp = seen
            .iter()
            .find(|s| s.0.trim_end_matches('/') == "tmp")
            .expect("tmp");
        assert_eq!(tmp.2, 0o1777);
        // a-link sorts before its target, so it is a copy; z-link is a link.
        let a_link = seen
            .iter()
            .find(|s| s.0 == "usr/bin/a-link")
            .expect("a-link");
        assert_eq!(a_link.1, EntryType::Regular);
        let z_link = seen
            .iter()
            .find(|s| s.0 == "usr/bin/z-link")
            .expect("z-link");
        assert_eq!(z_link.1, EntryType::Link);
    }

    #[test]
    fn progress_reports_growing_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = std::sync::Mutex::new(Vec::new());
        write(&sample_tree(), "test", 0, dir.path(), &|bytes| {
            if let Ok(mut seen) = seen.lock() {
                seen.push(bytes);
            }
        })
        .expect("write");
        let seen = seen.into_inner().expect("lock");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert!(seen.last().copied().unwrap_or(0) > 5000);
    }
}
