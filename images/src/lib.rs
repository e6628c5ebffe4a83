//! phpeek-image: a daemonless builder of OCI images from Debian packages.
//!
//! It builds the phpeek base images (php-fpm and nginx supervised by
//! `phpeek-pm`) without Docker, a daemon, a chroot or maintainer scripts,
//! and two builds of the same inputs give the same manifest digest.
//!
//! # How it works
//!
//! - A [`definition`] file names the Debian suite, the OS and PHP package
//!   sets, the paths to leave out, the environment and the labels.
//! - [`apt`] keeps a private APT state under the cache directory, so the
//!   host's sources, keyrings and dpkg status are never read or changed.
//!   apt-get resolves each set's closure against an empty dpkg status and
//!   downloads it, from the mirror the host already uses ([`mirror`]).
//! - [`deb`] unpacks each archive (`dpkg-deb --fsys-tarfile`) into an
//!   in-memory [`tree`], which maps `/bin`, `/sbin` and `/lib*` under
//!   `/usr` as on a merged-usr system.
//! - [`postconf`] replays what the maintainer scripts would have done:
//!   accounts, directories, CA bundle, PHP module links, alternatives and
//!   dpkg status.
//! - [`overlay`] collects the phpeek layer: phpeek's binaries, templates and
//!   the php-fpm and nginx configs that phpeek-pm's built-in config expects.
//!   With an `[app]` table, [`app`] adds the app folder as one more layer.
//!   [`elf`] checks whether the phpeek-pm to ship is the static build.
//! - [`layer`] writes each tree as a sorted, fixed-metadata tar with a
//!   fixed gzip header; [`image`] writes the config and manifest;
//!   [`output`] assembles an OCI layout or a docker archive, and [`load`]
//!   puts the image into local podman storage.

pub mod app;
pub mod apt;
pub mod builder;
pub mod deb;
pub mod definition;
pub mod elf;
pub mod image;
pub mod layer;
pub mod load;
pub mod mirror;
pub mod output;
pub mod overlay;
pub mod postconf;
pub mod progress;
pub mod provenance;
pub mod storage;
pub mod summary;
pub mod tree;

pub use builder::{build, BuildError, BuildOptions, BuildReport};
