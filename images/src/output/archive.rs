//! The docker-archive format, as `docker save` writes it and `docker load`
//! and `podman load` read it.
//!
//! The tar contains `manifest.json` (config file name, repository tags and
//! layer file names), the config as `HEX.json`, and each layer as an
//! uncompressed `HEX.tar` named after its diff ID. Layers are stored
//! uncompressed because that is the form older readers accept.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use tar::{EntryType, Header};

use super::BuiltImage;
use crate::storage::{self, StorageError};

/// Writes `image` as a docker-archive tar at `path`.
///
/// On failure a partly written regular file is removed.
///
/// # Errors
///
/// [`StorageError`]; `DiskFull` carries the archive's full size.
pub fn write_docker_archive(image: &BuiltImage, path: &Path) -> Result<(), StorageError> {
    let needed = Some(archive_size(image));
    let existed = path.exists();
    let result = File::create(path).and_then(|file| write_entries(image, file));
    if let Err(source) = result {
        // Only remove what this call created as a regular file, never a
        // device such as /dev/full or a file that was there before.
        let created_file = !existed && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
        if created_file {
            let _ = std::fs::remove_file(path);
        }
        return Err(StorageError::write(path, needed, source));
    }
    Ok(())
}

/// Approximate archive size: config, layers, headers and padding.
fn archive_size(image: &BuiltImage) -> u64 {
    let layers: u64 = image
        .layers
        .iter()
        .map(|l| l.blob.uncompressed_size + 1024)
        .sum();
    layers + image.config.len() as u64 + 4096
}

fn hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, hex)| hex)
}

fn write_entries(image: &BuiltImage, file: File) -> io::Result<()> {
    let mut builder = tar::Builder::new(BufWriter::new(file));
    let config_name = format!("{}.json", hex(&image.config_digest));
    append(
        &mut builder,
        &config_name,
        image.config.len() as u64,
        image.config.as_slice(),
    )?;

    let mut layer_names = Vec::new();
    for layer in &image.layers {
        let name = format!("{}.tar", hex(&layer.blob.diff_id));
        let blob = File::open(storage::blob_path(&image.blobs, &layer.blob.digest))?;
        let reader = GzDecoder::new(BufReader::new(blob));
        append(&mut builder, &name, layer.blob.uncompressed_size, reader)?;
        layer_names.push(name);
    }

    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [image.reference],
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    append(
        &mut builder,
        "manifest.json",
        manifest.len() as u64,
        manifest.as_slice(),
    )?;

    let mut writer = builder.into_inner()?;
    writer.flush()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl io::Read,
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    builder.append_data(&mut header, name, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::sample_image;
    use std::io::Read;

    #[test]
    fn archive_has_manifest_config_and_plain_layers() {
        let staging = tempfile::tempdir().expect("tempdir");
        let image = sample_image(staging.path());
        let path = staging.path().join("image.tar");
        write_docker_archive(&image, &path).expect("archive");

        let mut archive = tar::Archive::new(File::open(&path).expect("open"));
        let mut files = std::collections::BTreeMap::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            files.insert(name, bytes);
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&files["manifest.json"]).expect("manifest json");
        assert_eq!(manifest[0]["RepoTags"][0], "localhost/phpeek/test:1");
        let layer_name = manifest[0]["Layers"][0].as_str().expect("layer name");
        let layer = &files[layer_name];
        assert_eq!(storage::sha256_digest(layer), image.layers[0].blob.diff_id);
        let config_name = manifest[0]["Config"].as_str().expect("config name");
        assert_eq!(files[config_name], image.config);
    }

    #[test]
    fn full_disk_is_reported_with_the_archive_size() {
        let staging = tempfile::tempdir().expect("tempdir");
        let image = sample_image(staging.path());
        if std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .is_err()
        {
            eprintln!("skipped: /dev/full is not available");
            return;
        }
        let error = write_docker_archive(&image, Path::new("/dev/full")).expect_err("ENOSPC");
        let text = error.to_string();
        assert!(matches!(error, StorageError::DiskFull { .. }), "{text}");
        assert!(text.contains("/dev/full"), "{text}");
        assert!(text.contains("needed"), "{text}");
        assert!(Path::new("/dev/full").exists(), "the device must survive");
    }
}
