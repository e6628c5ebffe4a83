//! Build outputs: an OCI image layout directory or a docker-archive tar.
//!
//! A build first writes all blobs to a staging `blobs/` directory; these
//! functions then assemble the requested outputs from there.

mod archive;

use std::path::{Path, PathBuf};

use crate::image::ImageLayer;
use crate::storage::{self, StorageError};

pub use archive::write_docker_archive;

/// A built image whose blobs sit in a staging directory.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Reference in local storage, such as
    /// `localhost/phpeek/php-fpm-nginx:8.2-bookworm`.
    pub reference: String,
    /// Tag part of the reference.
    pub tag: String,
    /// Staging `blobs/` directory (holding `sha256/HEX` files).
    pub blobs: PathBuf,
    /// Config digest.
    pub config_digest: String,
    /// Config bytes.
    pub config: Vec<u8>,
    /// Manifest digest: the image's identity.
    pub manifest_digest: String,
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Layers, bottom first.
    pub layers: Vec<ImageLayer>,
}

impl BuiltImage {
    /// Size of the image as stored: config, manifest and compressed layers.
    pub fn compressed_size(&self) -> u64 {
        let layers: u64 = self.layers.iter().map(|l| l.blob.size).sum();
        layers + self.config.len() as u64 + self.manifest.len() as u64
    }

    /// Size of the unpacked layers' tar streams.
    pub fn uncompressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.blob.uncompressed_size).sum()
    }
}

/// Content of the `oci-layout` file.
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes `image` as an OCI image layout in `dir`, with `index.json`
/// naming only this image. Blobs are hard-linked from the staging
/// directory when it is on the same file system, else copied.
///
/// # Errors
///
/// [`StorageError`] when a file can't be written.
pub fn write_oci_layout(image: &BuiltImage, index: &[u8], dir: &Path) -> Result<(), StorageError> {
    let blobs = dir.join("blobs");
    std::fs::create_dir_all(blobs.join("sha256"))
        .map_err(|e| StorageError::write(&blobs, None, e))?;
    let mut digests: Vec<(&str, u64)> = image
        .layers
        .iter()
        .map(|l| (l.blob.digest.as_str(), l.blob.size))
        .collect();
    digests.push((&image.config_digest, image.config.len() as u64));
    digests.push((&image.manifest_digest, image.manifest.len() as u64));
    for (digest, size) in digests {
        let source = storage::blob_path(&image.blobs, digest);
        let target = storage::blob_path(&blobs, digest);
        place_blob(&source, &target, size)?;
    }
    write_file(&dir.join("oci-layout"), OCI_LAYOUT.as_bytes())?;
    write_file(&dir.join("index.json"), index)?;
    Ok(())
}

/// Puts one blob in place; a blob already there has the same content,
/// because its name is its digest.
fn place_blob(source: &Path, target: &Path, size: u64) -> Result<(), StorageError> {
    if target.is_file() {
        return Ok(());
    }
    if std::fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    std::fs::copy(source, target)
        .map(|_| ())
        .map_err(|e| StorageError::write(target, Some(size), e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    std::fs::write(path, bytes).map_err(|e| StorageError::write(path, Some(bytes.len() as u64), e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::layer;
    use crate::tree::{Node, Tree};

    /// Writes a tiny but real image into a staging directory.
    pub(crate) fn sample_image(staging: &Path) -> BuiltImage {
        let blobs = staging.join("blobs");
        let mut tree = Tree::new();
        tree.insert("etc/hostname", Node::file("x\n", 0o644))
            .expect("insert");
        let blob = layer::write(&tree, "t", 0, &blobs, &|_| {}).expect("layer");
        let layers = vec![ImageLayer {
            blob,
            description: "test".into(),
        }];
        let config = br#"{"architecture":"amd64"}"#.to_vec();
        let config_digest = storage::write_blob(&blobs, &config).expect("config");
        let manifest = crate::image::manifest_json(&config_digest, config.len() as u64, &layers)
            .expect("manifest");
        let manifest_digest = storage::write_blob(&blobs, &manifest).expect("manifest blob");
        BuiltImage {
            reference: "localhost/phpeek/test:1".into(),
            tag: "1".into(),
            blobs,
            config_digest,
            config,
            manifest_digest,
            manifest,
            layers,
        }
    }

    #[test]
    fn layout_has_index_layout_file_and_blobs() {
        let staging = tempfile::tempdir().expect("tempdir");
        let out = tempfile::tempdir().expect("tempdir");
        let image = sample_image(staging.path());
        let dir = out.path().join("oci");
        write_oci_layout(&image, b"{}", &dir).expect("layout");
        assert_eq!(
            std::fs::read_to_string(dir.join("oci-layout")).expect("file"),
            OCI_LAYOUT
        );
        assert!(dir.join("index.json").is_file());
        for digest in [
            &image.config_digest,
            &image.manifest_digest,
            &image.layers[0].blob.digest,
        ] {
            let blob = storage::blob_path(&dir.join("blobs"), digest);
            let bytes = std::fs::read(&blob).expect("blob");
            assert_eq!(&storage::sha256_digest(&bytes), digest);
        }
        // Writing again over the same directory succeeds.
        write_oci_layout(&image, b"{}", &dir).expect("second layout");
    }
}
