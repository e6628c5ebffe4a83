//! Image provenance: build time, source revision and repository.
//!
//! The build time is `SOURCE_DATE_EPOCH` when given (the convention from
//! reproducible-builds.org), else the commit time of the workspace's `HEAD`,
//! else 0. It is the mtime of every layer entry and the `created` time of
//! the config, so it is the only clock that reaches the image.

use std::path::Path;
use std::process::Command;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Facts about the source of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Seconds since the Unix epoch used for every timestamp.
    pub epoch: u64,
    /// Commit id of the workspace's `HEAD`, if it is a git checkout.
    pub revision: Option<String>,
    /// URL of the source repository, if known.
    pub source: Option<String>,
}

impl Provenance {
    /// Collects the provenance of `workspace`; `epoch` and `source` given by
    /// the caller win over what git reports.
    pub fn detect(workspace: &Path, epoch: Option<u64>, source: Option<String>) -> Provenance {
        let epoch = epoch
            .or_else(|| git(workspace, &["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()))
            .unwrap_or(0);
        let revision = git(workspace, &["rev-parse", "HEAD"]);
        // A local path as origin (a clone of a clone) means nothing to users
        // of the image, so only URLs become the source label.
        let source = source.or_else(|| {
            git(workspace, &["remote", "get-url", "origin"]).filter(|url| url.contains("://"))
        });
        Provenance {
            epoch,
            revision,
            source,
        }
    }

    /// Formats the epoch as RFC 3339 in UTC, such as `2026-12-04T17:25:36Z`.
    pub fn created(&self) -> String {
        let seconds = i64::try_from(self.epoch).unwrap_or(i64::MAX);
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .and_then(|time| time.format(&Rfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
    }
}

/// Runs git in `dir`; returns its trimmed stdout on success.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_epoch_wins() {
        let provenance = Provenance::detect(Path::new("/nonexistent"), Some(86_400), None);
        assert_eq!(provenance.epoch, 86_400);
        assert_eq!(provenance.created(), "1970-01-02T00:00:00Z");
    }

    #[test]
    fn no_git_means_epoch_zero_and_no_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let provenance = Provenance::detect(dir.path(), None, None);
        assert_eq!(provenance.epoch, 0);
        assert_eq!(provenance.revision, None);
        assert_eq!(provenance.created(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn workspace_checkout_has_a_revision() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let provenance = Provenance::detect(&workspace, None, Some("https://example.org/x".into()));
        if let Some(revision) = &provenance.revision {
            assert_eq!(revision.len(), 40, "{revision}");
            assert!(provenance.epoch > 0);
        }
        assert_eq!(provenance.source.as_deref(), Some("https://example.org/x"));
    }
}
