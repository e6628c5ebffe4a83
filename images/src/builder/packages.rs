//! The two package layers: resolve, download, unpack and configure.
//!
//! The OS layer is the closure of `packages.os`; the PHP layer is the
//! closure of both sets minus the OS layer's packages. So the OS layer
//! only changes when an OS package does, and images with the same OS set
//! share it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{BuildError, PackageCounts};
use crate::apt::{AptState, PackageRef};
use crate::deb;
use crate::definition::Definition;
use crate::postconf::{accounts, dpkg, php, system};
use crate::progress::{Progress, Stage, Unit};
use crate::tree::{Tree, MERGED_DIRS};

/// The unpacked and configured package layers.
#[derive(Debug)]
pub(super) struct PackageLayers {
    /// The OS layer.
    pub(super) os: Tree,
    /// The PHP layer.
    pub(super) php: Tree,
    /// Packages per layer.
    pub(super) counts: PackageCounts,
    /// Upstream PHP release, such as `8.2.29`, for the version label.
    pub(super) php_release: String,
}

/// One package of a layer, with its control paragraph once unpacked.
struct Unpacked {
    tree: Tree,
    controls: Vec<String>,
}

/// Resolves, downloads, unpacks and configures both package layers.
pub(super) fn prepare_layers(
    apt: &AptState,
    definition: &Definition,
    progress: &Progress,
) -> Result<PackageLayers, BuildError> {
    let stage = progress.stage("resolving packages", 2, Unit::Items);
    let os_closure = apt.resolve(&definition.packages.os)?;
    stage.set(1);
    let all_requested: Vec<String> = definition
        .packages
        .os
        .iter()
        .chain(&definition.packages.php)
        .cloned()
        .collect();
    let full_closure = apt.resolve(&all_requested)?;
    let php_closure = split_closures(&os_closure, &full_closure)?;
    stage.finish(&format!(
        "{} OS + {} PHP packages",
        os_closure.len(),
        php_closure.len()
    ));

    let stage = progress.stage("downloading packages", 100, Unit::Percent);
    apt.download(&all_requested, &mut |percent| stage.set(percent as u64))?;
    stage.finish("done");

    let total = (os_closure.len() + php_closure.len()) as u64;
    let stage = progress.stage("unpacking packages", total, Unit::Items);
    let done = AtomicU64::new(0);
    let (os, php_unpacked) = std::thread::scope(|scope| {
        let php_thread = scope.spawn(|| unpack_all(apt, &php_closure, &stage, &done));
        let os = unpack_all(apt, &os_closure, &stage, &done);
        (os, php_thread.join())
    });
    let mut os = os?;
    let mut php_layer = php_unpacked.map_err(|_| BuildError::Thread {
        task: "unpacking packages",
    })??;
    stage.finish(&format!("{total} packages"));

    let stage = progress.stage("configuring", 1, Unit::Items);
    let exclude = &definition.packages.exclude;
    let keep = &definition.packages.keep;
    os.tree.prune(exclude, keep);
    php_layer.tree.prune(exclude, keep);
    configure(&mut os, &mut php_layer, &definition.php_version)?;
    stage.finish("accounts, directories, certificates, PHP modules");

    let php_release = php_release(&full_closure, &definition.php_version);
    Ok(PackageLayers {
        os: os.tree,
        php: php_layer.tree,
        counts: PackageCounts {
            os: os_closure.len(),
            php: php_closure.len(),
        },
        php_release,
    })
}

/// Returns the packages of `full` that are not in `os`, after checking
/// that every OS package is in `full` with the same version.
fn split_closures(os: &[PackageRef], full: &[PackageRef]) -> Result<Vec<PackageRef>, BuildError> {
    let in_full: BTreeMap<&str, &PackageRef> = full.iter().map(|p| (p.name.as_str(), p)).collect();
    let differing: Vec<String> = os
        .iter()
        .filter(|p| in_full.get(p.name.as_str()) != Some(p))
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    if !differing.is_empty() {
        return Err(BuildError::ClosureMismatch {
            packages: differing.join(", "),
        });
    }
    let in_os: BTreeMap<&str, ()> = os.iter().map(|p| (p.name.as_str(), ())).collect();
    Ok(full
        .iter()
        .filter(|p| !in_os.contains_key(p.name.as_str()))
        .cloned()
        .collect())
}

