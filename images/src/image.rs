//! The image config, manifest and index documents.
//!
//! The documents are built with oci-spec and serialized through
//! `serde_json::Value`, whose maps are sorted, because oci-spec keeps labels
//! and annotations in `HashMap`s whose order changes from run to run, and a
//! digest over JSON bytes needs one fixed order.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use oci_spec::OciSpecError;

use crate::definition::Definition;
use crate::layer::LayerBlob;
use crate::provenance::Provenance;

/// `PATH` of the image: Debian's default for root.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Program the container starts.
pub const ENTRYPOINT: &str = "/usr/local/bin/phpeek-entrypoint";

/// Default argument of the entrypoint: supervise php-fpm and nginx.
pub const CMD: &str = "phpeek-pm";

/// Working directory of the container: the application root.
pub const WORKING_DIR: &str = "/var/www/html";

/// Ports the image serves: nginx and phpeek-pm's metrics and health.
pub const EXPOSED_PORTS: [&str; 2] = ["80/tcp", "9090/tcp"];

/// Signal `podman stop` and `docker stop` send to PID 1.
///
/// SIGTERM, not SIGQUIT: phpeek-pm treats TERM as "shut down gracefully" and
/// sends each process its own graceful stop signal (QUIT for php-fpm and
/// nginx, so requests in flight finish). TERM is also what Kubernetes
/// sends regardless of this setting, and what a one-off command started
/// through the entrypoint (`php artisan ...`) expects: SIGQUIT's default
/// action is a core dump.
pub const STOP_SIGNAL: &str = "SIGTERM";

/// Errors raised while building the documents.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// oci-spec rejected a value.
    #[error("could not build the OCI {document}")]
    Spec {
        /// Which document.
        document: &'static str,
        /// oci-spec's error.
        #[source]
        source: OciSpecError,
    },
    /// JSON serialization failed.
    #[error("could not serialize the OCI {document}")]
    Json {
        /// Which document.
        document: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// One layer of the image and the line that describes it in the history.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    /// The written blob.
    pub blob: LayerBlob,
    /// Layer contents for the history, such as `50 Debian packages (OS set)`.
    pub description: String,
}

/// Inputs of the image config.
#[derive(Debug, Clone)]
pub struct ConfigInputs<'a> {
    /// The image definition.
    pub definition: &'a Definition,
    /// Build time, revision and source.
    pub provenance: &'a Provenance,
    /// Value of the version label.
    pub version: String,
    /// Layers, bottom first.
    pub layers: &'a [ImageLayer],
}

/// Returns the environment of the image: `PATH`, `PHP_VERSION`, then the
/// definition's variables in name order.
pub fn environment(definition: &Definition) -> Vec<String> {
    let mut env = vec![
        format!("PATH={PATH}"),
        format!("PHP_VERSION={}", definition.php_version),
    ];
    env.extend(
        definition
            .env
            .iter()
            .map(|(key, value)| format!("{key}={value}")),
    );
    env
}

/// Returns the labels of the image: the `org.opencontainers.image.*` set
/// plus the definition's own.
pub fn labels(inputs: &ConfigInputs<'_>) -> BTreeMap<String, String> {
    let definition = inputs.definition;
    let provenance = inputs.provenance;
    let mut labels = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        labels.insert(format!("org.opencontainers.image.{key}"), value);
    };
    set("title", definition.title.clone());
    set("description", definition.description.clone());
    set("version", inputs.version.clone());
    set("created", provenance.created());
    set("licenses", env!("CARGO_PKG_LICENSE").to_string());
    if let Some(revision) = &provenance.revision {
        set("revision", revision.clone());
    }
    if let Some(source) = &provenance.source {
        set("source", source.clone());
    }
    labels.extend(definition.labels.clone());
    labels
}

