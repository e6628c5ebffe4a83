//! The dpkg database: `/var/lib/dpkg/status`.
//!
//! dpkg records each installed package's control paragraph with a
//! `Status: install ok installed` line. Writing the same record lets
//! `dpkg -l` list the image's packages and lets vulnerability scanners
//! that read the status file (Trivy, Grype) see their versions. The
//! per-package file lists under `/var/lib/dpkg/info` are not written.

use super::PostconfError;
use crate::tree::{Node, Tree};

/// Writes `var/lib/dpkg/status` with one record per control paragraph,
/// in the order given.
///
/// # Errors
///
/// [`PostconfError::Tree`] when a packaged entry is in the way.
pub fn record_status(tree: &mut Tree, controls: &[String]) -> Result<(), PostconfError> {
    let mut status = String::new();
    for control in controls {
        status.push_str(&status_record(control));
        status.push('\n');
    }
    tree.insert("var/lib/dpkg", Node::dir(0o755))?;
    tree.insert("var/lib/dpkg/status", Node::file(status, 0o644))?;
    Ok(())
}

/// Turns a control paragraph into a status record: the `Status:` line goes
/// right after `Package:`, where dpkg writes it.
fn status_record(control: &str) -> String {
    let mut record = String::new();
    for line in control.trim_end().lines() {
        record.push_str(line);
        record.push('\n');
        if line.starts_with("Package:") {
            record.push_str("Status: install ok installed\n");
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_follows_package_line() {
        let control = "Package: dash\nVersion: 0.5.12-2\nDescription: POSIX shell\n more\n";
        assert_eq!(
            status_record(control),
            "Package: dash\nStatus: install ok installed\nVersion: 0.5.12-2\n\
             Description: POSIX shell\n more\n"
        );
    }

    #[test]
    fn records_are_separated_by_blank_lines() {
        let mut tree = Tree::new();
        let controls = vec![
            "Package: a\nVersion: 1\n".to_string(),
            "Package: b\nVersion: 2\n".to_string(),
        ];
        record_status(&mut tree, &controls).expect("status");
        let text =
            String::from_utf8_lossy(tree.file_contents("var/lib/dpkg/status").expect("file"))
                .to_string();
        assert_eq!(text.matches("Status: install ok installed").count(), 2);
        assert!(text.contains("Version: 1\n\nPackage: b\n"), "{text}");
    }
}
