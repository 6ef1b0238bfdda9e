//! The image config: what a frontend returns in `containerimage.config` and
//! what `FROM` reads from a base image (Go: `dockerspec.DockerOCIImage`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{null_as_default, ImageError};

/// An image config (OCI image config with Docker's `Healthcheck`, `OnBuild`
/// and `Shell` extensions). Field order follows BuildKit's output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time, RFC 3339 as Go writes it; kept as text so it
    /// round-trips to the byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author (deprecated `MAINTAINER`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// CPU architecture, GOARCH style (`amd64`, `arm64`, `arm`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system, GOOS style (`linux`, `windows`).
    #[serde(default)]
    pub os: String,
    /// OS version (Windows images).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Required OS features (Windows images).
    #[serde(
        rename = "os.features",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
    /// CPU variant (`v7` for `arm`, `v8` rarely for `arm64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Layer diff ids.
    #[serde(default)]
    pub rootfs: RootFs,
    /// One entry per Dockerfile step, including steps that made no layer.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
    /// The runtime defaults (Go always writes this object, even empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    /// Fields not modelled here (Docker's `container`, `container_config`,
    /// `docker_version`, ...), kept so a read config writes back the same.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The runtime defaults of an image (Go: `DockerOCIImageConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `USER`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `EXPOSE`, as `"80/tcp"` keys of a map of empty objects.
    #[serde(
        default,
        with = "empty_object_set",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub exposed_ports: BTreeSet<String>,
    /// `ENV`, as `KEY=value` in definition order.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entrypoint: Vec<String>,
    /// `CMD`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cmd: Vec<String>,
    /// `VOLUME`, as keys of a map of empty objects.
    #[serde(
        default,
        with = "empty_object_set",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub volumes: BTreeSet<String>,
    /// `WORKDIR`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// `LABEL`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Windows: `Cmd`/`Entrypoint` are already escaped command lines.
    #[serde(default, skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    /// `HEALTHCHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `ONBUILD` triggers, as the instruction text.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    /// `SHELL`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
    /// Fields not modelled here (Docker's `Hostname`, `AttachStdin`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `HEALTHCHECK` settings; durations are nanoseconds, as Go's
/// `time.Duration` marshals, and zero means "inherit/default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    /// Time between checks, ns.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time before a check counts as hung, ns.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Start-up time during which failures do not count, ns.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period, ns.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

/// The layers of an image, as uncompressed digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub fs_type: String,
    /// `sha256:...` of each uncompressed layer, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            fs_type: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One build step in the image history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction, e.g. `RUN /bin/sh -c make # buildkit`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Author of the step.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// Free text, e.g. `buildkit.dockerfile.v0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The step made no layer (ENV, CMD, ...), so it has no diff id.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_layer: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl ImageConfig {
    /// Parses an image config (OCI or Docker) from JSON.
    pub fn from_json(json: &[u8]) -> Result<ImageConfig, ImageError> {
        serde_json::from_slice(json).map_err(|source| ImageError::Json {
            what: "image config",
            source,
        })
    }

    /// Serialises to compact JSON, as BuildKit expects in
    /// `containerimage.config`.
    pub fn to_json(&self) -> Result<Vec<u8>, ImageError> {
        serde_json::to_vec(self).map_err(|source| ImageError::Json {
            what: "image config",
            source,
        })
    }

    /// The platform id (`linux/arm/v7`), as used for
    /// `containerimage.config/<id>` keys.
    pub fn platform_id(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.architecture)
        } else {
            format!("{}/{}/{}", self.os, self.architecture, self.variant)
        }
    }
}

/// Go's `map[string]struct{}` (`{"80/tcp": {}}`) as a set of keys.
mod empty_object_set {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::de::IgnoredAny;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    /// An empty JSON object, the value of every key.
    #[derive(serde::Serialize)]
    struct Empty {}

