//! Mirror discovery: the Debian archive URLs the host's APT already uses.
//!
//! The builder never hard-codes a mirror. It reads the host's
//! `/etc/apt/sources.list` (one-line format) and `/etc/apt/sources.list.d/`
//! (`*.list` one-line files and `*.sources` deb822 files), and takes the
//! first `deb` URI whose suites end in `-security` as the security archive
//! and the first other one as the main archive. `--mirror` and
//! `--security-mirror` override either.

use std::path::{Path, PathBuf};

use crate::definition::Archive;

/// Errors raised while looking for mirror URLs.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// No source entry names a main Debian archive and no flag gave one.
    #[error(
        "no Debian mirror found in {searched}: pass --mirror URL, \
         for example the URL of a Debian mirror ending in /debian"
    )]
    NotFound {
        /// Files and directories that were read.
        searched: String,
    },
    /// A URL given on the command line is not http or https.
    #[error("invalid mirror URL {url:?}: it must start with http:// or https://")]
    InvalidUrl {
        /// The rejected value.
        url: String,
    },
}

/// Base URLs of the main and security archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrors {
    /// Main archive, such as `http://host/debian`.
    pub debian: String,
    /// Security archive, such as `http://host/debian-security`.
    pub security: String,
}

impl Mirrors {
    /// Returns the base URL of `archive`.
    pub fn url(&self, archive: Archive) -> &str {
        match archive {
            Archive::Debian => &self.debian,
            Archive::Security => &self.security,
        }
    }

    /// Finds the mirrors: the flags first, then the sources under `apt_etc`
    /// (normally `/etc/apt`).
    ///
    /// Without a security URL from either place, the main URL with
    /// `-security` appended is used, which is how Debian's mirrors lay out
    /// the two archives.
    ///
    /// # Errors
    ///
    /// [`MirrorError::InvalidUrl`] for a flag that isn't an http(s) URL, and
    /// [`MirrorError::NotFound`] when there is no main archive at all.
    pub fn discover(
        apt_etc: &Path,
        mirror: Option<&str>,
        security: Option<&str>,
    ) -> Result<Mirrors, MirrorError> {
        for url in mirror.iter().chain(security.iter()) {
            check_url(url)?;
        }
        let entries = read_host_entries(apt_etc);
        let found_main = entries
            .iter()
            .find(|e| !e.is_security())
            .map(|e| e.uri.clone());
        let found_security = entries
            .iter()
            .find(|e| e.is_security())
            .map(|e| e.uri.clone());

        let debian =
            mirror
                .map(str::to_string)
                .or(found_main)
                .ok_or_else(|| MirrorError::NotFound {
                    searched: format!(
                        "{} and {}",
                        apt_etc.join("sources.list").display(),
                        apt_etc.join("sources.list.d").display()
                    ),
                })?;
        let debian = debian.trim_end_matches('/').to_string();
        let security = match (security, found_security) {
            (Some(url), _) => url.to_string(),
            (None, Some(url)) => url,
            (None, None) => format!("{debian}-security"),
        };
        let security = security.trim_end_matches('/').to_string();
        Ok(Mirrors { debian, security })
    }
}

fn check_url(url: &str) -> Result<(), MirrorError> {
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == ']');
    if valid {
        Ok(())
    } else {
        Err(MirrorError::InvalidUrl {
            url: url.to_string(),
        })
    }
}

/// One `deb` source: its URI and suites.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceLine {
    uri: String,
    suites: Vec<String>,
}

impl SourceLine {
    fn is_security(&self) -> bool {
        self.suites.iter().any(|s| s.ends_with("-security"))
    }
}

/// Reads every `deb` entry with an http(s) URI, in the order APT reads the
/// files: `sources.list`, then `sources.list.d/` sorted by name.
fn read_host_entries(apt_etc: &Path) -> Vec<SourceLine> {
    let mut files: Vec<PathBuf> = vec![apt_etc.join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(apt_etc.join("sources.list.d")) {
        let mut parts: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        parts.sort();
        files.extend(parts);
    }
    let mut entries = Vec::new();
    for file in files {
        // Unreadable or missing files are skipped, as APT skips them.
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => entries.extend(parse_deb822(&text)),
            Some("list") => entries.extend(parse_one_line(&text)),
            _ => {}
        }
    }
    entries.retain(|e| e.uri.starts_with("http://") || e.uri.starts_with("https://"));
    entries
}

