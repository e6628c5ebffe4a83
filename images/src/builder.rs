//! The build pipeline, from a definition file to the requested outputs.
//!
//! The binaries are checked right after the definition is read, before
//! any download, so a missing binary fails fast. Then the pipeline finds
//! the mirrors and refreshes the private APT state. It resolves, downloads,
//! unpacks and configures the OS and PHP layers, and collects the phpeek
//! layer and, with an `[app]` table, the app layer. The layer blobs are
//! written in parallel, followed by the
//! config and the manifest. Last come the outputs: OCI layout, docker
//! archive and podman storage.

mod deliver;
mod packages;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::app::{self, AppError};
use crate::apt::{AptError, AptState};
use crate::deb::DebError;
use crate::definition::{Definition, DefinitionError};
use crate::image::{self, ConfigInputs, ImageError, ImageLayer};
use crate::layer::{self, LayerBlob};
use crate::load::{LoadError, Loader};
use crate::mirror::{MirrorError, Mirrors};
use crate::output::BuiltImage;
use crate::overlay::{self, OverlayError, OverlaySources};
use crate::postconf::PostconfError;
use crate::progress::{Progress, Unit};
use crate::provenance::Provenance;
use crate::storage::{self, StorageError};
use crate::tree::{self, Tree};

/// Build inputs and output destinations.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The image definition file.
    pub definition: PathBuf,
    /// Workspace root: git metadata and `templates/` come from here.
    pub workspace: PathBuf,
    /// Cache root: private APT state, downloads and staging.
    pub cache_dir: PathBuf,
    /// Binaries and templates of the phpeek layer.
    pub overlay: OverlaySources,
    /// Host APT configuration directory, normally `/etc/apt`.
    pub apt_etc: PathBuf,
    /// Main archive URL, instead of the host's.
    pub mirror: Option<String>,
    /// Security archive URL, instead of the host's.
    pub security_mirror: Option<String>,
    /// Reuse the package lists from the last build instead of refreshing.
    pub skip_update: bool,
    /// Timestamp of every file and of the config, in Unix seconds.
    pub source_date_epoch: Option<u64>,
    /// Value of the source label, instead of git's `origin` URL.
    pub source_url: Option<String>,
    /// Write an OCI image layout into this directory.
    pub output_oci: Option<PathBuf>,
    /// Write a docker-archive tar to this file.
    pub output_docker: Option<PathBuf>,
    /// Load the image into local podman storage.
    pub load: bool,
}

/// Errors raised by a build. Each wraps the failing step's error.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No output was requested.
    #[error("nothing to do: pass --output-oci DIR, --output-docker FILE or --load")]
    NoOutput,
    /// Reading the definition failed.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The phpeek layer's files are missing or unreadable.
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    /// The app folder of the `[app]` table is unreadable.
    #[error(transparent)]
    App(#[from] AppError),
    /// No mirror was found.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// apt-get failed.
    #[error(transparent)]
    Apt(#[from] AptError),
    /// An OS package's closure depends on the PHP set's choices.
    #[error(
        "the OS packages resolve differently alone than together with the PHP packages \
         ({packages}): add to packages.os the alternatives that the full set resolves to"
    )]
    ClosureMismatch {
        /// The packages that differ, as `name version`.
        packages: String,
    },
    /// An entry would be unpacked through a symlink.
    #[error("{path} is below the symlink {link}; exclude one of them in the image definition")]
    BelowSymlink {
        /// The entry, relative to `/`.
        path: PathBuf,
        /// The symlink among its parents.
        link: PathBuf,
    },
    /// A package archive couldn't be unpacked.
    #[error(transparent)]
    Deb(#[from] DebError),
    /// Post-configuration failed.
    #[error(transparent)]
    Postconf(#[from] PostconfError),
    /// An output file couldn't be written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The OCI documents couldn't be built.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Loading into podman failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A worker thread panicked.
    #[error("a build thread stopped unexpectedly while {task}")]
    Thread {
        /// What the thread was doing.
        task: &'static str,
    },
}

/// Number of packages per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageCounts {
    /// Packages in the OS layer.
    pub os: usize,
    /// Packages in the PHP layer.
    pub php: usize,
}

/// The result of a successful build.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The image and its blobs (in the staging directory, removed once the
    /// build returns; the paths stay valid only inside `build`).
    pub image: BuiltImage,
    /// Packages per layer.
    pub packages: PackageCounts,
    /// Provenance used.
    pub provenance: Provenance,
    /// Wall-clock build time.
    pub elapsed: Duration,
    /// Where the outputs went, for the summary.
    pub outputs: Vec<String>,
}

