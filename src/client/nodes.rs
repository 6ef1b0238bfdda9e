//! Native nodes: `build --node PLATFORMS=ADDRESS` sends each target
//! platform to the BuildKit daemon that builds it natively, in parallel,
//! one session per node (the caller runs [`super::build::run_build`] once
//! per [`Assignment`]). Each node pushes its result by digest into the
//! image's repository; [`join_index`] then reads each node's manifest or
//! index back from the registry and stores one OCI index holding every
//! platform (and every attestation manifest) under the image's tags.
//!
//! This is BuildKit's own distribution model (buildx's multi-node
//! builders: one solve per node, results merged into an index afterwards),
//! not a scheduler of our own: a node builds exactly the platforms it is
//! given, and what "native" means is the user's assignment.

use hyper::body::Bytes;

use super::output::{ExportSpec, ExportTarget, ExporterKind};
use crate::image::registry::{ImageRef, RegistryClient, RegistryError};
use crate::image::{
    is_index_media_type, is_manifest_media_type, Descriptor, Index, Manifest,
    ANNOTATION_REFERENCE_TYPE, MEDIA_TYPE_OCI_INDEX,
};
use crate::platform::Platform;

/// Why a node build could not be planned or joined.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A `--node` value that does not parse.
    #[error("--node {value:?}: {reason} (expected PLATFORM[,PLATFORM...]=ADDRESS, e.g. linux/arm64=unix:///run/buildkit/buildkitd.sock)")]
    Syntax {
        /// The flag's value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two nodes claim one platform.
    #[error("platform {platform} is given to two nodes ({first} and {second}); give each platform to one node")]
    Twice {
        /// The platform.
        platform: String,
        /// The first node's address.
        first: String,
        /// The second node's address.
        second: String,
    },
    /// A target platform no node builds.
    #[error("platform {platform} has no node: add it to a --node (e.g. --node {platform}=ADDRESS), or drop it from --platform")]
    Unassigned {
        /// The platform.
        platform: String,
    },
    /// The outputs do not fit node builds.
    #[error("{0}")]
    Outputs(String),
    /// A node pushed something that cannot go into an index.
    #[error("node {address}: {reason}")]
    Result {
        /// The node's address.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// One `--node` flag: the platforms it builds and where its daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Platforms this node builds, normalised.
    pub platforms: Vec<Platform>,
    /// The daemon's address (`unix://...`, `tcp://...`), as `--addr` takes it.
    pub address: String,
}

impl std::str::FromStr for NodeSpec {
    type Err = NodeError;

    fn from_str(value: &str) -> Result<Self, NodeError> {
        let fail = |reason: &str| NodeError::Syntax {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        // Platforms hold no `=`; addresses may (query strings), so the
        // first `=` separates them.
        let (platforms, address) = value.split_once('=').ok_or_else(|| fail("no `=`"))?;
        let address = address.trim();
        if address.is_empty() {
            return Err(fail("no address after `=`"));
        }
        let platforms = platforms
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<Platform>()
                    .map_err(|e| fail(&format!("platform {p:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if platforms.is_empty() {
            return Err(fail("no platform before `=`"));
        }
        Ok(NodeSpec {
            platforms,
            address: address.to_string(),
        })
    }
}

/// What one node builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The node's address.
    pub address: String,
    /// The target platforms it builds, in `--platform` order.
    pub platforms: Vec<Platform>,
}

/// Gives each target platform to its node. Without `--platform` every
/// platform the nodes name is built. A target platform no node names is an
/// error rather than a quiet fallback to the default daemon, so where each
/// platform is built is always what the command line says; a node none of
/// whose platforms is a target is left out.
pub fn assign(targets: &[Platform], nodes: &[NodeSpec]) -> Result<Vec<Assignment>, NodeError> {
    let mut owner: Vec<(Platform, usize)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for platform in &node.platforms {
            if let Some((_, first)) = owner.iter().find(|(p, _)| p == platform) {
                if *first != i {
                    return Err(NodeError::Twice {
                        platform: platform.to_string(),
                        first: nodes[*first].address.clone(),
                        second: node.address.clone(),
                    });
                }
                continue;
            }
            owner.push((platform.clone(), i));
        }
    }
    let targets: Vec<Platform> = if targets.is_empty() {
        owner.iter().map(|(p, _)| p.clone()).collect()
    } else {
        targets.to_vec()
    };
    let mut assignments: Vec<Assignment> = Vec::new();
    for platform in targets {
        let (_, i) =
            owner
                .iter()
                .find(|(p, _)| *p == platform)
                .ok_or_else(|| NodeError::Unassigned {
                    platform: platform.to_string(),
                })?;
        let address = &nodes[*i].address;
        match assignments.iter_mut().find(|a| &a.address == address) {
            Some(a) if !a.platforms.contains(&platform) => a.platforms.push(platform),
            Some(_) => {}
            None => assignments.push(Assignment {
                address: address.clone(),
                platforms: vec![platform],
            }),
        }
    }
    Ok(assignments)
}

/// The image's tags, checked: node builds push, so `--push` and at least
/// one `-t` are required, every tag must be in one repository (the nodes
/// push their blobs there, and an index can only point at manifests in its
/// own repository), and no other output is possible.
pub fn image_tags(
    tags: &[String],
    push: bool,
    other_outputs: bool,
) -> Result<Vec<ImageRef>, NodeError> {
    if !push || tags.is_empty() {
        return Err(NodeError::Outputs(
            "--node builds push each node's result to a registry and join them into one index \
             there: pass -t REGISTRY/NAME:TAG and --push"
                .to_string(),
        ));
    }
    if other_outputs {
        return Err(NodeError::Outputs(
            "--node builds take only -t and --push as outputs (no -o or --load)".to_string(),
        ));
    }
    let refs = tags
        .iter()
        .map(|t| ImageRef::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(other) = refs
        .iter()
        .find(|r| (&r.host, &r.repository) != (&refs[0].host, &refs[0].repository))
    {
        return Err(NodeError::Outputs(format!(
            "--node builds push to one repository; {} and {} differ",
            refs[0].normalized, other.normalized
        )));
    }
    if let Some(digest) = refs.iter().find(|r| r.reference.starts_with("sha256:")) {
        return Err(NodeError::Outputs(format!(
            "-t {}: a tag, not a digest, is needed to name the joined index",
            digest.normalized
        )));
    }
    Ok(refs)
}

/// The exporter each node runs: an image pushed by digest (no tag) into
/// the image's repository, OCI media types.
pub fn node_export(image: &ImageRef) -> ExportSpec {
    let name = format!("{}/{}", image.host, image.repository);
    ExportSpec {
        kind: ExporterKind::Image,
        attrs: [
            ("name", name.as_str()),
            ("push", "true"),
            ("push-by-digest", "true"),
            ("oci-mediatypes", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        target: ExportTarget::None,
    }
}

/// One node's pushed result: its address and the digest its exporter
/// answered (`containerimage.digest`).
#[derive(Debug, Clone)]
pub struct NodeResult {
    /// The node's address.
    pub address: String,
    /// The platforms it was given.
    pub platforms: Vec<Platform>,
    /// The digest of the manifest or index it pushed.
    pub digest: String,
}

/// What [`join_index`] stored.
#[derive(Debug, Clone)]
pub struct JoinedIndex {
    /// The index's digest.
    pub digest: String,
    /// The index's platform entries and attestation manifests.
    pub index: Index,
}

/// Reads each node's pushed result back from the registry and stores one
/// OCI index of all their manifests under every tag. A node's index gives
/// its entries as they are (platforms and attestation manifests, with
/// their annotations); a node's single manifest gets its platform from its
/// config. Each node must have pushed exactly the platforms it was given.
pub async fn join_index(
    registry: &RegistryClient,
    tags: &[ImageRef],
    results: &[NodeResult],
) -> Result<JoinedIndex, NodeError> {
    let image = tags
        .first()
        .ok_or_else(|| NodeError::Outputs("no tag to push the index under".to_string()))?;
    let mut manifests: Vec<Descriptor> = Vec::new();
    for result in results {
        let fail = |reason: String| NodeError::Result {
            address: result.address.clone(),
            reason,
        };
        let stored = registry.get_manifest(image, &result.digest).await?;
        let entries = if is_index_media_type(&stored.media_type) {
            Index::from_json(&stored.body)
                .map_err(|e| fail(format!("its index {}: {e}", result.digest)))?
                .manifests
        } else if is_manifest_media_type(&stored.media_type) {
            let manifest = Manifest::from_json(&stored.body)
                .map_err(|e| fail(format!("its manifest {}: {e}", result.digest)))?;
            let config = registry
                .get_blob(image, &manifest.config.digest)
                .await
                .map_err(NodeError::Registry)?;
            let platform: crate::image::Platform = serde_json::from_slice(&config)
                .map_err(|e| fail(format!("its image config: {e}")))?;
            vec![Descriptor {
                media_type: stored.media_type.clone(),
                digest: stored.digest.clone(),
                size: stored.body.len() as i64,
                platform: Some(crate::image::Platform {
                    architecture: platform.architecture,
                    os: platform.os,
                    variant: platform.variant,
                    ..Default::default()
                }),
                ..Default::default()
            }]
        } else {
            return Err(fail(format!(
                "pushed {} of media type {:?}, neither an index nor a manifest",
                result.digest, stored.media_type
            )));
        };
        let mut pushed: Vec<String> = entries
            .iter()
            .filter(|d| {
                d.annotations
                    .get(ANNOTATION_REFERENCE_TYPE)
                    .map(String::as_str)
                    != Some("attestation-manifest")
            })
            .filter_map(|d| d.platform.as_ref().map(|p| p.id()))
            .collect();
        let mut wanted: Vec<String> = result.platforms.iter().map(|p| p.to_string()).collect();
        pushed.sort();
        wanted.sort();
        if pushed != wanted {
            return Err(fail(format!(
                "pushed platforms [{}], but was given [{}]",
                pushed.join(", "),
                wanted.join(", ")
            )));
        }
        manifests.extend(entries);
    }
    let index = Index {
        schema_version: 2,
        media_type: MEDIA_TYPE_OCI_INDEX.to_string(),
        artifact_type: String::new(),
        manifests,
        subject: None,
        annotations: Default::default(),
        extra: Default::default(),
    };
    let body = Bytes::from(
        index
            .to_json()
            .map_err(|e| NodeError::Outputs(format!("the joined index: {e}")))?,
    );
    let mut digest = String::new();
    for tag in tags {
        digest = registry
            .put_manifest(tag, &tag.reference, MEDIA_TYPE_OCI_INDEX, body.clone())
            .await?;
    }
    Ok(JoinedIndex { digest, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> NodeSpec {
        text.parse().unwrap()
    }

    #[test]
    fn parses_platforms_and_address() {
        let spec = node("linux/arm64, arm/v7=unix:///tmp/b.sock");
        assert_eq!(spec.address, "unix:///tmp/b.sock");
        let names: Vec<String> = spec.platforms.iter().map(|p| p.to_string()).collect();
        assert_eq!(names, ["linux/arm64", "linux/arm/v7"]);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (value, reason) in [
            ("linux/arm64", "no `=`"),
            ("linux/arm64=", "no address"),
            ("=unix:///x", "no platform"),
            ("linux/nonsense-arch/x/y=unix:///x", "platform"),
        ] {
            let err = value.parse::<NodeSpec>().unwrap_err().to_string();
            assert!(err.contains(reason), "{value}: {err}");
        }
    }

    #[test]
    fn assigns_each_target_to_its_node_in_order() {
        let nodes = [node("linux/amd64=A"), node("linux/arm64,linux/arm/v7=B")];
        let targets: Vec<Platform> = ["linux/arm/v7", "linux/amd64", "linux/arm64"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let a = assign(&targets, &nodes).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].address, "B");
        assert_eq!(a[0].platforms, [targets[0].clone(), targets[2].clone()]);
        assert_eq!(a[1].address, "A");
        // Without --platform, every node platform is built.
        let all = assign(&[], &nodes).unwrap();
        assert_eq!(all.iter().map(|a| a.platforms.len()).sum::<usize>(), 3);
    }

    #[test]
    fn unassigned_and_doubly_assigned_platforms_are_errors() {
        let nodes = [node("linux/amd64=A"), node("linux/arm64=B")];
        let err = assign(&["linux/s390x".parse().unwrap()], &nodes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux/s390x has no node"), "{err}");
        let err = assign(&[], &[node("linux/amd64=A"), node("amd64=B")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("given to two nodes (A and B)"), "{err}");
    }

    #[test]
    fn outputs_must_be_a_pushed_tag_in_one_repository() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(image_tags(&tags(&["localhost:5000/a:1"]), false, false).is_err());
        assert!(image_tags(&[], true, false).is_err());
        assert!(image_tags(&tags(&["localhost:5000/a:1"]), true, true).is_err());
        assert!(image_tags(
            &tags(&["localhost:5000/a:1", "localhost:5000/b:1"]),
            true,
            false
        )
        .is_err());
        let refs = image_tags(
            &tags(&["localhost:5000/a:1", "localhost:5000/a:latest"]),
            true,
            false,
        )
        .unwrap();
        assert_eq!(refs.len(), 2);
        let export = node_export(&refs[0]);
        assert_eq!(export.attrs["name"], "localhost:5000/a");
        assert_eq!(export.attrs["push-by-digest"], "true");
    }
}