/// Serializes the image config.
///
/// # Errors
///
/// [`ImageError`] when oci-spec rejects a value.
pub fn config_json(inputs: &ConfigInputs<'_>) -> Result<Vec<u8>, ImageError> {
    let spec = |source| ImageError::Spec {
        document: "image config",
        source,
    };
    let config = ConfigBuilder::default()
        .env(environment(inputs.definition))
        .entrypoint(vec![ENTRYPOINT.to_string()])
        .cmd(vec![CMD.to_string()])
        .working_dir(WORKING_DIR)
        .exposed_ports(
            EXPOSED_PORTS
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        )
        .stop_signal(STOP_SIGNAL)
        .labels(labels(inputs).into_iter().collect::<HashMap<_, _>>())
        .build()
        .map_err(spec)?;
    let rootfs = RootFsBuilder::default()
        .diff_ids(
            inputs
                .layers
                .iter()
                .map(|l| l.blob.diff_id.clone())
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(spec)?;
    let created = inputs.provenance.created();
    let mut history = Vec::new();
    for layer in inputs.layers {
        let entry = HistoryBuilder::default()
            .created(created.clone())
            .created_by(format!("phpeek-image {}", env!("CARGO_PKG_VERSION")))
            .comment(layer.description.clone())
            .build()
            .map_err(spec)?;
        history.push(entry);
    }
    let image = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(Arch::from(inputs.definition.architecture.as_str()))
        .os(Os::Linux)
        .config(config)
        .rootfs(rootfs)
        .history(history)
        .build()
        .map_err(spec)?;
    canonical_json(&image, "image config")
}

/// Serializes the manifest of a config blob and its layers.
///
/// # Errors
///
/// [`ImageError`] when a digest is malformed.
pub fn manifest_json(
    config_digest: &str,
    config_size: u64,
    layers: &[ImageLayer],
) -> Result<Vec<u8>, ImageError> {
    let spec = |source| ImageError::Spec {
        document: "image manifest",
        source,
    };
    let config =
        descriptor(MediaType::ImageConfig, config_digest, config_size, None).map_err(spec)?;
    let mut descriptors = Vec::new();
    for layer in layers {
        descriptors.push(
            descriptor(
                MediaType::ImageLayerGzip,
                &layer.blob.digest,
                layer.blob.size,
                None,
            )
            .map_err(spec)?,
        );
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(descriptors)
        .build()
        .map_err(spec)?;
    canonical_json(&manifest, "image manifest")
}

/// Serializes an image index with one manifest, named `tag` through the
/// `org.opencontainers.image.ref.name` annotation (what `skopeo copy
/// oci:DIR:TAG` looks up).
///
/// # Errors
///
/// [`ImageError`] when the digest is malformed.
pub fn index_json(
    manifest_digest: &str,
    manifest_size: u64,
    tag: &str,
) -> Result<Vec<u8>, ImageError> {
    let spec = |source| ImageError::Spec {
        document: "image index",
        source,
    };
    let annotations = HashMap::from([(
        "org.opencontainers.image.ref.name".to_string(),
        tag.to_string(),
    )]);
    let manifest = descriptor(
        MediaType::ImageManifest,
        manifest_digest,
        manifest_size,
        Some(annotations),
    )
    .map_err(spec)?;
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest])
        .build()
        .map_err(spec)?;
    canonical_json(&index, "image index")
}

fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: u64,
    annotations: Option<HashMap<String, String>>,
) -> Result<oci_spec::image::Descriptor, OciSpecError> {
    let digest: Digest = digest.parse()?;
    let builder = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size);
    match annotations {
        Some(annotations) => builder.annotations(annotations).build(),
        None => builder.build(),
    }
}

