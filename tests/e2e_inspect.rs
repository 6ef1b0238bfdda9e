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
