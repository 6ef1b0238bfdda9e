//! Wire-level tests: STAT order as BuildKit's validator sees it, and how
//! each side reacts to a misbehaving peer.

use std::convert::Infallible;
use std::fs;
use std::path::Path;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::validate::OrderValidator;
use super::*;

fn stat_paths(root: &Path) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    walk(root, &FilterOptions::default(), |stat| {
        out.push((stat.path, mode::is_dir(stat.mode)));
        Ok(())
    })
    .expect("walk");
    out
}

#[test]
fn sender_order_passes_the_validator_on_tricky_names() {
    let src = tempfile::tempdir().expect("tempdir");
    let root = src.path();
    for dir in ["a", "a/b", "a b", "a-c", "é", "日本", "x\ny", "z"] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    for file in [
        "a/b/c",
        "a/b-c",
        "a/b.c",
        "a/b c",
        "a.b",
        "a0",
        "a b/f",
        "a-c/f",
        "é/f",
        "日本/語",
        "x\ny/z",
        "with space",
        "new\nline",
        "A",
        "_",
        "~",
    ] {
        fs::write(root.join(file), file).expect("write");
    }
    let paths = stat_paths(root);
    let mut validator = OrderValidator::default();
    for (path, is_dir) in &paths {
        validator.check(path, *is_dir).expect("order");
    }
    // Component order, not string order: `a/b...` precede `a b`.
    let names: Vec<&str> = paths.iter().map(|(p, _)| p.as_str()).collect();
    let pos = |p: &str| names.iter().position(|n| *n == p).unwrap_or(usize::MAX);
    assert!(pos("a") < pos("a/b") && pos("a/b") < pos("a/b/c") && pos("a/b/c") < pos("a/b c"));
    assert!(pos("a/b.c") < pos("a b") && pos("a b") < pos("a-c") && pos("a-c") < pos("a.b"));
    let mut by_components = names.clone();
    by_components.sort_by(|x, y| x.split('/').cmp(y.split('/')));
    assert_eq!(names, by_components);
    assert_eq!(names.len(), 24);
}

type Chan = (
    mpsc::Sender<Result<Packet, Infallible>>,
    mpsc::Receiver<Result<Packet, Infallible>>,
);

fn req(id: u32) -> Result<Packet, Infallible> {
    Ok(Packet {
        id,
        r#type: PacketType::PacketReq as i32,
        ..Packet::default()
    })
}

