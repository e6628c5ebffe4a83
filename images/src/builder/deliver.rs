//! Delivery: the OCI layout, the docker archive and podman storage.
//!
//! The loader decides which form it needs. When the user didn't ask for
//! that form, it is written to the staging directory and removed with it.

use std::path::{Path, PathBuf};

use super::{BuildError, BuildOptions};
use crate::image;
use crate::load::Loader;
use crate::output::{self, BuiltImage};
use crate::progress::{Progress, Unit};

/// Writes the requested outputs; returns one line per output for the
/// summary.
pub(super) fn deliver(
    image: &BuiltImage,
    options: &BuildOptions,
    loader: Option<&Loader>,
    staging: &Path,
    progress: &Progress,
) -> Result<Vec<String>, BuildError> {
    let mut lines = Vec::new();
    let oci_dir = match (&options.output_oci, loader) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(Loader::Skopeo)) => Some(staging.join("oci")),
        (None, _) => None,
    };
    if let Some(dir) = &oci_dir {
        let stage = progress.stage("writing OCI layout", 1, Unit::Items);
        let index = image::index_json(
            &image.manifest_digest,
            image.manifest.len() as u64,
            &image.tag,
        )?;
        output::write_oci_layout(image, &index, dir)?;
        stage.finish(&dir.display().to_string());
        if options.output_oci.is_some() {
            lines.push(format!("OCI layout {} (tag {})", dir.display(), image.tag));
        }
    }

    let archive: Option<PathBuf> = match (&options.output_docker, loader) {
        (Some(file), _) => Some(file.clone()),
        (None, Some(Loader::PodmanLoad)) => Some(staging.join("image.tar")),
        (None, _) => None,
    };
    if let Some(file) = &archive {
        let stage = progress.stage("writing docker archive", 1, Unit::Items);
        output::write_docker_archive(image, file)?;
        stage.finish(&file.display().to_string());
        if options.output_docker.is_some() {
            lines.push(format!("docker archive {}", file.display()));
        }
    }

    if let Some(loader) = loader {
        let source = match loader {
            Loader::Skopeo => oci_dir.as_deref(),
            Loader::PodmanLoad => archive.as_deref(),
        };
        if let Some(source) = source {
            let stage = progress.stage("loading into podman", 1, Unit::Items);
            loader.load(source, &image.tag, &image.reference)?;
            stage.finish(&image.reference);
            let tool = match loader {
                Loader::Skopeo => "skopeo copy",
                Loader::PodmanLoad => "podman load",
            };
            lines.push(format!("podman storage {} (with {tool})", image.reference));
        }
    }
    Ok(lines)
}
