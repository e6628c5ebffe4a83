//! Parsers for what apt-get prints, and the errors built from it.
//!
//! apt-get runs with `LC_ALL=C`, so the English messages below are stable
//! within a Debian release. They were checked against apt 2.6 (bookworm).

use std::path::PathBuf;

/// One package of a resolved closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRef {
    /// Package name, such as `php8.2-fpm`.
    pub name: String,
    /// Debian version, possibly with an epoch (`2:93`).
    pub version: String,
    /// Architecture of the archive: the build architecture or `all`.
    pub architecture: String,
}

/// Errors raised by the private APT state.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    /// The keyring named by the definition doesn't exist.
    #[error(
        "APT keyring {path} not found: install debian-archive-keyring or set \
         apt.keyring in the image definition"
    )]
    KeyringMissing {
        /// Keyring path.
        path: PathBuf,
    },
    /// A file or directory of the private state couldn't be written.
    #[error("could not write the private APT state at {path}")]
    State {
        /// File or directory.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// apt-get couldn't be started or waited for.
    #[error("could not run apt-get; is this a Debian host with apt installed?")]
    Spawn {
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A requested package is not in the package lists.
    #[error("package {package:?} not found in Debian {suite} ({apt_message})")]
    PackageNotFound {
        /// The package name as requested.
        package: String,
        /// Suite of the image.
        suite: String,
        /// apt-get's message.
        apt_message: String,
    },
    /// The mirror couldn't be reached.
    #[error("Debian mirror {url} is unreachable: {apt_message}")]
    MirrorUnreachable {
        /// URL that apt-get failed to fetch.
        url: String,
        /// apt-get's message.
        apt_message: String,
    },
    /// The archive cache has no room for the download.
    #[error(
        "disk full: no room for the package download in {path}{}",
        needed.as_deref().map(|n| format!(" ({n} needed)")).unwrap_or_default()
    )]
    DiskFull {
        /// Directory apt-get tried to write.
        path: String,
        /// Download size as apt-get printed it, such as `55.0 MB`.
        needed: Option<String>,
    },
    /// Any other apt-get failure.
    #[error("{command} failed: {message}")]
    Failed {
        /// The apt-get command line.
        command: String,
        /// apt-get's error lines.
        message: String,
    },
}

/// Parses a simulated install line such as
/// `Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []`.
pub(crate) fn parse_inst_line(line: &str) -> Option<PackageRef> {
    let rest = line.strip_prefix("Inst ")?;
    let (name, rest) = rest.split_once(' ')?;
    let inside = rest.split_once('(')?.1.split_once(')')?.0;
    let version = inside.split_whitespace().next()?;
    let architecture = inside.rsplit_once('[')?.1.strip_suffix(']')?;
    Some(PackageRef {
        name: name.to_string(),
        version: version.to_string(),
        architecture: architecture.to_string(),
    })
}

/// Parses a status-fd download line such as
/// `dlstatus:3:45.2:Retrieving file 3 of 143` into its percentage.
pub(crate) fn parse_dlstatus(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("dlstatus:")?;
    let mut fields = rest.splitn(3, ':');
    let _file = fields.next()?;
    fields.next()?.trim().parse::<f64>().ok()
}

/// Parses `Need to get 55.0 MB of archives.` into `55.0 MB`.
pub(crate) fn parse_need_to_get(line: &str) -> Option<String> {
    let rest = line.strip_prefix("Need to get ")?;
    let size = rest.split_once(" of archives")?.0;
    // "Need to get 10.0 MB/55.0 MB of archives." when part is cached.
    Some(size.split('/').next().unwrap_or(size).to_string())
}

/// The `E:` lines of apt's stderr, without the prefix.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("E: "))
        .map(str::trim)
        .collect()
}

fn joined(stderr: &str) -> String {
    let lines = error_lines(stderr);
    if lines.is_empty() {
        stderr.trim().to_string()
    } else {
        lines.join("; ")
    }
}