/// Reads STATs up to the terminator; returns them in order.
async fn read_listing(rx: &mut mpsc::Receiver<Result<Packet, Infallible>>) -> Vec<Stat> {
    let mut stats = Vec::new();
    while let Some(Ok(p)) = rx.recv().await {
        assert_eq!(p.r#type, PacketType::PacketStat as i32);
        match p.stat {
            Some(stat) => stats.push(stat),
            None => return stats,
        }
    }
    panic!("listing not terminated");
}

#[tokio::test]
async fn sender_rejects_requests_for_directories_and_repeats() {
    let src = tempfile::tempdir().expect("tempdir");
    fs::create_dir(src.path().join("d")).expect("mkdir");
    fs::write(src.path().join("d/f"), b"hello").expect("write");
    for bad_second in [false, true] {
        let (to_us, mut from_sender): Chan = mpsc::channel(16);
        let (to_sender, from_us): Chan = mpsc::channel(16);
        let task = tokio::spawn({
            let root = src.path().to_path_buf();
            async move {
                send(
                    &root,
                    &FilterOptions::default(),
                    ReceiverStream::new(from_us),
                    to_us,
                )
                .await
            }
        });
        let stats = read_listing(&mut from_sender).await;
        assert_eq!(
            stats.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
            ["d", "d/f"]
        );
        if bad_second {
            to_sender.send(req(1)).await.expect("req");
            let mut data = Vec::new();
            while let Some(Ok(p)) = from_sender.recv().await {
                if p.data.is_empty() {
                    break;
                }
                data.extend(p.data);
            }
            assert_eq!(data, b"hello");
            to_sender.send(req(1)).await.expect("req");
        } else {
            to_sender.send(req(0)).await.expect("req");
        }
        let err = task.await.expect("join").expect_err("must fail");
        assert!(
            matches!(err, FileSyncError::Protocol(ref m) if m.contains("invalid file id")),
            "{err}"
        );
        let last = from_sender.recv().await.expect("err packet").expect("ok");
        assert_eq!(last.r#type, PacketType::PacketErr as i32);
    }
}

#[tokio::test]
async fn sender_reports_receiver_errors_and_answers_fin() {
    let src = tempfile::tempdir().expect("tempdir");
    for (reply, want_ok) in [
        (PacketType::PacketFin, true),
        (PacketType::PacketErr, false),
    ] {
        let (to_us, mut from_sender): Chan = mpsc::channel(16);
        let (to_sender, from_us): Chan = mpsc::channel(16);
        let task = tokio::spawn({
            let root = src.path().to_path_buf();
            async move {
                send(
                    &root,
                    &FilterOptions::default(),
                    ReceiverStream::new(from_us),
                    to_us,
                )
                .await
            }
        });
        assert!(read_listing(&mut from_sender).await.is_empty());
        let p = Packet {
            r#type: reply as i32,
            data: b"boom".to_vec(),
            ..Packet::default()
        };
        to_sender.send(Ok(p)).await.expect("send");
        let result = task.await.expect("join");
        assert_eq!(result.is_ok(), want_ok, "{result:?}");
        if want_ok {
            let fin = from_sender.recv().await.expect("fin").expect("ok");
            assert_eq!(fin.r#type, PacketType::PacketFin as i32);
        } else {
            assert!(result
                .expect_err("err")
                .to_string()
                .contains("error from receiver: boom"));
        }
    }
}

#[tokio::test]
async fn sender_names_unreadable_directories() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: root can read any directory");
        return;
    }
    let src = tempfile::tempdir().expect("tempdir");
    let locked = src.path().join("locked");
    fs::create_dir(&locked).expect("mkdir");
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .expect("chmod");
    let result = walk(src.path(), &FilterOptions::default(), |_| Ok(()));
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let err = result.expect_err("unreadable");
    assert!(err.to_string().contains("locked"), "{err}");
}

/// Feeds a hand-written packet sequence to the receiver.
async fn receive_packets(dest: &Path, packets: Vec<Packet>) -> Result<(), FileSyncError> {
    let (to_receiver, from_us): Chan = mpsc::channel(64);
    let (to_us, mut from_receiver): Chan = mpsc::channel(64);
    for p in packets {
        to_receiver.send(Ok(p)).await.expect("queue");
    }
    let drain = tokio::spawn(async move { while from_receiver.recv().await.is_some() {} });
    drop(to_receiver);
    let result = receive(dest, ReceiverStream::new(from_us), to_us).await;
    drain.await.expect("drain");
    result
}

fn stat(path: &str, mode: u32, linkname: &str) -> Packet {
    Packet {
        r#type: PacketType::PacketStat as i32,
        stat: Some(Stat {
            path: path.into(),
            mode,
            linkname: linkname.into(),
            ..Stat::default()
        }),
        ..Packet::default()
    }
}

#[tokio::test]
async fn receiver_never_writes_outside_the_destination() {
    let outside = tempfile::tempdir().expect("tempdir");
    let dest = tempfile::tempdir().expect("tempdir");
    for bad in ["../escape", "/abs", "a/../../escape", "./x"] {
        let err = receive_packets(dest.path(), vec![stat(bad, 0o644, "")])
            .await
            .expect_err(bad);
        assert!(matches!(err, FileSyncError::UnsafePath(_)), "{bad}: {err}");
    }
    // A child of a symlink is refused: the parent must arrive as a directory.
    let link_target = outside.path().to_str().expect("utf8").to_string();
    let err = receive_packets(
        dest.path(),
        vec![
            stat("l", mode::SYMLINK | 0o777, &link_target),
            stat("l/owned", mode::DIR | 0o755, ""),
        ],
    )
    .await
    .expect_err("through symlink");
    assert!(err.to_string().contains("out of order"), "{err}");
    // A pre-existing symlink in the destination is replaced, not followed.
    let dest2 = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(outside.path(), dest2.path().join("evil")).expect("symlink");
    let result = receive_packets(
        dest2.path(),
        vec![
            stat("evil", mode::DIR | 0o755, ""),
            stat("evil/sub", mode::DIR | 0o755, ""),
        ],
    )
    .await;
    assert!(result.is_err(), "no FIN from the sender in this script");
    assert!(fs::symlink_metadata(dest2.path().join("evil"))
        .expect("evil")
        .is_dir());
    assert_eq!(
        fs::read_dir(outside.path()).expect("outside").count(),
        0,
        "nothing written outside"
    );
    // Hard links must name a file sent earlier.
    let err = receive_packets(dest.path(), vec![stat("h", 0o644, "missing")])
        .await
        .expect_err("link");
    assert!(err.to_string().contains("unknown path"), "{err}");
}
