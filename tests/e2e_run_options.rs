//! buildx's RUN options (`--network`, `--add-host`, `--shm-size`, `--ulimit`, and the
//! `BUILDKIT_SANDBOX_HOSTNAME` build arg for the hostname) against the real
//! daemon: what a RUN sees in every stage, equal to what BuildKit's own
//! Dockerfile frontend gives it, through the direct client and through the
//! `# syntax=` frontend image; and one clear error for a bad value.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::tree::{assert_same_tree, snapshot, write_file};

/// Two stages, so that the options are seen to reach a RUN of a stage
/// built on another stage too; each RUN writes what it saw.
const PROBE: &str = "\
FROM localhost:5000/busybox:latest AS probe
RUN mkdir /out && cat /etc/hosts > /out/hosts && hostname > /out/hostname \\
 && ulimit -Sn > /out/nofile-soft && ulimit -Hn > /out/nofile-hard \\
 && df -k /dev/shm | tail -n 1 | awk '{print $2}' > /out/shm-kb
FROM probe AS again
RUN mkdir /out2 && cat /etc/hosts > /out2/hosts && hostname > /out2/hostname \\
 && ulimit -Sn > /out2/nofile-soft && ulimit -Hn > /out2/nofile-hard \\
 && df -k /dev/shm | tail -n 1 | awk '{print $2}' > /out2/shm-kb
FROM scratch
COPY --from=again /out /first
COPY --from=again /out2 /second
";

/// The flags under test, as a buildx user writes them.
const RUN_FLAGS: [&str; 10] = [
    "--add-host",
    "myhost=10.1.2.3",
    "--add-host",
    "v6:[2001:db8::1]",
    "--shm-size",
    "128m",
    "--ulimit",
    "nofile=1024:2048",
    "--build-arg",
    "BUILDKIT_SANDBOX_HOSTNAME=crossbuild-host",
];

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", dockerfile.as_bytes(), 0o644);
    dir
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Builds `context` with crossbuild and `extra` flags (no cache, so every
/// RUN really runs) into a fresh directory.
fn build(context: &Path, extra: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let mut args = vec!["build", "--progress", "quiet", "--no-cache", "-o", &dest];
    args.extend_from_slice(extra);
    let context = context.to_str().expect("utf-8 path");
    args.push(context);
    let output = common::crossbuild(Path::new("."), &args);
    assert!(output.status.success(), "{args:?}:\n{}", text(&output));
    out
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// What both RUNs saw with [`RUN_FLAGS`].
fn assert_options_seen(out: &Path) {
    for stage in ["first", "second"] {
        let hosts = read(out, &format!("{stage}/hosts"));
        assert!(
            hosts.lines().any(|l| l == "10.1.2.3\tmyhost"),
            "{stage}: {hosts}"
        );
        assert!(
            hosts.lines().any(|l| l == "2001:db8::1\tv6"),
            "{stage}: {hosts}"
        );
        assert_eq!(
            read(out, &format!("{stage}/hostname")),
            "crossbuild-host\n",
            "{stage}"
        );
        assert_eq!(
            read(out, &format!("{stage}/nofile-soft")),
            "1024\n",
            "{stage}"
        );
        assert_eq!(
            read(out, &format!("{stage}/nofile-hard")),
            "2048\n",
            "{stage}"
        );
        assert_eq!(
            read(out, &format!("{stage}/shm-kb")),
            format!("{}\n", 128 * 1024),
            "{stage}"
        );
    }
}

#[tokio::test]
async fn run_options_reach_every_run_like_buildkit() {
    let test = "run_options_reach_every_run_like_buildkit";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let context = context(PROBE);

    // Without the flags the RUNs see the daemon's defaults, so the values
    // asserted below come from the flags.
    let plain = build(context.path(), &[]);
    let hosts = read(plain.path(), "first/hosts");
    assert!(!hosts.contains("myhost"), "{hosts}");
    assert_ne!(read(plain.path(), "first/hostname"), "crossbuild-host\n");
    assert_ne!(read(plain.path(), "first/nofile-soft"), "1024\n");
    assert_ne!(
        read(plain.path(), "first/shm-kb"),
        format!("{}\n", 128 * 1024)
    );

    let started = Instant::now();
    let ours = build(context.path(), &RUN_FLAGS);
    eprintln!("crossbuild: {:.1} s", started.elapsed().as_secs_f64());
    assert_options_seen(ours.path());

    let started = Instant::now();
    let mut reference_flags = vec!["--reference-frontend"];
    reference_flags.extend_from_slice(&RUN_FLAGS);
    let reference = build(context.path(), &reference_flags);
    eprintln!("dockerfile.v0: {:.1} s", started.elapsed().as_secs_f64());
    assert_options_seen(reference.path());
    assert_same_tree(&snapshot(reference.path()), &snapshot(ours.path()));
}

/// A RUN with its own tmpfs on `/dev/shm` sees the `--shm-size` one, as
/// with BuildKit's frontend (which mounts both, the sized one last).
#[tokio::test]
async fn shm_size_wins_over_a_runs_own_dev_shm_mount_like_buildkit() {
    let test = "shm_size_wins_over_a_runs_own_dev_shm_mount_like_buildkit";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let context = context(
        "FROM localhost:5000/busybox:latest
RUN --mount=type=tmpfs,target=/dev/shm,size=1m df -k /dev/shm | tail -n 1 | awk '{print $2}' > /own
RUN df -k /dev/shm | tail -n 1 | awk '{print $2}' > /global
FROM scratch
COPY --from=0 /own /global /
",
    );
    let ours = build(context.path(), &["--shm-size", "128m"]);
    let reference = build(
        context.path(),
        &["--reference-frontend", "--shm-size", "128m"],
    );
    let size = format!("{}\n", 128 * 1024);
    assert_eq!(read(reference.path(), "own"), size);
    assert_eq!(read(ours.path(), "own"), size);
    assert_eq!(read(ours.path(), "global"), size);
    assert_same_tree(&snapshot(reference.path()), &snapshot(ours.path()));
}

/// The network interfaces in a copy of `/proc/net/dev`: names only (the
/// counters change from run to run), without the `veth` ends other builds'
/// sandboxes add to the host and remove again.
fn interface_names(dev: &str) -> Vec<String> {
    dev.lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_string()))
        .filter(|name| !name.starts_with("veth"))
        .collect()
}

