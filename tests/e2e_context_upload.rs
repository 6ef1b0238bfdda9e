//! Context upload and local export against the real daemon: a tree goes up
//! through FileSync, comes back through the local exporter (FileSend), and
//! must be the same tree — modes, contents, symlinks (never followed).

mod common;

use std::os::unix::fs::MetadataExt;

use common::tree::{assert_same_tree, snapshot, write_file};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_round_trips_through_the_daemon() {
    let Some(daemon) = common::daemon_or_skip("context_round_trips_through_the_daemon").await
    else {
        return;
    };
    let context = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = context.path();
    write_file(outside.path(), "secret.txt", b"must not be uploaded", 0o644);
    write_file(root, "a/b/c/deep.txt", b"deep", 0o644);
    std::fs::create_dir_all(root.join("empty/nested-empty")).unwrap();
    write_file(root, "bin/run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    write_file(root, "private.key", b"0600 file", 0o600);
    std::os::unix::fs::symlink("a/b/c/deep.txt", root.join("inside-link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("outside-link"))
        .unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", root.join("a/escaping-link")).unwrap();
    write_file(root, "hard/original.txt", b"linked twice", 0o644);
    std::fs::hard_link(root.join("hard/original.txt"), root.join("hard/link.txt")).unwrap();
    // A 200 MB file with content that is not all zeros, and 10,000 small files.
    let big: Vec<u8> = (0..200u32 * 1024 * 1024 / 4)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    write_file(root, "big.bin", &big, 0o644);
    drop(big);
    for i in 0..10_000 {
        write_file(
            root,
            &format!("many/{:02}/file-{i}.txt", i % 100),
            format!("file {i}\n").as_bytes(),
            0o644,
        );
    }

    let export = common::round_trip_context(&daemon, root, "e2e-context-upload").await;

    let expected = snapshot(root);
    let actual = snapshot(export.path());
    assert_same_tree(&expected, &actual);
    // The symlink to a file outside the context came back as a symlink.
    assert!(
        std::fs::symlink_metadata(export.path().join("outside-link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // The hard link survived as a hard link.
    let original = std::fs::metadata(export.path().join("hard/original.txt")).unwrap();
    let link = std::fs::metadata(export.path().join("hard/link.txt")).unwrap();
    assert_eq!(original.ino(), link.ino(), "hard link was not kept");
}
