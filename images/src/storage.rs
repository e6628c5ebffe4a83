//! Output files: content-addressed blobs and write errors that name the
//! path.
//!
//! Every output file (blobs, OCI layout, docker archive) goes through
//! [`StorageError::write`], so a full disk (`ENOSPC`) is reported as such,
//! with the path and, when known, the number of bytes the write needed.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Errors raised while writing output files.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system holding `path` is full.
    #[error("disk full while writing {path}{}", needed_text(*.needed))]
    DiskFull {
        /// File being written.
        path: PathBuf,
        /// Bytes the whole write needed, when known in advance.
        needed: Option<u64>,
    },
    /// Any other write failure.
    #[error("could not write {path}")]
    Write {
        /// File or directory being written.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: io::Error,
    },
}

fn needed_text(needed: Option<u64>) -> String {
    match needed {
        Some(bytes) => format!(" ({} needed)", human_size(bytes)),
        None => String::new(),
    }
}

impl StorageError {
    /// Classifies an I/O error that happened while writing `path`.
    pub fn write(path: &Path, needed: Option<u64>, source: io::Error) -> StorageError {
        if source.kind() == io::ErrorKind::StorageFull {
            StorageError::DiskFull {
                path: path.to_path_buf(),
                needed,
            }
        } else {
            StorageError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Formats a byte count with a binary unit, such as `52.3 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A writer that counts bytes and hashes them with SHA-256 on their way to
/// the inner writer.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Returns the inner writer, the digest as `sha256:HEX`, and the size.
    pub fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex(&self.hasher.finalize()));
        (self.inner, digest, self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let count = self.inner.write(buf)?;
        self.hasher.update(&buf[..count]);
        self.written += count as u64;
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Returns `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Path of a blob in a `blobs/` directory: `DIR/sha256/HEX`.
pub fn blob_path(blobs: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    blobs.join(algorithm).join(hex)
}

/// Writes `bytes` as a blob under `blobs`; returns its digest.
///
/// # Errors
///
/// [`StorageError`] when the file can't be written.
pub fn write_blob(blobs: &Path, bytes: &[u8]) -> Result<String, StorageError> {
    let digest = sha256_digest(bytes);
    let path = blob_path(blobs, &digest);
    create_parent(&path)?;
    let needed = Some(bytes.len() as u64);
    let mut file = File::create(&path).map_err(|e| StorageError::write(&path, needed, e))?;
    file.write_all(bytes)
        .map_err(|e| StorageError::write(&path, needed, e))?;
    Ok(digest)
}

/// Creates the parent directory of `path`.
///
/// # Errors
///
/// [`StorageError`] when it can't be created.
pub fn create_parent(path: &Path) -> Result<(), StorageError> {
    match path.parent() {
        Some(parent) => {
            std::fs::create_dir_all(parent).map_err(|e| StorageError::write(parent, None, e))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_reported_as_disk_full_with_size() {
        let error = StorageError::write(
            Path::new("/out/image.tar"),
            Some(3 * 1024 * 1024),
            io::Error::from_raw_os_error(28),
        );
        let text = error.to_string();
        assert!(matches!(error, StorageError::DiskFull { .. }), "{text}");
        assert_eq!(
            text,
            "disk full while writing /out/image.tar (3.0 MiB needed)"
        );
    }

    #[test]
    fn other_errors_keep_their_source() {
        let error =
            StorageError::write(Path::new("/out/x"), None, io::Error::from_raw_os_error(13));
        assert!(matches!(error, StorageError::Write { .. }));
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn writing_to_dev_full_is_disk_full() {
        let Ok(mut file) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("skipped: /dev/full is not available");
            return;
        };
        let source = file.write_all(b"x").expect_err("ENOSPC");
        let error = StorageError::write(Path::new("/dev/full"), None, source);
        assert!(matches!(error, StorageError::DiskFull { .. }), "{error:?}");
    }

    #[test]
    fn hashing_writer_matches_direct_digest() {
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"hello").expect("write");
        let (inner, digest, size) = writer.finish();
        assert_eq!(inner, b"hello");
        assert_eq!(size, 5);
        assert_eq!(digest, sha256_digest(b"hello"));
        assert_eq!(
            digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(52 * 1024 * 1024), "52.0 MiB");
    }
}
