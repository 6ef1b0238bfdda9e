//! End-to-end tests: our sender talks to our receiver through in-process
//! channels, and the copied tree must equal the source (or its filtered
//! subset) in kinds, permissions, contents, link targets, hard links and
//! mtimes.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::*;

/// What we compare per entry.
#[derive(Debug, PartialEq)]
enum Entry {
    Dir {
        perm: u32,
        mtime: i64,
    },
    File {
        perm: u32,
        mtime: i64,
        content: Vec<u8>,
    },
    Link {
        target: String,
        mtime: i64,
    },
}

fn mtime(meta: &fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// Reads a tree without following symlinks.
fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    fn visit(root: &Path, rel: &str, out: &mut BTreeMap<String, Entry>) {
        let dir = root.join(rel);
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let name = entry.file_name().into_string().expect("utf8 name");
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = root.join(&child);
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let perm = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).expect("readlink");
                let target = target.to_str().expect("utf8 target").to_string();
                out.insert(
                    child,
                    Entry::Link {
                        target,
                        mtime: mtime(&meta),
                    },
                );
            } else if meta.is_dir() {
                out.insert(
                    child.clone(),
                    Entry::Dir {
                        perm,
                        mtime: mtime(&meta),
                    },
                );
                visit(root, &child, out);
            } else {
                let content = fs::read(&path).expect("read");
                out.insert(
                    child,
                    Entry::File {
                        perm,
                        mtime: mtime(&meta),
                        content,
                    },
                );
            }
        }
    }
    visit(root, "", &mut out);
    out
}

/// Runs sender and receiver against each other.
async fn transfer(
    src: &Path,
    opts: &FilterOptions,
    dest: &Path,
) -> (Result<(), FileSyncError>, Result<(), FileSyncError>) {
    let (to_receiver, from_sender) = mpsc::channel::<Result<Packet, Infallible>>(16);
    let (to_sender, from_receiver) = mpsc::channel::<Result<Packet, Infallible>>(16);
    tokio::join!(
        send(src, opts, ReceiverStream::new(from_receiver), to_receiver),
        receive(dest, ReceiverStream::new(from_sender), to_sender),
    )
}

fn write(path: &Path, content: &[u8], perm: u32) {
    fs::write(path, content).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(perm)).expect("chmod");
}

/// The tree from the brief: nested and empty dirs, symlinks in and out, a
/// hard link, special permissions, a large file, many small files and
/// names that sort differently by component than by string.
fn build_tree(root: &Path) {
    let mkdir = |p: &str| fs::create_dir_all(root.join(p)).expect("mkdir");
    mkdir("dir/nested/deep");
    mkdir("dir/other");
    mkdir("empty");
    mkdir("a/b");
    mkdir("many");
    write(&root.join("dir/nested/deep/file.txt"), b"deep", 0o644);
    write(&root.join("dir/nested/deep/keep.txt"), b"keep me", 0o644);
    write(&root.join("dir/other/x.txt"), b"x", 0o644);
    write(&root.join("a/b/c"), b"c", 0o644);
    write(&root.join("a-c"), b"a-c", 0o644);
    write(&root.join("a.b"), b"a.b", 0o644);
    write(&root.join("a b"), b"space", 0o644);
    write(&root.join("new\nline"), b"nl", 0o644);
    write(&root.join("日本語"), b"unicode", 0o644);
    write(&root.join("é"), b"e acute", 0o644);
    write(&root.join("exec.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&root.join("secret"), b"s3cret", 0o600);
    write(&root.join("hard1"), b"linked content", 0o640);
    fs::hard_link(root.join("hard1"), root.join("hard2")).expect("hard link");
    symlink("dir/nested", root.join("link_in")).expect("symlink");
    symlink("/etc/passwd", root.join("link_out")).expect("symlink");
    symlink("../../outside", root.join("dir/link_up")).expect("symlink");
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&root.join("big.bin"), &big, 0o644);
    for i in 0..2000 {
        write(
            &root.join(format!("many/f{i:04}")),
            format!("file {i}").as_bytes(),
            0o644,
        );
    }
    mkdir("ro");
    write(&root.join("ro/inside"), b"ro", 0o444);
    fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o555)).expect("chmod");
}