/// Unpacks `packages`, in name order, into one tree.
fn unpack_all(
    apt: &AptState,
    packages: &[PackageRef],
    stage: &Stage,
    done: &AtomicU64,
) -> Result<Unpacked, BuildError> {
    let mut unpacked = Unpacked {
        tree: Tree::new(),
        controls: Vec::new(),
    };
    for package in packages {
        let path = apt.archive_path(package);
        deb::unpack(&path, &mut unpacked.tree)?;
        unpacked.controls.push(deb::control(&path)?);
        stage.set(done.fetch_add(1, Ordering::Relaxed) + 1);
    }
    Ok(unpacked)
}

/// Runs the post-configuration steps. Each step writes to the layer of the
/// packages whose maintainer scripts it replaces.
fn configure(os: &mut Unpacked, php_layer: &mut Unpacked, version: &str) -> Result<(), BuildError> {
    let mut merged: Vec<&str> = vec!["bin", "sbin", "lib"];
    for dir in os
        .tree
        .used_merged_dirs()
        .into_iter()
        .chain(php_layer.tree.used_merged_dirs())
    {
        if !merged.contains(&dir) {
            merged.push(dir);
        }
    }
    merged.sort_by_key(|dir| MERGED_DIRS.iter().position(|d| d == dir));
    system::link_merged_usr(&mut os.tree, &merged)?;
    accounts::configure(&mut os.tree)?;
    system::configure(&mut os.tree)?;
    php::configure(&mut php_layer.tree, version)?;

    // The PHP layer's status file replaces the OS layer's, so it lists both.
    dpkg::record_status(&mut os.tree, &os.controls)?;
    let mut all_controls = os.controls.clone();
    all_controls.extend(php_layer.controls.iter().cloned());
    dpkg::record_status(&mut php_layer.tree, &all_controls)?;
    Ok(())
}

/// The upstream version of `php<V>-common`: `8.2.29-1~deb12u1` gives
/// `8.2.29`. Falls back to `version` when the package isn't there.
fn php_release(closure: &[PackageRef], version: &str) -> String {
    let name = format!("php{version}-common");
    closure
        .iter()
        .find(|p| p.name == name)
        .map(|p| {
            let without_epoch = p
                .version
                .split_once(':')
                .map_or(p.version.as_str(), |(_, v)| v);
            let upstream = without_epoch
                .rsplit_once('-')
                .map_or(without_epoch, |(u, _)| u);
            upstream.to_string()
        })
        .unwrap_or_else(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str) -> PackageRef {
        PackageRef {
            name: name.to_string(),
            version: version.to_string(),
            architecture: "amd64".to_string(),
        }
    }

    #[test]
    fn php_layer_is_the_difference() {
        let os = vec![package("dash", "1"), package("libc6", "2")];
        let full = vec![
            package("dash", "1"),
            package("libc6", "2"),
            package("php8.2-cli", "3"),
        ];
        let php = split_closures(&os, &full).expect("split");
        assert_eq!(php, vec![package("php8.2-cli", "3")]);
    }

    #[test]
    fn os_package_resolved_differently_is_an_error() {
        let os = vec![package("dash", "1"), package("systemd", "9")];
        let full = vec![
            package("dash", "1"),
            package("systemd-standalone-tmpfiles", "9"),
        ];
        let error = split_closures(&os, &full).expect_err("mismatch");
        assert!(error.to_string().contains("systemd 9"), "{error}");
    }

    #[test]
    fn php_release_strips_epoch_and_revision() {
        let closure = vec![
            package("php8.2-common", "8.2.29-1~deb12u1"),
            package("php-common", "2:93"),
        ];
        assert_eq!(php_release(&closure, "8.2"), "8.2.29");
        let closure = vec![package("php8.4-common", "1:8.4.11-1")];
        assert_eq!(php_release(&closure, "8.4"), "8.4.11");
        assert_eq!(php_release(&[], "8.4"), "8.4");
    }
}