/// Serializes with sorted object keys.
fn canonical_json(
    value: &impl serde::Serialize,
    document: &'static str,
) -> Result<Vec<u8>, ImageError> {
    let json = |source| ImageError::Json { document, source };
    let value = serde_json::to_value(value).map_err(json)?;
    serde_json::to_vec(&value).map_err(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn definition() -> Definition {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("definitions/php-fpm-nginx-8.2-bookworm.toml");
        Definition::load(&path).expect("shipped definition")
    }

    fn layers() -> Vec<ImageLayer> {
        let blob = |n: u8| LayerBlob {
            digest: format!("sha256:{}", format!("{n:x}").repeat(64)),
            diff_id: format!("sha256:{}", format!("{:x}", n + 1).repeat(64)),
            size: 10,
            uncompressed_size: 20,
        };
        vec![
            ImageLayer {
                blob: blob(1),
                description: "os".into(),
            },
            ImageLayer {
                blob: blob(3),
                description: "php".into(),
            },
        ]
    }

    fn config() -> serde_json::Value {
        let definition = definition();
        let provenance = Provenance {
            epoch: 86_400,
            revision: Some("abc".into()),
            source: None,
        };
        let layers = layers();
        let inputs = ConfigInputs {
            definition: &definition,
            provenance: &provenance,
            version: "8.2.1".into(),
            layers: &layers,
        };
        let bytes = config_json(&inputs).expect("config");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn config_bytes_are_stable() {
        let definition = definition();
        let provenance = Provenance {
            epoch: 1,
            revision: None,
            source: Some("https://x.example/r".into()),
        };
        let layers = layers();
        let inputs = ConfigInputs {
            definition: &definition,
            provenance: &provenance,
            version: "8.2.1".into(),
            layers: &layers,
        };
        let first = config_json(&inputs).expect("config");
        for _ in 0..20 {
            assert_eq!(config_json(&inputs).expect("config"), first);
        }
    }

    #[test]
    fn config_runs_the_entrypoint_with_phpeek_pm() {
        let config = config();
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!([ENTRYPOINT])
        );
        assert_eq!(config["config"]["Cmd"], serde_json::json!(["phpeek-pm"]));
        assert_eq!(config["config"]["StopSignal"], "SIGTERM");
        assert_eq!(config["config"]["WorkingDir"], "/var/www/html");
        assert!(config["config"]["ExposedPorts"]["80/tcp"].is_object());
        assert!(config["config"]["ExposedPorts"]["9090/tcp"].is_object());
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["created"], "1970-01-02T00:00:00Z");
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(config["history"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn config_env_names_the_php_binaries() {
        let config = config();
        let env: Vec<&str> = config["config"]["Env"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(env[0], format!("PATH={PATH}"));
        assert!(env.contains(&"PHP_VERSION=8.2"), "{env:?}");
        assert!(env.contains(&"PHP_FPM_BIN=/usr/sbin/php-fpm8.2"), "{env:?}");
        assert!(
            env.iter().any(|e| e.starts_with("PHPEEK_PM_BIN=")),
            "{env:?}"
        );
    }

    #[test]
    fn labels_carry_provenance() {
        let config = config();
        let labels = &config["config"]["Labels"];
        assert_eq!(labels["org.opencontainers.image.revision"], "abc");
        assert_eq!(labels["org.opencontainers.image.version"], "8.2.1");
        assert_eq!(
            labels["org.opencontainers.image.created"],
            "1970-01-02T00:00:00Z"
        );
        assert_eq!(labels["org.opencontainers.image.licenses"], "MIT");
        assert!(labels.get("org.opencontainers.image.source").is_none());
    }

    #[test]
    fn manifest_lists_gzip_layers() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let bytes = manifest_json(&digest, 123, &layers()).expect("manifest");
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(manifest["layers"][1]["size"], 10);
    }

    #[test]
    fn bad_digest_is_an_error() {
        assert!(manifest_json("not a digest", 1, &[]).is_err());
    }

    #[test]
    fn index_names_the_tag() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let bytes = index_json(&digest, 99, "8.2-bookworm").expect("index");
        let index: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "8.2-bookworm"
        );
        assert_eq!(index["manifests"][0]["size"], 99);
    }
}