/// Builds the error of a failed `apt-get update`.
pub(crate) fn update_error(stderr: &str) -> AptError {
    const NETWORK: [&str; 6] = [
        "Could not connect",
        "Could not resolve",
        "Temporary failure resolving",
        "Connection timed out",
        "Connection failed",
        "No route to host",
    ];
    for line in error_lines(stderr) {
        let Some(rest) = line.strip_prefix("Failed to fetch ") else {
            continue;
        };
        if NETWORK.iter().any(|n| rest.contains(n)) {
            let (url, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            return AptError::MirrorUnreachable {
                url: url.to_string(),
                apt_message: reason.trim().to_string(),
            };
        }
    }
    AptError::Failed {
        command: "apt-get update".to_string(),
        message: joined(stderr),
    }
}

/// Builds the error of a failed `apt-get install`, simulated or not.
pub(crate) fn install_error(stderr: &str, suite: &str) -> AptError {
    for line in error_lines(stderr) {
        let package = line
            .strip_prefix("Unable to locate package ")
            .map(str::to_string)
            .or_else(|| quoted_before(line, "Package '", "' has no installation candidate"));
        if let Some(package) = package {
            return AptError::PackageNotFound {
                package,
                suite: suite.to_string(),
                apt_message: line.to_string(),
            };
        }
    }
    AptError::Failed {
        command: "apt-get install".to_string(),
        message: joined(stderr),
    }
}

/// Builds the error of a failed download.
pub(crate) fn download_error(stderr: &str, suite: &str, needed: Option<String>) -> AptError {
    for line in error_lines(stderr) {
        if let Some(rest) = line.strip_prefix("You don't have enough free space in ") {
            return AptError::DiskFull {
                path: rest.trim_end_matches('.').to_string(),
                needed,
            };
        }
        if line.contains("No space left on device") {
            return AptError::DiskFull {
                path: line.to_string(),
                needed,
            };
        }
    }
    install_error(stderr, suite)
}

fn quoted_before(line: &str, prefix: &str, suffix: &str) -> Option<String> {
    line.strip_prefix(prefix)?
        .strip_suffix(suffix)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inst_line_gives_name_version_and_arch() {
        let line = "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []";
        let package = parse_inst_line(line).expect("parsed");
        assert_eq!(package.name, "libc6");
        assert_eq!(package.version, "2.36-9+deb12u14");
        assert_eq!(package.architecture, "amd64");
    }

    #[test]
    fn inst_line_with_epoch_and_two_origins() {
        let line = "Inst libx11-data (2:1.8.4-2+deb12u2 Debian:12.15/oldstable, \
                    Debian-Security:12/oldstable-security [all])";
        let package = parse_inst_line(line).expect("parsed");
        assert_eq!(package.version, "2:1.8.4-2+deb12u2");
        assert_eq!(package.architecture, "all");
    }

    #[test]
    fn other_lines_are_not_packages() {
        assert!(parse_inst_line("Conf libc6 (2.36-9 Debian:12.15/oldstable [amd64])").is_none());
        assert!(parse_inst_line("Reading package lists...").is_none());
    }

    #[test]
    fn dlstatus_gives_percent() {
        assert_eq!(
            parse_dlstatus("dlstatus:3:45.25:Retrieving file 3 of 143"),
            Some(45.25)
        );
        assert_eq!(parse_dlstatus("pmstatus:dpkg:10:x"), None);
    }

    #[test]
    fn need_to_get_takes_the_remaining_size() {
        assert_eq!(
            parse_need_to_get("Need to get 55.0 MB of archives."),
            Some("55.0 MB".into())
        );
        assert_eq!(
            parse_need_to_get("Need to get 1,024 kB/55.0 MB of archives."),
            Some("1,024 kB".into())
        );
    }

    #[test]
    fn unknown_package_names_the_package() {
        let stderr = "E: Unable to locate package php8.2-nope\n\
                      E: Couldn't find any package by glob 'php8.2-nope'\n";
        let error = install_error(stderr, "bookworm");
        let text = error.to_string();
        assert!(matches!(error, AptError::PackageNotFound { .. }), "{text}");
        assert!(text.contains("\"php8.2-nope\""), "{text}");
        assert!(text.contains("bookworm"), "{text}");
        assert!(text.contains("Unable to locate package"), "{text}");
    }

    #[test]
    fn virtual_package_without_candidate_is_not_found() {
        let stderr = "E: Package 'php-foo' has no installation candidate\n";
        let error = install_error(stderr, "trixie");
        assert!(
            matches!(error, AptError::PackageNotFound { ref package, .. } if package == "php-foo")
        );
    }

    #[test]
    fn connection_refused_is_an_unreachable_mirror() {
        let stderr = "E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  \
                      Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)\n\
                      E: Some index files failed to download.\n";
        let error = update_error(stderr);
        let text = error.to_string();
        assert!(
            matches!(error, AptError::MirrorUnreachable { .. }),
            "{text}"
        );
        assert!(
            text.contains("http://127.0.0.1:9/debian/dists/bookworm/InRelease"),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
    }

    #[test]
    fn missing_suite_is_a_plain_failure() {
        let stderr = "E: The repository 'http://m/debian nosuchsuite Release' does not have a Release file.\n";
        let error = update_error(stderr);
        assert!(matches!(error, AptError::Failed { .. }));
        assert!(error.to_string().contains("nosuchsuite"));
    }

    #[test]
    fn no_free_space_is_disk_full_with_size() {
        let stderr = "E: You don't have enough free space in /c/apt/archives/.\n";
        let error = download_error(stderr, "bookworm", Some("55.0 MB".into()));
        let text = error.to_string();
        assert!(text.contains("/c/apt/archives/"), "{text}");
        assert!(text.contains("55.0 MB needed"), "{text}");
    }
}
