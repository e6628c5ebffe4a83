//! Runs tests/fuzz-api.sh, which fuzzes the management API with
//! schemathesis, when schemathesis is installed.

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn api_survives_schemathesis() {
    let installed = Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        eprintln!("skipped: schemathesis is not installed (pip install schemathesis)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-api.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(support::binary())
        .arg("30")
        .output()
        .expect("run fuzz-api.sh");
    assert!(
        output.status.success(),
        "fuzz-api.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
