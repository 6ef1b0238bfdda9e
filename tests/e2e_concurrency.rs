//! Four builds of four different contexts at once against the one daemon,
//! each exporting to its own directory: all succeed, and every output holds
//! exactly its own context's files.

mod common;

use std::time::Instant;

use common::tree::{assert_same_tree, snapshot, write_file};

#[tokio::test]
async fn four_builds_at_once_keep_their_outputs_apart() {
    if common::daemon_or_skip("four_builds_at_once_keep_their_outputs_apart")
        .await
        .is_none()
    {
        return;
    }
    let start = Instant::now();
    let builds: Vec<_> = (0..4)
        .map(|n| {
            std::thread::spawn(move || {
                let context = tempfile::tempdir().unwrap();
                // Different file names, counts and contents per build, and
                // a RUN step so the builds overlap on the daemon.
                for i in 0..(50 + n * 25) {
                    write_file(
                        context.path(),
                        &format!("files-{n}/f{i}.txt"),
                        format!("build {n} file {i}\n").as_bytes(),
                        0o644,
                    );
                }
                write_file(
                    context.path(),
                    "Dockerfile",
                    format!(
                        "FROM localhost:5000/busybox AS work\nRUN sleep 1 && echo {n}-$$ > /id\n\
                         FROM scratch\nCOPY --from=work /id /id\nCOPY files-{n} /files-{n}\n"
                    )
                    .as_bytes(),
                    0o644,
                );
                let out = tempfile::tempdir().unwrap();
                let dest = format!("type=local,dest={}", out.path().display());
                let output = common::crossbuild(
                    context.path(),
                    &[
                        "build",
                        "--progress",
                        "quiet",
                        "--no-cache",
                        "-o",
                        &dest,
                        ".",
                    ],
                );
                (n, context, out, output)
            })
        })
        .collect();
    for build in builds {
        let (n, context, out, output) = build.join().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "build {n}: {log}");
        let id = std::fs::read_to_string(out.path().join("id")).unwrap();
        assert!(id.starts_with(&format!("{n}-")), "build {n} got {id}");
        let dir = format!("files-{n}");
        assert_same_tree(
            &snapshot(&context.path().join(&dir)),
            &snapshot(&out.path().join(&dir)),
        );
        let names: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "build {n} exported {names:?}");
    }
    eprintln!("four concurrent builds: {:?}", start.elapsed());
}
