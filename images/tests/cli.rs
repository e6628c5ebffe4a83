//! Tests of `phpeek-image` that fail before or during the APT step, so
//! they need neither the network nor podman.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::definition;

/// Runs `phpeek-image build DEFINITION ARGS...` with a fresh cache.
fn run(definition: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phpeek-image"))
        .arg("build")
        .arg(definition)
        .arg("--plain-progress")
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("run phpeek-image")
}

/// Two empty files that stand in for the binaries; the build fails before
/// they would be read.
fn fake_binaries(dir: &Path) -> (String, String) {
    let pm = dir.join("phpeek-pm");
    let entrypoint = dir.join("phpeek-entrypoint");
    std::fs::write(&pm, "").expect("write");
    std::fs::write(&entrypoint, "").expect("write");
    (pm.display().to_string(), entrypoint.display().to_string())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn missing_entrypoint_fails_with_build_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pm, _) = fake_binaries(dir.path());
    let absent = dir
        .path()
        .join("absent/phpeek-entrypoint")
        .display()
        .to_string();
    let output = run(
        &definition("php-fpm-nginx-8.2-bookworm.toml"),
        dir.path(),
        &[
            "--pm-bin",
            &pm,
            "--entrypoint-bin",
            &absent,
            "--output-oci",
            "/nonexistent/oci",
        ],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("phpeek-entrypoint not found at {absent}")),
        "{text}"
    );
    assert!(text.contains("scripts/build-release.sh"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

/// Writes a little-endian ELF64 file whose one program header is
/// PT_INTERP (3), as in a dynamically linked executable.
fn write_dynamic_elf(path: &Path) {
    let mut bytes = vec![0u8; 64 + 56];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2;
    bytes[5] = 1;
    bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    bytes[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
    bytes[64..68].copy_from_slice(&3u32.to_le_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn dynamic_phpeek_pm_is_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pm, entrypoint) = fake_binaries(dir.path());
    write_dynamic_elf(Path::new(&pm));
    // An invalid mirror stops the build right after the binaries are
    // checked, before any network access.
    let output = run(
        &definition("php-fpm-nginx-8.2-bookworm.toml"),
        dir.path(),
        &[
            "--pm-bin",
            &pm,
            "--entrypoint-bin",
            &entrypoint,
            "--mirror",
            "not-a-url",
            "--output-oci",
            "/nonexistent/oci",
        ],
    );

    let text = stderr(&output);
    let warning = format!("phpeek-image: warning: {pm} is dynamically linked");
    assert!(text.contains(&warning), "{text}");
    assert!(text.contains("not-a-url"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

#[test]
fn no_output_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(
        &definition("php-fpm-nginx-8.2-bookworm.toml"),
        dir.path(),
        &[],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("--output-oci DIR, --output-docker FILE or --load"),
        "{text}"
    );
}

#[test]
fn invalid_definition_names_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    let text =
        std::fs::read_to_string(definition("php-fpm-nginx-8.2-bookworm.toml")).expect("read");
    std::fs::write(
        &file,
        text.replace("php_version = \"8.2\"", "php_version = \"eight\""),
    )
    .expect("write");
    let output = run(&file, dir.path(), &["--output-oci", "/nonexistent/oci"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("php_version"), "{text}");
}

#[test]
fn missing_definition_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(&dir.path().join("none.toml"), dir.path(), &["--load"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("could not read the image definition"),
        "{text}"
    );
    assert!(text.contains("No such file or directory"), "{text}");
}

#[test]
fn unreachable_mirror_is_reported() {
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    if Command::new("apt-get").arg("--version").output().is_err() || !keyring.is_file() {
        eprintln!("skipped: needs apt-get and debian-archive-keyring");
        return;
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let (pm, entrypoint) = fake_binaries(dir.path());
    // Port 9 (discard) on loopback: nothing listens, so connect is refused
    // at once and no traffic leaves the machine.
    let mirror = "http://127.0.0.1:9/debian";
    let output = run(
        &definition("php-fpm-nginx-8.2-bookworm.toml"),
        dir.path(),
        &[
            "--pm-bin",
            &pm,
            "--entrypoint-bin",
            &entrypoint,
            "--mirror",
            mirror,
            "--security-mirror",
            "http://127.0.0.1:9/debian-security",
            "--output-oci",
            &dir.path().join("oci").display().to_string(),
        ],
    );

    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("Debian mirror http://127.0.0.1:9/"), "{text}");
    assert!(text.contains("is unreachable"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
}
