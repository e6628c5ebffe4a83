//! Helpers for the integration tests: running phpeek-image, podman
//! containers named and removed by the tests, and a small HTTP client.

#![allow(dead_code)]

pub(crate) use phpeek_testkit::{free_port, http_get};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Root of the workspace.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Returns the path of a shipped definition file, such as
/// `php-fpm-nginx-8.2-bookworm.toml`.
pub(crate) fn definition(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("definitions")
        .join(name)
}

/// Directory of the release binaries, as `cargo build --release` leaves
/// them.
pub(crate) fn release_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace().join(dir).join("release"),
        None => workspace().join("target/release"),
    }
}

/// Cache of the builds: `PHPEEK_IMAGE_CACHE`, else a fixed folder under
/// the temp dir, so repeated runs reuse the downloads.
pub(crate) fn cache_dir() -> PathBuf {
    match std::env::var_os("PHPEEK_IMAGE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("phpeek-image-test-cache"),
    }
}

/// Runs `phpeek-image build DEFINITION ARGS...` with the release
/// phpeek-pm and phpeek-entrypoint, and plain progress.
pub(crate) fn build(definition: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_phpeek-image"))
        .arg("build")
        .arg(definition)
        .arg("--plain-progress")
        .arg("--workspace")
        .arg(workspace())
        .arg("--cache-dir")
        .arg(cache_dir())
        .arg("--pm-bin")
        .arg(release_dir().join("phpeek-pm"))
        .arg("--entrypoint-bin")
        .arg(release_dir().join("phpeek-entrypoint"))
        .args(args)
        .output()
        .expect("run phpeek-image");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    output
}

/// Reads the manifest digest of the only image in an OCI layout.
pub(crate) fn layout_digest(dir: &Path) -> String {
    let index = std::fs::read(dir.join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_slice(&index).expect("index json");
    index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string()
}

/// Fails with a setup hint unless podman is usable.
pub(crate) fn require_podman() {
    let found = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "podman is not installed: run images/tests/run-image-tests.sh, which sets it up"
    );
    assert!(
        std::env::var_os("CONTAINERS_CONF").is_some(),
        "CONTAINERS_CONF is not set: on this host podman needs runc and ulimits from a \
         private containers.conf; run images/tests/run-image-tests.sh"
    );
}

/// Runs podman with `args`; returns its output.
pub(crate) fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("run podman")
}

/// A container started by a test; removed (by its name) on drop.
pub(crate) struct Container {
    /// Name chosen by the test.
    pub(crate) name: String,
    /// Host port on 127.0.0.1 published to the container's port 80.
    pub(crate) port: u16,
    /// Host port on 127.0.0.1 published to the container's port 9090,
    /// where phpeek-pm serves /metrics when metrics are enabled.
    pub(crate) metrics_port: u16,
    /// When `podman run` was started.
    pub(crate) started: Instant,
}

/// Returns the podman options that mount examples/app/public read-only as
/// the docroot.
pub(crate) fn docroot_volume() -> [String; 2] {
    let docroot = workspace().join("examples/app/public");
    let volume = format!("{}:/var/www/html/public:ro", docroot.display());
    ["--volume".to_string(), volume]
}

impl Container {
    /// Starts `image` detached as `name`, with the extra `podman run`
    /// options in `options`, and ports 80 and 9090 published on 127.0.0.1.
    pub(crate) fn start(image: &str, name: &str, options: &[String]) -> Container {
        let _ = podman(&["rm", "--force", "--time", "0", name]);
        let port = free_port();
        let metrics_port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        let publish_metrics = format!("127.0.0.1:{metrics_port}:9090");
        let mut args = vec![
            "run",
            "--detach",
            "--name",
            name,
            "--publish",
            &publish,
            "--publish",
            &publish_metrics,
        ];
        args.extend(options.iter().map(String::as_str));
        args.push(image);
        let started = Instant::now();
        let output = podman(&args);
        assert!(
            output.status.success(),
            "podman run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Container {
            name: name.to_string(),
            port,
            metrics_port,
            started,
        }
    }

    /// Waits up to `limit` after the start for GET `path` to return 200,
    /// and returns the time from `podman run` to that response.
    pub(crate) fn wait_for_200(&self, path: &str, limit: Duration) -> Option<Duration> {
        while self.started.elapsed() < limit {
            if let Ok((200, _)) = http_get(self.port, path, Duration::from_millis(500)) {
                return Some(self.started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The container's logs, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let output = podman(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.name]);
    }
}

/// Encodes `bytes` as standard base64 with padding (RFC 4648, section 4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from_be_bytes([0, group[0], group[1], group[2]]);
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (bits >> (18 - 6 * index)) & 0x3f;
                text.push(char::from(ALPHABET[sextet as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}
