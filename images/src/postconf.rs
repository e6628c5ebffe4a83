//! Post-configuration: what the maintainer scripts would have done.
//!
//! Packages are unpacked without running their `preinst`/`postinst`
//! scripts, because those need a chroot, root and the package's own
//! interpreter. This module replays, in Rust, the parts of those scripts
//! that a PHP container depends on:
//!
//! - [`accounts`]: `/etc/passwd`, `/etc/group`, `/etc/shadow` and
//!   `/etc/gshadow` with root, www-data and nobody (base-passwd, adduser);
//! - [`system`]: merged-usr links, runtime directories, the time zone,
//!   `nsswitch.conf` and the CA bundle (base-files, tzdata,
//!   ca-certificates, nginx-common);
//! - [`php`]: `mods-available`, the `conf.d` links, `php.ini` and the
//!   `php`/`php-fpm` alternatives (php-common, php8.x-*);
//! - [`dpkg`]: the status database that dpkg itself would have written.

pub mod accounts;
pub mod dpkg;
pub mod php;
pub mod system;

use std::path::PathBuf;

use crate::tree::TreeError;

/// Errors raised while configuring a tree.
#[derive(Debug, thiserror::Error)]
pub enum PostconfError {
    /// A file that a step needs is not in the unpacked packages.
    #[error("{path} is missing from the unpacked packages: {hint}")]
    Missing {
        /// Path relative to `/`.
        path: PathBuf,
        /// Package that normally ships it.
        hint: String,
    },
    /// A generated entry conflicts with a packaged one.
    #[error("could not add a generated entry")]
    Tree(#[from] TreeError),
}
