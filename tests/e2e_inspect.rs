//! `crossbuild inspect` end to end: an image crossbuild pushed for two
//! platforms, read back from the local registry.

mod common;

use common::tree::write_file;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn inspect_shows_each_pushed_platform() {
    if common::daemon_or_skip("inspect_shows_each_pushed_platform")
        .await
        .is_none()
    {
        return;
    }
    let context = tempfile::tempdir().unwrap();
    write_file(
        context.path(),
        "Dockerfile",
        b"FROM localhost:5000/busybox:latest\nCOPY hello.txt /hello.txt\n",
        0o644,
    );
    write_file(context.path(), "hello.txt", b"hello\n", 0o644);
    let image = "localhost:5000/crossbuild-e2e/inspect:1";
    let metadata = context.path().join("metadata.json");
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm/v7",
            "-t",
            image,
            "--push",
            "--metadata-file",
            metadata.to_str().unwrap(),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();

    let output = common::crossbuild(context.path(), &["inspect", "--format", "json", image]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        summary["digest"], metadata["containerimage.digest"],
        "{summary}"
    );
    assert_eq!(
        summary["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    // Each entry agrees with the registry's own index.
    let index = common::registry_manifest("crossbuild-e2e/inspect", "1");
    let platforms = summary["platforms"].as_array().expect("platforms");
    let ids: Vec<&str> = platforms
        .iter()
        .filter_map(|p| p["platform"].as_str())
        .collect();
    assert_eq!(ids, ["linux/amd64", "linux/arm/v7"], "{summary}");
    for entry in platforms {
        let listed = index["manifests"]
            .as_array()
            .expect("index")
            .iter()
            .find(|m| m["digest"] == entry["digest"])
            .unwrap_or_else(|| panic!("{entry} not in {index}"));
        assert_eq!(listed["size"], entry["manifest_size"]);
        // busybox plus one small layer: about a megabyte.
        let size = entry["size"].as_i64().unwrap_or_default();
        assert!((500_000..5_000_000).contains(&size), "{entry}");
    }
    assert_eq!(summary["attestations"], serde_json::json!([]));

    let table = common::crossbuild(context.path(), &["inspect", image]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("linux/arm/v7"), "{text}");
    assert!(
        text.contains(platforms[0]["digest"].as_str().unwrap_or("?")),
        "{text}"
    );
}

#[tokio::test]
async fn inspect_of_a_missing_image_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        dir.path(),
        &["inspect", "localhost:5000/crossbuild-e2e/never-pushed:1"],
    );
    if stderr(&output).contains("cannot connect") && !common::in_ci() {
        eprintln!("SKIPPED inspect_of_a_missing_image_says_so: no registry on localhost:5000");
        return;
    }
    assert!(!output.status.success());
    // The registry's own reason follows in parentheses.
    let log = stderr(&output);
    assert!(
        log.starts_with(
            "error: image localhost:5000/crossbuild-e2e/never-pushed:1 not found in the registry ("
        ),
        "{log}"
    );
}

/// Reads a JSON blob of the layout in `dir` by digest.
fn layout_blob(dir: &std::path::Path, digest: &str) -> serde_json::Value {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

#[tokio::test]
async fn inspect_reads_oci_layouts_written_by_builds() {
    let test = "inspect_reads_oci_layouts_written_by_builds";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let context = tempfile::tempdir().unwrap();
    write_file(
        context.path(),
        "Dockerfile",
        b"FROM localhost:5000/busybox:latest\nRUN echo layout > /layout.txt\n",
        0o644,
    );
    // Two platforms with provenance: index.json -> index -> two images and
    // two attestation manifests, as BuildKit's OCI exporter writes them.
    let layout = context.path().join("layout");
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "--provenance",
            "min",
            "-o",
            &format!("type=oci,tar=false,dest={}", layout.display()),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let top = &top["manifests"][0];
    let index = layout_blob(&layout, top["digest"].as_str().unwrap());
    let arg = format!("oci-layout://{}", layout.display());

    let output = common::crossbuild(context.path(), &["inspect", "--format", "json", &arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["name"], arg.as_str());
    assert_eq!(summary["digest"], top["digest"], "{summary}");
    assert_eq!(summary["media_type"], top["mediaType"]);
    let platforms = summary["platforms"].as_array().expect("platforms");
    let ids: Vec<&str> = platforms
        .iter()
        .filter_map(|p| p["platform"].as_str())
        .collect();
    assert_eq!(ids, ["linux/amd64", "linux/arm64"], "{summary}");
    let entries = index["manifests"].as_array().expect("index entries");
    let images: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"].is_null())
        .collect();
    assert_eq!(images.len(), 2, "{index}");
    for (entry, listed) in platforms.iter().zip(&images) {
        assert_eq!(entry["digest"], listed["digest"]);
        assert_eq!(entry["manifest_size"], listed["size"]);
        let size = entry["size"].as_i64().unwrap_or_default();
        assert!((500_000..5_000_000).contains(&size), "{entry}");
    }
    // One provenance attestation per platform, each naming its image.
    let attestations = summary["attestations"].as_array().expect("attestations");
    assert_eq!(attestations.len(), 2, "{summary}");
    for (attestation, image) in attestations.iter().zip(&images) {
        assert_eq!(attestation["attests"], image["digest"], "{summary}");
    }

    let table = common::crossbuild(context.path(), &["inspect", &format!("{arg}:latest")]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    for image in &images {
        assert!(text.contains(image["digest"].as_str().unwrap()), "{text}");
    }
    assert!(text.contains("ATTESTATION"), "{text}");
    assert!(text.contains("linux/arm64"), "{text}");

    // One platform as a tar: index.json points at the manifest directly.
    let archive = context.path().join("one.tar");
    let metadata = context.path().join("metadata.json");
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/arm64",
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            "--metadata-file",
            metadata.to_str().unwrap(),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = common::crossbuild(
        context.path(),
        &[
            "inspect",
            "--format",
            "json",
            &format!("oci-layout://{}", archive.display()),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let single: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(single["platforms"].as_array().map(Vec::len), Some(1));
    assert_eq!(single["platforms"][0]["platform"], "linux/arm64");
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    assert_eq!(single["digest"], metadata["containerimage.digest"]);
    assert_eq!(single["platforms"][0]["digest"], single["digest"]);
    assert_eq!(
        single["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(single["attestations"], serde_json::json!([]));
}

#[tokio::test]
async fn inspect_of_a_bad_layout_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("oci-layout://{}", dir.path().display());
    let fails = |arg: &str, expected: &str| {
        let output = common::crossbuild(dir.path(), &["inspect", arg]);
        assert!(!output.status.success(), "{arg}");
        let log = stderr(&output);
        assert!(log.starts_with("error: "), "{log}");
        assert!(log.contains(expected), "{arg}: {log}");
        assert_eq!(log.trim_end().lines().count(), 1, "{log}");
        assert!(output.stdout.is_empty());
    };
    fails(&format!("{base}/missing"), "/missing does not exist");
    fails(&base, "is not an OCI layout: cannot read index.json");
    std::fs::write(
        dir.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    fails(&base, "is not an OCI layout: it has no oci-layout file");
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fails(&format!("{base}:v1"), "has no image tagged \"v1\"");
}
