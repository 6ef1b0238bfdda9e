//! The daemon is real: its worker list, read through crossbuild's own
//! connection, shows the host platform and the QEMU-emulated ones.

mod common;

use crossbuild::client::workers::list_workers;

#[tokio::test]
async fn workers_include_amd64_and_emulated_arm64() {
    let Some(daemon) = common::daemon_or_skip("workers_include_amd64_and_emulated_arm64").await
    else {
        return;
    };
    let workers = list_workers(&daemon).await.expect("ListWorkers");
    assert!(!workers.is_empty(), "the daemon reports no worker");
    let platforms: Vec<&str> = workers
        .iter()
        .flat_map(|w| w.platforms.iter().map(String::as_str))
        .collect();
    assert!(platforms.contains(&"linux/amd64"), "{platforms:?}");
    // arm64 is there only through the binfmt handlers scripts/buildkit-env registers.
    assert!(platforms.contains(&"linux/arm64"), "{platforms:?}");
}
