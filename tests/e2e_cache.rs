//! Cache export and import: a build's cache goes to the registry, the
//! daemon forgets the steps, and a second build from the exported cache
//! finds every step cached.

mod common;

use common::tree::write_file;

#[tokio::test]
async fn exported_cache_makes_a_forgotten_build_cached_again() {
    if common::daemon_or_skip("exported_cache_makes_a_forgotten_build_cached_again")
        .await
        .is_none()
    {
        return;
    }
    // A token no other build uses, so the steps below are this test's own.
    let token = format!("cache-test-{}-{}", std::process::id(), rand_suffix());
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\n\
             RUN echo {token} > /step1\n\
             RUN cat /step1 /step1 > /step2\n"
        )
        .as_bytes(),
        0o644,
    );
    let cache_ref = format!("localhost:5000/crossbuild-e2e/cache:{token}");
    let cache_to = format!("type=registry,ref={cache_ref},mode=max");
    let first = common::crossbuild(
        &context,
        &["build", "--progress", "plain", "--cache-to", &cache_to, "."],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let exported = common::registry_manifest("crossbuild-e2e/cache", &token);
    assert!(
        exported["layers"].is_array() || exported["manifests"].is_array(),
        "{exported}"
    );

    // Make the daemon forget everything no build uses, this test's steps
    // included. (A record whose descendants are gone may still be held as a
    // parent of shared layers, so pruning by id is not enough; this test is
    // alone in its binary, so nothing else of this run is building now.)
    let own_records = || -> Vec<String> {
        let du = common::crossbuild(&context, &["du", "--format", "json"]);
        let records: serde_json::Value = serde_json::from_slice(&du.stdout).unwrap();
        records
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["description"].as_str().unwrap_or("").contains(&token))
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect()
    };
    assert!(
        !own_records().is_empty(),
        "no cache records of this test's steps"
    );
    let prune = common::crossbuild(&context, &["prune", "--all", "--format", "json"]);
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    assert_eq!(
        own_records(),
        Vec::<String>::new(),
        "the daemon still holds the steps"
    );

    let cache_from = format!("type=registry,ref={cache_ref}");
    let second = common::crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "plain",
            "--cache-from",
            &cache_from,
            ".",
        ],
    );
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{log}");
    for step in [format!("RUN echo {token}"), "RUN cat /step1".to_string()] {
        let number = log
            .lines()
            .find(|l| l.contains(&step))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no step {step:?} in {log}"))
            .to_string();
        assert!(
            log.lines().any(|l| l == format!("{number} CACHED")),
            "{step} was not cached from the import:\n{log}"
        );
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