    pub fn serialize<S: Serializer>(set: &BTreeSet<String>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(set.len()))?;
        for key in set {
            map.serialize_entry(key, &Empty {})?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<String>, D::Error> {
        let map = Option::<BTreeMap<String, IgnoredAny>>::deserialize(d)?;
        Ok(map.unwrap_or_default().into_keys().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as BuildKit's Dockerfile frontend writes it for a Go service
    /// on linux/arm/v7 (shape taken from `docker buildx imagetools inspect
    /// --format '{{json .Image}}'` output).
    const BUILDKIT_CONFIG: &str = r#"{"created":"2024-05-02T10:11:12.123456789Z","architecture":"arm","os":"linux","variant":"v7","rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111","sha256:2222222222222222222222222222222222222222222222222222222222222222"]},"history":[{"created":"2024-04-01T00:00:00Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},{"created":"2024-04-01T00:00:00Z","created_by":"/bin/sh -c #(nop)  CMD [\"/bin/sh\"]","empty_layer":true},{"created":"2024-05-02T10:11:12.123456789Z","created_by":"COPY /out/app /usr/local/bin/app # buildkit","comment":"buildkit.dockerfile.v0"},{"created":"2024-05-02T10:11:12.123456789Z","created_by":"EXPOSE map[8080/tcp:{}]","comment":"buildkit.dockerfile.v0","empty_layer":true}],"config":{"User":"65532:65532","ExposedPorts":{"8080/tcp":{},"9090/udp":{}},"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_ENV=prod"],"Entrypoint":["/usr/local/bin/app"],"Cmd":["serve","--port=8080"],"Volumes":{"/data":{}},"WorkingDir":"/srv","Labels":{"org.opencontainers.image.source":"https://example.com/app","org.opencontainers.image.version":"1.2.3"},"StopSignal":"SIGTERM","Healthcheck":{"Test":["CMD-SHELL","wget -qO- localhost:8080/healthz || exit 1"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":10000000000,"StartInterval":2000000000,"Retries":3},"OnBuild":["RUN echo child"],"Shell":["/bin/ash","-eo","pipefail","-c"]}}"#;

    #[test]
    fn realistic_config_round_trips_byte_for_byte() {
        let cfg = ImageConfig::from_json(BUILDKIT_CONFIG.as_bytes()).expect("parse");
        assert_eq!(cfg.platform_id(), "linux/arm/v7");
        assert_eq!(cfg.rootfs.diff_ids.len(), 2);
        assert_eq!(cfg.history.len(), 4);
        assert!(cfg.history[1].empty_layer);
        assert_eq!(cfg.history[2].comment, "buildkit.dockerfile.v0");
        let c = &cfg.config;
        assert_eq!(c.user, "65532:65532");
        assert_eq!(
            c.exposed_ports.iter().collect::<Vec<_>>(),
            ["8080/tcp", "9090/udp"]
        );
        assert_eq!(c.volumes.iter().collect::<Vec<_>>(), ["/data"]);
        assert_eq!(c.cmd, ["serve", "--port=8080"]);
        let hc = c.healthcheck.as_ref().expect("healthcheck");
        assert_eq!(hc.interval, 30_000_000_000);
        assert_eq!(hc.start_interval, 2_000_000_000);
        assert_eq!(hc.retries, 3);
        assert!(cfg.extra.is_empty() && c.extra.is_empty());

        let out = cfg.to_json().expect("serialise");
        assert_eq!(String::from_utf8_lossy(&out), BUILDKIT_CONFIG);
    }

    #[test]
    fn empty_fields_are_omitted_like_go() {
        let cfg = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8_lossy(&cfg.to_json().expect("json")),
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#
        );
    }

    /// A Docker-built (legacy builder) config: nulls where Go had nil slices,
    /// and fields outside the OCI spec that must survive a round trip.
    #[test]
    fn docker_legacy_config_keeps_unknown_fields_and_tolerates_nulls() {
        let json = r#"{"architecture":"amd64","config":{"Hostname":"","AttachStdin":false,"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"Image":"sha256:abc","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"container":"0123","container_config":{"Hostname":"0123"},"created":"2023-01-01T00:00:00Z","docker_version":"20.10.7","history":[{"created":"2023-01-01T00:00:00Z","created_by":"x"}],"os":"linux","rootfs":{"type":"layers","diff_ids":null}}"#;
        let cfg = ImageConfig::from_json(json.as_bytes()).expect("parse");
        assert_eq!(cfg.config.cmd, ["/bin/sh"]);
        assert!(cfg.config.entrypoint.is_empty() && cfg.config.volumes.is_empty());
        assert!(cfg.rootfs.diff_ids.is_empty());
        assert_eq!(
            cfg.extra.get("docker_version"),
            Some(&Value::String("20.10.7".into()))
        );
        assert_eq!(
            cfg.config.extra.get("Image"),
            Some(&Value::String("sha256:abc".into()))
        );
        // Same meaning after a round trip: every value equal, nulls gone.
        let again = ImageConfig::from_json(&cfg.to_json().expect("json")).expect("reparse");
        assert_eq!(again, cfg);
        let v: Value = serde_json::from_slice(&cfg.to_json().expect("json")).expect("value");
        assert_eq!(v["container_config"]["Hostname"], "0123");
        assert_eq!(v["config"]["AttachStdin"], false);
        assert!(v["config"].get("Entrypoint").is_none());
    }

    #[test]
    fn windows_platform_fields() {
        let json = r#"{"architecture":"amd64","os":"windows","os.version":"10.0.20348.2340","os.features":["win32k"],"rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":["cmd /S /C app.exe"],"ArgsEscaped":true}}"#;
        let cfg = ImageConfig::from_json(json.as_bytes()).expect("parse");
        assert_eq!(cfg.os_version, "10.0.20348.2340");
        assert_eq!(cfg.os_features, ["win32k"]);
        assert!(cfg.config.args_escaped);
        assert_eq!(String::from_utf8_lossy(&cfg.to_json().expect("json")), json);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(
            ImageConfig::from_json(b"{\"rootfs\": 3}"),
            Err(ImageError::Json {
                what: "image config",
                ..
            })
        ));
        assert!(ImageConfig::from_json(b"not json").is_err());
    }
}
