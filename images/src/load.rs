//! Loading a built image into local podman storage.
//!
//! With skopeo on `PATH` the OCI layout is copied with
//! `skopeo copy oci:DIR:TAG containers-storage:REFERENCE`, which keeps the
//! manifest as built, so podman shows the same digest. Without skopeo,
//! `podman load` reads the docker archive. Either way the image goes to
//! local storage only; nothing is pushed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors raised while loading.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// podman isn't installed.
    #[error("--load needs podman, which is not on PATH")]
    PodmanMissing,
    /// A loader couldn't be started.
    #[error("could not run {program}")]
    Spawn {
        /// The program.
        program: &'static str,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The loader failed.
    #[error("{command} failed: {message}")]
    Failed {
        /// Command line.
        command: String,
        /// Its stderr.
        message: String,
    },
}

/// Tool that loads the image, and the input it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loader {
    /// `skopeo copy` from an OCI layout directory.
    Skopeo,
    /// `podman load` of a docker archive.
    PodmanLoad,
}

impl Loader {
    /// Picks the loader: skopeo when present, else `podman load`.
    ///
    /// # Errors
    ///
    /// [`LoadError::PodmanMissing`] when podman isn't on `PATH`.
    pub fn detect() -> Result<Loader, LoadError> {
        if find_program("podman").is_none() {
            return Err(LoadError::PodmanMissing);
        }
        Ok(if find_program("skopeo").is_some() {
            Loader::Skopeo
        } else {
            Loader::PodmanLoad
        })
    }

    /// Loads the image `reference` from `source`: an OCI layout directory
    /// holding `tag` for [`Loader::Skopeo`], a docker archive for
    /// [`Loader::PodmanLoad`].
    ///
    /// # Errors
    ///
    /// [`LoadError`] when the tool can't run or fails.
    pub fn load(&self, source: &Path, tag: &str, reference: &str) -> Result<(), LoadError> {
        let (program, args): (&'static str, Vec<String>) = match self {
            Loader::Skopeo => (
                "skopeo",
                vec![
                    "copy".into(),
                    "--quiet".into(),
                    format!("oci:{}:{tag}", source.display()),
                    format!("containers-storage:{reference}"),
                ],
            ),
            Loader::PodmanLoad => (
                "podman",
                vec![
                    "load".into(),
                    "--quiet".into(),
                    "--input".into(),
                    source.display().to_string(),
                ],
            ),
        };
        let output = Command::new(program)
            .args(&args)
            .output()
            .map_err(|source| LoadError::Spawn { program, source })?;
        if output.status.success() {
            return Ok(());
        }
        Err(LoadError::Failed {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Finds `name` in the directories of `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_program_finds_sh() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-phpeek").is_none());
    }
}