/// Builds the image described by `options`.
///
/// Blocks until done; apt-get and dpkg-deb run as child processes and the
/// layers are compressed on worker threads. The staging directory under
/// the cache is removed before returning, whether the build succeeded or
/// not.
///
/// # Errors
///
/// [`BuildError`] for the first step that fails.
pub fn build(options: &BuildOptions, progress: &Progress) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    if options.output_oci.is_none() && options.output_docker.is_none() && !options.load {
        return Err(BuildError::NoOutput);
    }
    let definition = Definition::load(&options.definition)?;
    overlay::check_binaries(&options.overlay)?;
    if let Some(warning) = overlay::dynamic_pm_warning(&options.overlay) {
        eprintln!("phpeek-image: warning: {warning}");
    }
    let loader = options.load.then(Loader::detect).transpose()?;
    let provenance = Provenance::detect(
        &options.workspace,
        options.source_date_epoch,
        options.source_url.clone(),
    );
    let mirrors = Mirrors::discover(
        &options.apt_etc,
        options.mirror.as_deref(),
        options.security_mirror.as_deref(),
    )?;

    let state_dir = options
        .cache_dir
        .join("apt")
        .join(format!("{}-{}", definition.name, definition.tag));
    let apt = AptState::prepare(&state_dir, &definition, &mirrors)?;
    if !options.skip_update {
        let stage = progress.stage("updating package lists", 1, Unit::Items);
        apt.update()?;
        stage.finish(&format!("{} and {}", mirrors.debian, mirrors.security));
    }
    let layers = packages::prepare_layers(&apt, &definition, progress)?;
    let phpeek = overlay::build(&options.overlay, &definition.php_version)?;
    let app_layer = match &definition.app {
        Some(section) => Some(app::build(&section.dir, &section.target)?),
        None => None,
    };

    let mut all_trees = vec![&layers.os, &layers.php, &phpeek];
    all_trees.extend(app_layer.as_ref());
    if let Some((path, link)) = tree::find_entry_below_symlink(&all_trees) {
        return Err(BuildError::BelowSymlink { path, link });
    }

    let staging = Staging::create(&options.cache_dir, &definition)?;
    let blobs = staging.path.join("blobs");
    let mut trees = vec![
        (&layers.os, "OS", describe(layers.counts.os, "OS")),
        (&layers.php, "PHP", describe(layers.counts.php, "PHP")),
        (
            &phpeek,
            "phpeek",
            "phpeek-pm, phpeek-entrypoint, templates and configs".to_string(),
        ),
    ];
    if let (Some(tree), Some(section)) = (&app_layer, &definition.app) {
        let description = format!("app files in {}", section.target);
        trees.push((tree, "app", description));
    }
    let blobs_written = write_layers(&trees, provenance.epoch, &blobs, progress)?;
    let image_layers: Vec<ImageLayer> = blobs_written
        .into_iter()
        .zip(trees.iter())
        .map(|(blob, (_, _, description))| ImageLayer {
            blob,
            description: description.clone(),
        })
        .collect();

    let inputs = ConfigInputs {
        definition: &definition,
        provenance: &provenance,
        version: layers.php_release.clone(),
        layers: &image_layers,
    };
    let config = image::config_json(&inputs)?;
    let config_digest = storage::write_blob(&blobs, &config)?;
    let manifest = image::manifest_json(&config_digest, config.len() as u64, &image_layers)?;
    let manifest_digest = storage::write_blob(&blobs, &manifest)?;
    let image = BuiltImage {
        reference: definition.reference(),
        tag: definition.tag.clone(),
        blobs,
        config_digest,
        config,
        manifest_digest,
        manifest,
        layers: image_layers,
    };

    let outputs = deliver::deliver(&image, options, loader.as_ref(), &staging.path, progress)?;
    Ok(BuildReport {
        image,
        packages: layers.counts,
        provenance,
        elapsed: started.elapsed(),
        outputs,
    })
}

fn describe(count: usize, set: &str) -> String {
    format!("{count} Debian packages ({set} set)")
}

/// Writes the layer blobs on one thread each; returns them in input order.
fn write_layers(
    trees: &[(&Tree, &str, String)],
    epoch: u64,
    blobs: &Path,
    progress: &Progress,
) -> Result<Vec<LayerBlob>, BuildError> {
    let stages: Vec<_> = trees
        .iter()
        .map(|(tree, name, _)| {
            // Each entry adds a 512-byte header; the estimate keeps the
            // bar close to its true end.
            let estimate = layer::content_size(tree) + 512 * tree.len() as u64;
            progress.stage(&format!("writing {name} layer"), estimate, Unit::Bytes)
        })
        .collect();
    let results: Vec<Result<Result<LayerBlob, StorageError>, _>> = std::thread::scope(|scope| {
        let handles: Vec<_> = trees
            .iter()
            .zip(&stages)
            .map(|((tree, name, _), stage)| {
                scope.spawn(move || {
                    let blob = layer::write(tree, name, epoch, blobs, &|bytes| stage.set(bytes))?;
                    stage.finish(&format!(
                        "{} ({} unpacked)",
                        storage::human_size(blob.size),
                        storage::human_size(blob.uncompressed_size)
                    ));
                    Ok(blob)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut written = Vec::new();
    for result in results {
        written.push(result.map_err(|_| BuildError::Thread {
            task: "writing a layer",
        })??);
    }
    Ok(written)
}

/// A per-build directory under the cache, removed on drop.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(cache_dir: &Path, definition: &Definition) -> Result<Staging, StorageError> {
        let path = cache_dir.join("staging").join(format!(
            "{}-{}-{}",
            definition.name,
            definition.tag,
            std::process::id()
        ));
        if path.exists() {
            let _ = std::fs::remove_dir_all(&path);
        }
        std::fs::create_dir_all(&path).map_err(|e| StorageError::write(&path, None, e))?;
        Ok(Staging { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