/// Parses the one-line format: `deb [options] URI SUITE COMPONENT...`.
fn parse_one_line(text: &str) -> Vec<SourceLine> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let rest = rest.trim_start();
        // Options are one bracketed group before the URI.
        let rest = match rest.strip_prefix('[') {
            Some(options) => match options.split_once(']') {
                Some((_, after)) => after,
                None => continue,
            },
            None => rest,
        };
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            entries.push(SourceLine {
                uri: uri.trim_end_matches('/').to_string(),
                suites: vec![suite.to_string()],
            });
        }
    }
    entries
}

/// Parses deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Enabled:`).
fn parse_deb822(text: &str) -> Vec<SourceLine> {
    let mut entries = Vec::new();
    for stanza in text.split("\n\n") {
        let mut types = Vec::new();
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut enabled = true;
        for line in stanza.lines() {
            if line.starts_with('#') || line.starts_with(char::is_whitespace) {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let words = || value.split_whitespace().map(str::to_string);
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => types = words().collect(),
                "uris" => uris = words().collect(),
                "suites" => suites = words().collect(),
                "enabled" => enabled = value.trim() != "no",
                _ => {}
            }
        }
        if !enabled || !types.iter().any(|t| t == "deb") {
            continue;
        }
        for uri in uris {
            entries.push(SourceLine {
                uri: uri.trim_end_matches('/').to_string(),
                suites: suites.clone(),
            });
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n\
        Suites: bookworm bookworm-updates\nComponents: main\n\
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
        Types: deb\nURIs: http://mirror.example/debian-security\n\
        Suites: bookworm-security\nComponents: main\n";

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join("sources.list.d")).expect("mkdir");
        std::fs::write(dir.join(name), text).expect("write");
    }

    #[test]
    fn deb822_file_gives_both_archives() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "sources.list.d/debian.sources", DEB822);
        let mirrors = Mirrors::discover(dir.path(), None, None).expect("found");
        assert_eq!(mirrors.debian, "http://mirror.example/debian");
        assert_eq!(mirrors.security, "http://mirror.example/debian-security");
    }

    #[test]
    fn one_line_format_with_options() {
        let text =
            "# comment\ndeb [signed-by=/k.gpg arch=amd64] http://m.example/debian bookworm main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb https://s.example/debian-security bookworm-security main # trailing\n";
        let entries = parse_one_line(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].uri, "http://m.example/debian");
        assert!(entries[1].is_security());
    }

    #[test]
    fn disabled_and_source_stanzas_are_skipped() {
        let text = "Types: deb-src\nURIs: http://a.example/debian\nSuites: bookworm\n\n\
                    Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\nEnabled: no\n";
        assert!(parse_deb822(text).is_empty());
    }

    #[test]
    fn flags_override_host_sources() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "sources.list.d/debian.sources", DEB822);
        let mirrors = Mirrors::discover(dir.path(), Some("http://other.example/debian/"), None)
            .expect("flag");
        assert_eq!(mirrors.debian, "http://other.example/debian");
        assert_eq!(mirrors.security, "http://mirror.example/debian-security");
    }

    #[test]
    fn security_falls_back_to_main_with_suffix() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "sources.list",
            "deb http://m.example/debian bookworm main\n",
        );
        let mirrors = Mirrors::discover(dir.path(), None, None).expect("found");
        assert_eq!(mirrors.security, "http://m.example/debian-security");
    }

    #[test]
    fn no_sources_and_no_flag_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = Mirrors::discover(dir.path(), None, None).expect_err("nothing found");
        assert!(error.to_string().contains("--mirror"), "{error}");
    }

    #[test]
    fn non_http_flag_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error =
            Mirrors::discover(dir.path(), Some("ftp://m.example/debian"), None).expect_err("ftp");
        assert!(matches!(error, MirrorError::InvalidUrl { .. }));
    }
}