fn interfaces(dir: &Path, file: &str) -> Vec<String> {
    interface_names(&read(dir, file))
}

/// `--network none|host` is every RUN's network unless the RUN names its
/// own, as with BuildKit's frontend; `host` needs no `--allow` (buildx adds
/// the entitlement itself).
#[tokio::test]
async fn network_flag_is_every_runs_default_like_buildkit() {
    let test = "network_flag_is_every_runs_default_like_buildkit";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let context = context(
        "FROM localhost:5000/busybox:latest
RUN cat /proc/net/dev > /forced
RUN --network=default cat /proc/net/dev > /default
RUN --network=none cat /proc/net/dev > /none
FROM scratch
COPY --from=0 /forced /default /none /
",
    );
    let host_interfaces = interface_names(&std::fs::read_to_string("/proc/net/dev").unwrap());
    let lo = vec!["lo".to_string()];
    for (mode, forced) in [("none", &lo), ("host", &host_interfaces)] {
        let ours = build(context.path(), &["--network", mode]);
        let reference = build(context.path(), &["--reference-frontend", "--network", mode]);
        for out in [&ours, &reference] {
            assert_eq!(&interfaces(out.path(), "forced"), forced, "{mode}");
            assert_eq!(&interfaces(out.path(), "default"), forced, "{mode}");
            assert_eq!(interfaces(out.path(), "none"), lo, "{mode}");
        }
    }
    // Without the flag a RUN has the sandbox's own network: more than lo,
    // and not the host's.
    let plain = build(context.path(), &[]);
    let sandbox = interfaces(plain.path(), "forced");
    assert!(
        sandbox.len() > 1 && sandbox != host_interfaces,
        "{sandbox:?}"
    );
}

/// A bad value for any of the flags is one error line naming the flag and
/// the value, exit status 1, before any daemon is contacted.
#[test]
fn bad_run_option_values_are_one_clear_error() {
    let context = context("FROM localhost:5000/busybox:latest\nRUN true\n");
    let cases: [(&[&str], &str); 7] = [
        (
            &["--network", "bridge"],
            "error: network mode \"bridge\" not supported by BuildKit; expected default, host or none",
        ),
        (
            &["--add-host", "nohost"],
            "error: invalid --add-host value \"nohost\": expected host:ip",
        ),
        (
            &["--add-host", "h=999.1.1.1"],
            "error: invalid --add-host value \"h=999.1.1.1\": invalid IP address",
        ),
        (
            &["--ulimit", "nofile=abc"],
            "error: invalid --ulimit value \"nofile=abc\": strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
        (
            &["--ulimit", "bogus=1"],
            "error: invalid --ulimit value \"bogus=1\": invalid ulimit type: bogus",
        ),
        (
            &["--ulimit", "nofile=20:10"],
            "error: invalid --ulimit value \"nofile=20:10\": ulimit soft limit must be less than or equal to hard limit: 20 > 10",
        ),
        (
            &["--shm-size", "12xyz"],
            "error: invalid --shm-size value \"12xyz\": expected a size such as 128m, 1g or a number of bytes",
        ),
    ];
    for (flags, expected) in cases {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
            .arg("build")
            .args(flags)
            .arg(context.path())
            // Nothing to reach: a flag error must come first.
            .env_remove("BUILDKIT_HOST")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("run crossbuild");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flags:?}: {stderr}");
        assert_eq!(stderr.trim_end(), expected, "{flags:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{flags:?}");
    }
}

/// The `# syntax=` image this test builds and pushes (its own repository,
/// so that it never races the frontend test's image).
const FRONTEND_IMAGE: &str = "localhost:5000/crossbuild-e2e/run-options-frontend:latest";

/// `# syntax=` through `docker buildx build`, the reference client: buildx
/// sends the flags as frontend attributes, the daemon forwards them to the
/// crossbuild frontend image, and the RUNs see the same as with the direct
/// client.
#[tokio::test]
async fn syntax_frontend_image_applies_run_options() {
    let test = "syntax_frontend_image_applies_run_options";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    if !common::frontend_image::buildx_or_skip(test) {
        return;
    }
    if let Err(log) = common::frontend_image::build(FRONTEND_IMAGE) {
        panic!("scripts/frontend-image failed:\n{log}");
    }

    let direct_context = context(PROBE);
    let direct = build(direct_context.path(), &RUN_FLAGS);

    let context = context(&format!("# syntax={FRONTEND_IMAGE}\n{PROBE}"));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new("docker")
        .args(["buildx", "build", "--progress", "plain", "--no-cache"])
        .args(RUN_FLAGS)
        .args(["-o", &format!("type=local,dest={}", out.path().display())])
        .arg(context.path())
        .output()
        .expect("run docker buildx build");
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    eprintln!(
        "buildx + frontend image: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The daemon really ran the frontend image, not its own frontend.
    assert!(log.contains(FRONTEND_IMAGE), "{log}");
    assert_options_seen(out.path());
    assert_same_tree(&snapshot(direct.path()), &snapshot(out.path()));
}
