//! Cache export and import: a build's cache goes to the registry or to a
//! local directory, the daemon forgets the steps, and a second build from
//! the exported cache finds every step cached.
//!
//! Each test's steps carry a token no other build uses, and only the cache
//! records naming that token are pruned, so the daemon's cache that other
//! tests and builds rely on is left alone.

mod common;

use std::path::Path;

use common::tree::write_file;

/// A context whose two RUN steps both name `token` (so their cache records
/// can be found and pruned by description).
fn write_token_context(context: &Path, token: &str) {
    write_file(
        context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\n\
             RUN echo {token} > /step1\n\
             RUN cat /step1 /step1 > /step2-{token}\n"
        )
        .as_bytes(),
        0o644,
    );
}

/// The ids of the daemon's cache records whose description names `token`.
fn own_records(context: &Path, token: &str) -> Vec<String> {
    let du = common::crossbuild(context, &["du", "--format", "json"]);
    let records: serde_json::Value = serde_json::from_slice(&du.stdout).unwrap();
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["description"].as_str().unwrap_or("").contains(token))
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

/// Makes the daemon forget this test's steps, and only them.
fn forget_own_steps(context: &Path, token: &str) {
    assert!(
        !own_records(context, token).is_empty(),
        "no cache records of this test's steps"
    );
    let filter = format!("description~={token}");
    // The daemon lets go of a finished build's results in the background,
    // and prune skips records still in use: a record the first prune found
    // busy goes in a later one.
    for _ in 0..10 {
        let prune =
            common::crossbuild(context, &["prune", "--filter", &filter, "--format", "json"]);
        assert!(
            prune.status.success(),
            "{}",
            String::from_utf8_lossy(&prune.stderr)
        );
        if own_records(context, token).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(
        own_records(context, token),
        Vec::<String>::new(),
        "the daemon still holds the steps"
    );
}

/// Checks that both RUN steps of [`write_token_context`] were CACHED.
fn assert_steps_cached(log: &str, token: &str) {
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
    write_token_context(&context, &token);
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

    forget_own_steps(&context, &token);

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
    assert_steps_cached(&log, &token);
}

#[tokio::test]
async fn local_cache_directory_makes_a_forgotten_build_cached_again() {
    if common::daemon_or_skip("local_cache_directory_makes_a_forgotten_build_cached_again")
        .await
        .is_none()
    {
        return;
    }
    let token = format!("local-cache-test-{}-{}", std::process::id(), rand_suffix());
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_token_context(&context, &token);
    let cache = dir.path().join("cache");
    let cache_to = format!("type=local,dest={},mode=max", cache.display());
    let first = common::crossbuild(
        &context,
        &["build", "--progress", "plain", "--cache-to", &cache_to, "."],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // An OCI layout whose index names the cache manifest `latest`, with
    // every blob the manifest lists.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let layers = || -> Vec<String> {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cache.join("index.json")).unwrap()).unwrap();
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{index}");
        let blob = |digest: &str| {
            std::fs::read(
                cache
                    .join("blobs/sha256")
                    .join(digest.trim_start_matches("sha256:")),
            )
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"))
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&blob(entries[0]["digest"].as_str().unwrap())).unwrap();
        let layers: Vec<String> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect();
        for layer in &layers {
            blob(layer);
        }
        layers
    };
    let exported_layers = layers();
    assert!(exported_layers.len() >= 2, "{exported_layers:?}");

    forget_own_steps(&context, &token);
    let cache_from = format!("type=local,src={}", cache.display());
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
    assert_steps_cached(&log, &token);

    // The usual CI line, importing from and exporting to one directory:
    // the daemon reads and writes the same store, the steps are not run
    // again (a re-run would write layers with new timestamps, so new
    // digests) and the index still names one cache.
    let third = common::crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "plain",
            "--cache-from",
            &cache_from,
            "--cache-to",
            &cache_to,
            ".",
        ],
    );
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    assert_eq!(layers(), exported_layers);
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
