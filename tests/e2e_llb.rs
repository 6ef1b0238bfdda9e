//! Hand-built LLB graphs solved by the real daemon: an image source, an exec
//! with a cache mount, file ops, for the host platform and for arm64 (through
//! QEMU), read back through the gateway.

mod common;

use crossbuild::client::gateway::{GatewayBuild, SolveOptions};
use crossbuild::llb::{self, Constrained, Copy, Exec, FileOp, Image, Mkdir, Mkfile, Mount, State};
use crossbuild::platform::Platform;

/// The graph under test: runs `uname -m` with a cache mount that keeps a
/// counter between builds, then adds files with file ops.
fn graph(platform: &Platform) -> State {
    // The image source carries its own platform (as in BuildKit's Go llb);
    // the state's platform is what later ops inherit.
    let base = Image::new("localhost:5000/busybox:latest")
        .unwrap()
        .platform(platform)
        .into_state()
        .platform(platform);
    let ran = base
        .run(
            Exec::shell(
                "uname -m > /arch && echo run >> /cache/runs && wc -l < /cache/runs > /cache-count",
            )
            .mount(Mount::cache("/cache", "crossbuild-e2e-llb")),
        )
        .unwrap()
        .root();
    let notes = State::scratch().file(
        FileOp::new(Mkdir::new("/notes", 0o755).make_parents(true)).then(Mkfile::new(
            "/notes/hello.txt",
            0o600,
            b"hello from file ops\n".to_vec(),
        )),
    );
    ran.file(FileOp::new(
        Copy::new(&notes, "/notes", "/copied").create_dest_path(true),
    ))
}

#[tokio::test]
async fn hand_built_graph_runs_on_amd64_and_emulated_arm64() {
    let Some(daemon) =
        common::daemon_or_skip("hand_built_graph_runs_on_amd64_and_emulated_arm64").await
    else {
        return;
    };
    let build = GatewayBuild::start(&daemon, SolveOptions::default());
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let platform: Platform = platform.parse().unwrap();
        let definition = llb::marshal(&graph(&platform)).unwrap();
        let result = build
            .solve(definition, true)
            .await
            .unwrap_or_else(|e| panic!("{platform}: {e}"))
            .expect("a result");
        let arch = build.read_file(&result, "/arch").await.unwrap();
        assert_eq!(String::from_utf8_lossy(&arch).trim(), machine, "{platform}");
        let copied = build.read_file(&result, "/copied/hello.txt").await.unwrap();
        assert_eq!(copied, b"hello from file ops\n");
        let count = build.read_file(&result, "/cache-count").await.unwrap();
        let count: u32 = String::from_utf8_lossy(&count).trim().parse().unwrap();
        assert!(count >= 1, "the cache mount held no runs");
    }
    build.finish(Ok(Default::default())).await.unwrap();
}

#[tokio::test]
async fn a_build_platform_stage_has_one_digest_for_every_target() {
    // Nothing but marshalling here: the daemon dedupes by digest, so equal
    // digests are what "built once for all targets" means.
    let build_platform: Platform = "linux/amd64".parse().unwrap();
    let tool = |target: &Platform| {
        State::image("localhost:5000/busybox:latest")
            .unwrap()
            .platform(&build_platform)
            .add_env("TARGET", &target.to_string())
            .run(Exec::shell("echo compile > /tool"))
            .unwrap()
            .root()
    };
    let arm64 = llb::marshal(&tool(&"linux/arm64".parse().unwrap())).unwrap();
    let armv7 = llb::marshal(&tool(&"linux/arm/v7".parse().unwrap())).unwrap();
    // The env differs, so these must differ: a sanity check of the test.
    assert_ne!(arm64.def, armv7.def);
    let same = |_: &Platform| {
        State::image("localhost:5000/busybox:latest")
            .unwrap()
            .platform(&build_platform)
            .run(Exec::shell("echo compile > /tool"))
            .unwrap()
            .root()
    };
    let a = llb::marshal(&same(&"linux/arm64".parse().unwrap())).unwrap();
    let b = llb::marshal(&same(&"linux/arm/v7".parse().unwrap())).unwrap();
    assert_eq!(a.def, b.def);
}