/// Lets TempDir clean up directories we made read-only.
fn make_writable(root: &Path) {
    let _ = fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o755));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_tree_round_trip() {
    let src = tempfile::tempdir().expect("tempdir");
    let dest = tempfile::tempdir().expect("tempdir");
    build_tree(src.path());
    let (sent, received) = transfer(src.path(), &FilterOptions::default(), dest.path()).await;
    sent.expect("send");
    received.expect("receive");
    let (want, got) = (snapshot(src.path()), snapshot(dest.path()));
    make_writable(src.path());
    make_writable(dest.path());
    assert_eq!(want.len(), got.len());
    for (path, entry) in &want {
        assert_eq!(Some(entry), got.get(path), "{path:?}");
    }
    let (h1, h2) = (
        fs::metadata(dest.path().join("hard1")).expect("hard1"),
        fs::metadata(dest.path().join("hard2")).expect("hard2"),
    );
    assert_eq!(h1.ino(), h2.ino(), "hard link preserved");
    assert!(
        matches!(got.get("link_out"), Some(Entry::Link { target, .. }) if target == "/etc/passwd")
    );
}

#[tokio::test]
async fn filtered_round_trip() {
    let src = tempfile::tempdir().expect("tempdir");
    let dest = tempfile::tempdir().expect("tempdir");
    build_tree(src.path());
    let opts = FilterOptions {
        exclude_patterns: vec![
            "many".into(),
            "*.bin".into(),
            "dir".into(),
            "!dir/nested/deep/keep.txt".into(),
        ],
        ..FilterOptions::default()
    };
    let (sent, received) = transfer(src.path(), &opts, dest.path()).await;
    make_writable(src.path());
    sent.expect("send");
    received.expect("receive");
    let got = snapshot(dest.path());
    make_writable(dest.path());
    for absent in [
        "many",
        "big.bin",
        "dir/other",
        "dir/nested/deep/file.txt",
        "dir/link_up",
    ] {
        assert!(!got.contains_key(absent), "{absent} should be excluded");
    }
    for present in [
        "dir",
        "dir/nested/deep",
        "dir/nested/deep/keep.txt",
        "exec.sh",
        "link_in",
    ] {
        assert!(got.contains_key(present), "{present} should be sent");
    }
}

/// Paths the walker emits for given options.
fn walked(root: &Path, opts: &FilterOptions) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, opts, |stat| {
        out.push(stat.path);
        Ok(())
    })
    .expect("walk");
    out
}

