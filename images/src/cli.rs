//! Command-line arguments of `phpeek-image`.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use phpeek_image::overlay::OverlaySources;
use phpeek_image::BuildOptions;

/// Build phpeek OCI images from Debian packages, without a daemon
///
/// phpeek-image resolves the packages of an image definition with apt-get
/// against a private APT state, unpacks them, replays the maintainer-script
/// steps the image needs, adds phpeek-pm and phpeek-entrypoint, and writes
/// reproducible layers: the same inputs give the same manifest digest.
#[derive(Debug, Parser)]
#[command(name = "phpeek-image", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build one image from its definition file
    ///
    /// Example:
    ///   phpeek-image build images/definitions/php-fpm-nginx-8.2-bookworm.toml --load
    Build(BuildArgs),
}

/// Arguments of `phpeek-image build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// Image definition file (TOML)
    #[arg(value_name = "DEFINITION")]
    pub(crate) definition: PathBuf,

    /// Write an OCI image layout into DIR
    ///
    /// The directory is created if needed; its index.json then names only
    /// this image, tagged with the definition's tag.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub(crate) output_oci: Option<PathBuf>,

    /// Write a docker-archive tar to FILE, for `docker load` or `podman load`
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub(crate) output_docker: Option<PathBuf>,

    /// Load the image into local podman storage
    ///
    /// Uses `skopeo copy` when skopeo is installed, else `podman load`.
    /// Needs podman on PATH. Nothing is pushed to a registry.
    #[arg(long, help_heading = "Output")]
    pub(crate) load: bool,

    /// URL of the main Debian archive, such as http://HOST/debian
    ///
    /// Default: the first non-security `deb` entry of /etc/apt/sources.list
    /// or /etc/apt/sources.list.d/.
    #[arg(long, value_name = "URL", help_heading = "Packages")]
    pub(crate) mirror: Option<String>,

    /// URL of the Debian security archive
    ///
    /// Default: the host's security entry, else the main archive's URL with
    /// "-security" appended.
    #[arg(long, value_name = "URL", help_heading = "Packages")]
    pub(crate) security_mirror: Option<String>,

    /// Reuse the package lists of the previous build instead of running
    /// apt-get update
    #[arg(long, help_heading = "Packages")]
    pub(crate) skip_update: bool,

    /// Directory for the private APT state, downloads and staging
    ///
    /// Default: $XDG_CACHE_HOME/phpeek-image, else ~/.cache/phpeek-image.
    #[arg(
        long,
        value_name = "DIR",
        env = "PHPEEK_IMAGE_CACHE",
        help_heading = "Packages"
    )]
    pub(crate) cache_dir: Option<PathBuf>,

    /// Workspace root, with templates/ and the git metadata
    ///
    /// Default: the nearest directory, from the current one upwards, that
    /// contains both Cargo.toml and templates/.
    #[arg(long, value_name = "DIR", help_heading = "phpeek files")]
    pub(crate) workspace: Option<PathBuf>,

    /// Directory of the release binaries
    ///
    /// Default: $CARGO_TARGET_DIR/release when CARGO_TARGET_DIR is set,
    /// else WORKSPACE/target/release.
    #[arg(long, value_name = "DIR", help_heading = "phpeek files")]
    pub(crate) bin_dir: Option<PathBuf>,

    /// phpeek-pm binary to ship (default: BIN_DIR/phpeek-pm)
    #[arg(long, value_name = "PATH", help_heading = "phpeek files")]
    pub(crate) pm_bin: Option<PathBuf>,

    /// phpeek-entrypoint binary to ship (default: BIN_DIR/phpeek-entrypoint)
    #[arg(long, value_name = "PATH", help_heading = "phpeek files")]
    pub(crate) entrypoint_bin: Option<PathBuf>,

    /// Timestamp of every file and of the image config, in Unix seconds
    ///
    /// Default: the commit time of the workspace's HEAD, else 0.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "SOURCE_DATE_EPOCH",
        help_heading = "Metadata"
    )]
    pub(crate) source_date_epoch: Option<u64>,

    /// Value of the org.opencontainers.image.source label
    ///
    /// Default: the URL of the workspace's git remote "origin", when it is
    /// a URL.
    #[arg(long, value_name = "URL", help_heading = "Metadata")]
    pub(crate) source_url: Option<String>,

    /// Print plain progress lines even on a terminal
    #[arg(long)]
    pub(crate) plain_progress: bool,
}

impl BuildArgs {
    /// Resolves the defaults into build options.
    pub(crate) fn into_options(self) -> BuildOptions {
        let current = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let workspace = self.workspace.unwrap_or_else(|| find_workspace(&current));
        let bin_dir = self.bin_dir.unwrap_or_else(|| default_bin_dir(&workspace));
        let overlay = OverlaySources {
            pm_bin: self.pm_bin.unwrap_or_else(|| bin_dir.join("phpeek-pm")),
            entrypoint_bin: self
                .entrypoint_bin
                .unwrap_or_else(|| bin_dir.join("phpeek-entrypoint")),
            templates: workspace.join("templates"),
        };
        BuildOptions {
            definition: self.definition,
            cache_dir: self.cache_dir.unwrap_or_else(default_cache_dir),
            overlay,
            apt_etc: PathBuf::from("/etc/apt"),
            mirror: self.mirror,
            security_mirror: self.security_mirror,
            skip_update: self.skip_update,
            source_date_epoch: self.source_date_epoch,
            source_url: self.source_url,
            output_oci: self.output_oci,
            output_docker: self.output_docker,
            load: self.load,
            workspace,
        }
    }
}

fn find_workspace(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("templates").is_dir())
        .unwrap_or(start)
        .to_path_buf()
}

fn default_bin_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir).join("release"),
        None => workspace.join("target/release"),
    }
}

fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("phpeek-image");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/phpeek-image"),
        None => PathBuf::from("/var/cache/phpeek-image"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn binaries_default_to_the_bin_dir() {
        let cli = Cli::try_parse_from([
            "phpeek-image",
            "build",
            "x.toml",
            "--workspace",
            "/ws",
            "--bin-dir",
            "/ws/out",
            "--load",
        ])
        .expect("parses");
        let Command::Build(args) = cli.command;
        let options = args.into_options();
        assert_eq!(options.overlay.pm_bin, Path::new("/ws/out/phpeek-pm"));
        assert_eq!(
            options.overlay.entrypoint_bin,
            Path::new("/ws/out/phpeek-entrypoint")
        );
        assert_eq!(options.overlay.templates, Path::new("/ws/templates"));
        assert!(options.load);
    }

    #[test]
    fn workspace_is_found_upwards() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let workspace = find_workspace(&here);
        assert!(
            workspace.join("templates").is_dir(),
            "{}",
            workspace.display()
        );
    }
}
