//! The summary printed after a build.

use std::fmt::Write;

use crate::builder::BuildReport;
use crate::storage::human_size;

/// Renders `report` as aligned `key  value` lines.
pub fn render(report: &BuildReport) -> String {
    let image = &report.image;
    let mut text = String::new();
    let mut line = |key: &str, value: String| {
        let _ = writeln!(text, "{key:<10} {value}");
    };

    line("image", image.reference.clone());
    line("manifest", image.manifest_digest.clone());
    line("config", image.config_digest.clone());
    line(
        "size",
        format!(
            "{} compressed, {} unpacked",
            human_size(image.compressed_size()),
            human_size(image.uncompressed_size())
        ),
    );

    for (number, layer) in image.layers.iter().enumerate() {
        line(
            &format!("layer {}", number + 1),
            format!(
                "{} {:>10}  {}",
                layer.blob.digest,
                human_size(layer.blob.size),
                layer.description
            ),
        );
    }

    line(
        "packages",
        format!(
            "{} ({} OS, {} PHP)",
            report.packages.os + report.packages.php,
            report.packages.os,
            report.packages.php
        ),
    );
    line(
        "created",
        format!(
            "{} (epoch {})",
            report.provenance.created(),
            report.provenance.epoch
        ),
    );

    for output in &report.outputs {
        line("output", output.clone());
    }
    line("time", format!("{:.1} s", report.elapsed.as_secs_f64()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::PackageCounts;
    use crate::output::tests::sample_image;
    use crate::provenance::Provenance;
    use std::time::Duration;

    #[test]
    fn summary_lists_digest_layers_packages_and_time() {
        let staging = tempfile::tempdir().expect("tempdir");
        let image = sample_image(staging.path());
        let report = BuildReport {
            packages: PackageCounts { os: 50, php: 93 },
            provenance: Provenance {
                epoch: 0,
                revision: None,
                source: None,
            },
            elapsed: Duration::from_millis(12_345),
            outputs: vec!["OCI layout /tmp/x (tag 1)".into()],
            image: image.clone(),
        };
        let text = render(&report);
        assert!(
            text.contains(&format!("manifest   {}", image.manifest_digest)),
            "{text}"
        );
        assert!(text.contains("layer 1    sha256:"), "{text}");
        assert!(text.contains("packages   143 (50 OS, 93 PHP)"), "{text}");
        assert!(text.contains("time       12.3 s"), "{text}");
        assert!(text.contains("output     OCI layout /tmp/x"), "{text}");
    }
}