#[test]
fn include_exclude_and_follow_paths_select_like_fsutil() {
    let src = tempfile::tempdir().expect("tempdir");
    build_tree(src.path());
    let root = src.path();

    let only = |include: &[&str]| FilterOptions {
        include_patterns: include.iter().map(|s| s.to_string()).collect(),
        ..FilterOptions::default()
    };
    assert_eq!(
        walked(root, &only(&["dir/nested", "exec.sh"])),
        [
            "dir",
            "dir/nested",
            "dir/nested/deep",
            "dir/nested/deep/file.txt",
            "dir/nested/deep/keep.txt",
            "exec.sh"
        ]
    );
    assert_eq!(
        walked(root, &only(&["**/keep.txt"])),
        [
            "dir",
            "dir/nested",
            "dir/nested/deep",
            "dir/nested/deep/keep.txt"
        ]
    );

    // A wildcard exception forces walking into the excluded directory.
    let opts = FilterOptions {
        exclude_patterns: vec!["many".into(), "!many/f00[0-1]2".into()],
        ..FilterOptions::default()
    };
    let paths = walked(root, &opts);
    assert!(paths.iter().any(|p| p == "many/f0002") && paths.iter().any(|p| p == "many/f0012"));
    assert_eq!(paths.iter().filter(|p| p.starts_with("many")).count(), 3);

    // Follow paths pull in symlink targets inside the context only.
    let follow = FilterOptions {
        follow_paths: vec!["link_in".into(), "link_out".into(), "dir/link_up".into()],
        ..FilterOptions::default()
    };
    assert_eq!(
        walked(root, &follow),
        [
            "dir",
            "dir/link_up",
            "dir/nested",
            "dir/nested/deep",
            "dir/nested/deep/file.txt",
            "dir/nested/deep/keep.txt",
            "link_in",
            "link_out",
        ]
    );
    let wildcard = FilterOptions {
        follow_paths: vec!["link_*".into()],
        ..FilterOptions::default()
    };
    assert_eq!(
        walked(root, &wildcard),
        walked(
            root,
            &FilterOptions {
                follow_paths: vec!["link_in".into(), "link_out".into()],
                ..FilterOptions::default()
            }
        )
    );
    make_writable(root);
}

#[test]
fn stats_carry_go_modes_links_and_zero_owners() {
    let src = tempfile::tempdir().expect("tempdir");
    build_tree(src.path());
    let mut stats = BTreeMap::new();
    walk(src.path(), &FilterOptions::default(), |stat| {
        stats.insert(stat.path.clone(), stat);
        Ok(())
    })
    .expect("walk");
    make_writable(src.path());
    let get = |p: &str| stats.get(p).unwrap_or_else(|| panic!("{p} missing"));
    assert_eq!(get("dir").mode, mode::DIR | 0o755);
    assert_eq!(get("exec.sh").mode, 0o755);
    assert_eq!(get("secret").mode, 0o600);
    assert_eq!(get("link_out").mode & mode::SYMLINK, mode::SYMLINK);
    assert_eq!(get("link_out").linkname, "/etc/passwd");
    assert_eq!(get("link_out").size, "/etc/passwd".len() as i64);
    assert_eq!(get("hard1").linkname, "");
    assert_eq!(get("hard2").linkname, "hard1");
    assert_eq!(
        get("hard2").size,
        14,
        "fsutil keeps the real size of hard links"
    );
    assert_eq!(get("big.bin").size, 3_000_000);
    assert!(stats.values().all(|s| s.uid == 0 && s.gid == 0));
}

/// A name that is not UTF-8 fails the walk only when it would be sent: the
/// error names it, and excluding it (or not including it) lets the rest go.
#[test]
fn non_utf8_names_fail_only_when_sent() {
    use std::os::unix::ffi::OsStrExt;
    let src = tempfile::tempdir().expect("tempdir");
    let root = src.path();
    write(&root.join("Dockerfile"), b"FROM scratch\n", 0o644);
    let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
    write(&root.join(bad), b"x", 0o644);
    fs::create_dir(root.join("dir")).expect("mkdir");
    write(&root.join("dir").join(bad), b"x", 0o644);

    let err = walk(root, &FilterOptions::default(), |_| Ok(())).expect_err("non-UTF-8");
    assert!(
        matches!(&err, FileSyncError::NonUtf8Path(p) if p.as_os_str().as_bytes().ends_with(b"bad\xffname")),
        "{err}"
    );
    assert!(err.to_string().contains(r"bad\xFFname"), "{err}");

    let only_dockerfile = FilterOptions {
        include_patterns: vec!["Dockerfile".into()],
        ..Default::default()
    };
    assert_eq!(walked(root, &only_dockerfile), ["Dockerfile"]);
    let ignored = FilterOptions {
        exclude_patterns: vec!["**/bad*".into()],
        ..Default::default()
    };
    assert_eq!(walked(root, &ignored), ["Dockerfile", "dir"]);
}
