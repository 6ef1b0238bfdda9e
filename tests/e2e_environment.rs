//! The test environment is what the tests rely on: a six-platform busybox
//! in the local registry, and foreign binaries running through QEMU.

mod common;

#[tokio::test]
async fn busybox_index_has_six_platforms() {
    if common::daemon_or_skip("busybox_index_has_six_platforms")
        .await
        .is_none()
    {
        return;
    }
    let index = common::registry_manifest("busybox", "latest");
    let mut platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut id = format!(
                "{}/{}",
                p["os"].as_str().unwrap_or(""),
                p["architecture"].as_str().unwrap_or("")
            );
            if let Some(variant) = p["variant"].as_str() {
                id = format!("{id}/{variant}");
            }
            id
        })
        .collect();
    platforms.sort();
    assert_eq!(
        platforms,
        [
            "linux/amd64",
            "linux/arm/v7",
            "linux/arm64",
            "linux/ppc64le",
            "linux/riscv64",
            "linux/s390x"
        ]
    );
}

#[tokio::test]
async fn arm64_busybox_runs_through_qemu() {
    if common::daemon_or_skip("arm64_busybox_runs_through_qemu")
        .await
        .is_none()
    {
        return;
    }
    let output = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            "localhost:5000/busybox:latest",
            "uname",
            "-m",
        ])
        .output()
        .expect("run docker");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "aarch64");
}
