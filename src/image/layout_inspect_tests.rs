use std::path::Path;

use super::*;
use crate::image::{
    ANNOTATION_REFERENCE_DIGEST, ANNOTATION_REFERENCE_TYPE, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
};

/// Writes `bytes` as a blob of the layout in `dir`; its descriptor.
fn blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Descriptor {
    let digest = crate::llb::digest_of(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).unwrap();
    Descriptor {
        media_type: media_type.to_string(),
        digest,
        size: bytes.len() as i64,
        ..Default::default()
    }
}

/// An image manifest for `arch` with one layer of `layer_size` bytes
/// (never written: inspecting does not read layers).
fn image(dir: &Path, arch: &str, layer_size: i64) -> Descriptor {
    let config = blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        format!(r#"{{"os":"linux","architecture":"{arch}"}}"#).as_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "config": config,
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", "1".repeat(64)),
            "size": layer_size,
        }],
    });
    blob(
        dir,
        MEDIA_TYPE_OCI_MANIFEST,
        manifest.to_string().as_bytes(),
    )
}

fn write_index_json(dir: &Path, entries: &[Descriptor]) {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": entries,
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// What BuildKit's OCI exporter writes for two platforms with an
/// attestation: index.json → index (tagged `v1`) → two images and an
/// attestation manifest for the first.
fn multi_platform(dir: &Path) -> (Descriptor, Vec<Descriptor>) {
    let mut amd64 = image(dir, "amd64", 1000);
    amd64.platform =
        Some(serde_json::from_str(r#"{"os":"linux","architecture":"amd64"}"#).unwrap());
    let mut arm = image(dir, "arm", 2000);
    arm.platform = Some(
        serde_json::from_str(r#"{"os":"linux","architecture":"arm","variant":"v7"}"#).unwrap(),
    );
    let mut attestation = image(dir, "unknown", 300);
    attestation.platform =
        Some(serde_json::from_str(r#"{"os":"unknown","architecture":"unknown"}"#).unwrap());
    attestation.annotations.insert(
        ANNOTATION_REFERENCE_TYPE.to_string(),
        "attestation-manifest".to_string(),
    );
    attestation.annotations.insert(
        ANNOTATION_REFERENCE_DIGEST.to_string(),
        amd64.digest.clone(),
    );
    let children = vec![amd64, arm, attestation];
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": children,
    });
    let mut top = blob(dir, MEDIA_TYPE_OCI_INDEX, index.to_string().as_bytes());
    top.annotations.insert(
        crate::image::layout::ANNOTATION_REF_NAME.to_string(),
        "v1".to_string(),
    );
    write_index_json(dir, std::slice::from_ref(&top));
    (top, children)
}

fn inspect(arg: &str) -> Result<ImageSummary, LayoutError> {
    inspect_layout(
        &LayoutRef::parse(arg).expect("an oci-layout:// argument"),
        arg,
    )
}

#[test]
fn references_parse_like_build_contexts() {
    assert_eq!(LayoutRef::parse("localhost:5000/app"), None);
    let r = LayoutRef::parse("oci-layout://./out:v1").unwrap();
    assert_eq!(
        (r.path.to_str(), r.tag.as_deref()),
        (Some("./out"), Some("v1"))
    );
    let r = LayoutRef::parse("oci-layout:///tmp/a:b/out").unwrap();
    assert_eq!((r.path.to_str(), r.tag), (Some("/tmp/a:b/out"), None));
    let digest = format!("sha256:{}", "a".repeat(64));
    let r = LayoutRef::parse(&format!("oci-layout://out.tar:v2@{digest}")).unwrap();
    assert_eq!(r.path.to_str(), Some("out.tar"));
    assert_eq!(r.tag.as_deref(), Some("v2"));
    assert_eq!(r.digest, Some(digest));
}

#[test]
fn a_multi_platform_layout_lists_platforms_and_attestations() {
    let dir = tempfile::tempdir().unwrap();
    let (top, children) = multi_platform(dir.path());
    let arg = format!("oci-layout://{}", dir.path().display());
    for arg in [
        arg.clone(),
        format!("{arg}:v1"),
        format!("{arg}@{}", top.digest),
    ] {
        let summary = inspect(&arg).unwrap();
        assert_eq!(summary.name, arg);
        assert_eq!(summary.digest, top.digest);
        assert_eq!(summary.media_type, MEDIA_TYPE_OCI_INDEX);
        let platforms: Vec<_> = summary
            .platforms
            .iter()
            .map(|p| p.platform.as_str())
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm/v7"]);
        assert_eq!(summary.platforms[1].digest, children[1].digest);
        assert_eq!(summary.platforms[1].manifest_size, children[1].size);
        // The config (about 40 bytes) and the 2000-byte layer.
        let size = summary.platforms[1].size;
        assert!((2000..2100).contains(&size), "{size}");
        assert_eq!(summary.attestations.len(), 1);
        assert_eq!(
            summary.attestations[0].attests.as_deref(),
            Some(children[0].digest.as_str())
        );
    }
}

#[test]
fn a_single_manifest_layout_takes_its_platform_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = image(dir.path(), "arm64", 10);
    write_index_json(dir.path(), std::slice::from_ref(&manifest));
    let summary = inspect(&format!("oci-layout://{}", dir.path().display())).unwrap();
    assert_eq!(summary.digest, manifest.digest);
    assert_eq!(summary.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_eq!(summary.platforms.len(), 1);
    assert_eq!(summary.platforms[0].platform, "linux/arm64");
    assert!(summary.attestations.is_empty());
}

#[test]
fn a_tar_of_the_layout_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    multi_platform(&layout);
    let archive = dir.path().join("layout.tar");
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(status.success());
    let from_dir = inspect(&format!("oci-layout://{}:v1", layout.display())).unwrap();
    let from_tar = inspect(&format!("oci-layout://{}:v1", archive.display())).unwrap();
    assert_eq!(from_dir.platforms, from_tar.platforms);
    assert_eq!(from_dir.attestations, from_tar.attestations);
    assert_eq!(from_dir.digest, from_tar.digest);
}

#[test]
fn bad_layouts_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("oci-layout://{}", dir.path().display());
    let message = |arg: &str| inspect(arg).unwrap_err().to_string();

    assert!(message(&format!("{base}/nope")).ends_with("/nope does not exist"));
    assert_eq!(
        message("oci-layout://"),
        "oci-layout:// needs a path: oci-layout://PATH[:TAG]"
    );
    assert!(
        message(&base).contains("is not an OCI layout: cannot read index.json"),
        "{}",
        message(&base)
    );
    std::fs::write(
        dir.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    assert!(
        message(&base).contains("has no oci-layout file"),
        "{}",
        message(&base)
    );

    multi_platform(dir.path());
    assert!(message(&format!("{base}:v9")).contains("has no image tagged \"v9\""));
    let unknown = format!("sha256:{}", "e".repeat(64));
    assert!(message(&format!("{base}@{unknown}")).contains("is not in"));

    // A blob whose bytes are not its digest's.
    let (top, _) = multi_platform(dir.path());
    let path = dir
        .path()
        .join("blobs/sha256")
        .join(&top.digest["sha256:".len()..]);
    std::fs::write(&path, b"{}").unwrap();
    assert!(
        message(&base).contains("does not match its digest"),
        "{}",
        message(&base)
    );

    let not_tar = dir.path().join("x.tar");
    std::fs::write(&not_tar, vec![b'x'; 600]).unwrap();
    let text = message(&format!("oci-layout://{}", not_tar.display()));
    assert!(
        text.contains("neither a directory nor a readable tar archive"),
        "{text}"
    );
}
