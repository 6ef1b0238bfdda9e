//! crossbuild run by an unprivileged user against the rootless Docker engine
//! that `scripts/buildkit-env up` starts for the user `crossbuild-rootless`
//! (see scripts/lib/rootless.sh). Each run gets a login's environment and
//! nothing else (HOME, USER, LOGNAME, XDG_RUNTIME_DIR, PATH), so crossbuild
//! must find the rootless daemon by itself.
//!
//! The tests switch users with setpriv, so they need root; without root or
//! without the rootless engine they are skipped with the reason, and under
//! CI=true they fail instead.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::oci::{self, Entry, EntryKind};
use common::tree::write_file;
use crossbuild::client::{self, Lookup};

const USER: &str = "crossbuild-rootless";

/// The unprivileged user and what a login would give it.
struct RootlessUser {
    uid: u32,
    gid: u32,
    home: PathBuf,
    runtime_dir: PathBuf,
    /// A directory the user may enter, holding the crossbuild binary (the
    /// build's own target directory may be closed to other users).
    bin_dir: tempfile::TempDir,
}

impl RootlessUser {
    /// The rootless engine's socket, as crossbuild should print it.
    fn socket(&self) -> String {
        format!("unix://{}/docker.sock", self.runtime_dir.display())
    }

    /// Runs crossbuild as the user in `dir` with a login's environment
    /// plus `env`.
    fn crossbuild(&self, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.crossbuild_with_runtime_dir(dir, Some(&self.runtime_dir), env, args)
    }

    /// Like [`RootlessUser::crossbuild`] with another XDG_RUNTIME_DIR, or
    /// none (as `su` without a session manager leaves it).
    fn crossbuild_with_runtime_dir(
        &self,
        dir: &Path,
        runtime_dir: Option<&Path>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Output {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid", &self.uid.to_string()])
            .args(["--regid", &self.gid.to_string()])
            .args(["--init-groups", "env", "-i"])
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("USER={USER}"))
            .arg(format!("LOGNAME={USER}"))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin");
        if let Some(runtime_dir) = runtime_dir {
            command.arg(format!("XDG_RUNTIME_DIR={}", runtime_dir.display()));
        }
        for (key, value) in env {
            command.arg(format!("{key}={value}"));
        }
        command
            .arg(self.bin_dir.path().join("crossbuild"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run setpriv")
    }

    /// A directory the user owns, for outputs.
    fn owned_dir(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        self.give(dir.path());
        dir
    }

    /// Makes the user own `path` and everything below it, as its own
    /// checkout would be.
    fn give(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).unwrap();
        if std::fs::symlink_metadata(path).unwrap().is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                self.give(&entry.unwrap().path());
            }
        }
    }
}

/// A directory others may read, for contexts and configs the test writes.
fn readable_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The user and its running engine, or `None` after saying why (a failure
/// under CI=true).
async fn rootless_or_skip(test: &str) -> Option<RootlessUser> {
    common::init_logging();
    match find_rootless().await {
        Ok(user) => Some(user),
        Err(reason) if !common::in_ci() => {
            eprintln!("SKIPPED {test}: {reason}; run `scripts/buildkit-env up` as root");
            None
        }
        Err(reason) => panic!("{test}: CI=true but {reason}"),
    }
}

async fn find_rootless() -> Result<RootlessUser, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("these tests switch to an unprivileged user and need root".to_string());
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    let fields: Vec<&str> = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == USER)
        .ok_or_else(|| format!("there is no user {USER}"))?;
    let uid: u32 = fields[2].parse().map_err(|_| "bad uid in /etc/passwd")?;
    let gid: u32 = fields[3].parse().map_err(|_| "bad gid in /etc/passwd")?;
    let runtime_dir = PathBuf::from(format!("/run/user/{uid}"));
    let socket = format!("unix://{}/docker.sock", runtime_dir.display());
    client::connect(&Lookup {
        flag: Some(socket.clone()),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("the rootless engine does not answer at {socket}: {e}"))?;
    Ok(RootlessUser {
        uid,
        gid,
        home: PathBuf::from(fields[5]),
        runtime_dir,
        bin_dir: runnable_binary(),
    })
}

/// The crossbuild binary in a directory anyone may enter: a hard link when
/// the binary is world-executable (instant), else a copy made so.
fn runnable_binary() -> tempfile::TempDir {
    let dir = readable_dir();
    let source = Path::new(env!("CARGO_BIN_EXE_crossbuild"));
    let target = dir.path().join("crossbuild");
    let mode = std::fs::metadata(source).unwrap().permissions().mode();
    if mode & 0o005 != 0o005 || std::fs::hard_link(source, &target).is_err() {
        std::fs::copy(source, &target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn error_lines(output: &Output) -> Vec<String> {
    text(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

fn file(content: &str, mode: u32, owner: u64) -> Entry {
    use sha2::Digest;
    let bytes = content.as_bytes();
    let described = if bytes.iter().all(|b| !b.is_ascii_control() || *b == b'\n') {
        format!("{content:?}")
    } else {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
    };
    Entry {
        kind: EntryKind::File(bytes.len() as u64, described),
        mode,
        uid: owner,
        gid: owner,
    }
}

fn dir_entry(mode: u32, owner: u64) -> Entry {
    Entry {
        kind: EntryKind::Dir,
        mode,
        uid: owner,
        gid: owner,
    }
}

const DOCKERFILE: &str = "FROM localhost:5000/busybox\n\
COPY . /out/ctx/\n\
COPY --chown=1000:1000 sub /out/owned\n\
RUN uname -m > /out/arch && id -u > /out/uid\n";

/// The context's files (path, contents, mode), the Dockerfile aside; the
/// last one is kept out by the .dockerignore.
const CONTEXT_FILES: [(&str, &str, u32); 5] = [
    ("hello.txt", "hello from the context\n", 0o644),
    ("tool.sh", "#!/bin/sh\necho tool\n", 0o755),
    ("sub/data.txt", "data for uid 1000\n", 0o640),
    (".dockerignore", "ignored.txt\n", 0o644),
    ("ignored.txt", "never sent\n", 0o644),
];

/// A context owned by the user with a plain file, an executable, a file
/// only its owner may read, a subdirectory that is also copied with another
/// owner, and a file the .dockerignore keeps out.
fn write_context(user: &RootlessUser) -> tempfile::TempDir {
    let context = tempfile::tempdir().unwrap();
    let dir = context.path();
    for (path, content, mode) in CONTEXT_FILES {
        write_file(dir, path, content.as_bytes(), mode);
    }
    write_file(dir, "Dockerfile", DOCKERFILE.as_bytes(), 0o644);
    // Fixed modes, whatever root's umask made them: they are compared below.
    for sub in ["", "sub"] {
        std::fs::set_permissions(dir.join(sub), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    user.give(dir);
    context
}

/// What `/out` must hold, file by file, on a platform whose `uname -m` is
/// `arch`: the context as sent (owned by root), `sub` again for uid 1000,
/// and what the RUN step wrote.
fn expected_out(arch: &str) -> BTreeMap<String, Entry> {
    let mut expected = BTreeMap::from([
        ("out".to_string(), dir_entry(0o755, 0)),
        ("out/ctx".to_string(), dir_entry(0o755, 0)),
        ("out/ctx/sub".to_string(), dir_entry(0o755, 0)),
        ("out/ctx/Dockerfile".to_string(), file(DOCKERFILE, 0o644, 0)),
        ("out/owned".to_string(), dir_entry(0o755, 1000)),
        (
            "out/owned/data.txt".to_string(),
            file("data for uid 1000\n", 0o640, 1000),
        ),
        ("out/arch".to_string(), file(&format!("{arch}\n"), 0o644, 0)),
        // RUN steps run as root inside the engine's user namespace.
        ("out/uid".to_string(), file("0\n", 0o644, 0)),
    ]);
    for (path, content, mode) in CONTEXT_FILES {
        if path != "ignored.txt" {
            expected.insert(format!("out/ctx/{path}"), file(content, mode, 0));
        }
    }
    expected
}

#[tokio::test]
async fn two_platform_oci_export_as_the_unprivileged_user() {
    let test = "two_platform_oci_export_as_the_unprivileged_user";
    let Some(user) = rootless_or_skip(test).await else {
        return;
    };
    let context = write_context(&user);
    let out = user.owned_dir();
    let archive = out.path().join("image.tar");
    let start = std::time::Instant::now();
    let output = user.crossbuild(
        context.path(),
        &[],
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=oci,dest={}", archive.display()),
            ".",
        ],
    );
    eprintln!("{test}: build took {:?}", start.elapsed());
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let using = format!(
        "#0 using {} (Docker engine, via rootless Docker socket)",
        user.socket()
    );
    assert!(stderr.starts_with(&using), "{stderr}");

    let images = oci::read_archive(&archive);
    assert_eq!(
        images.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"]
    );
    for (platform, arch, config_arch) in [
        ("linux/amd64", "x86_64", "amd64"),
        ("linux/arm64", "aarch64", "arm64"),
    ] {
        let image = &images[platform];
        assert_eq!(image.config["architecture"], config_arch, "{platform}");
        let tree = oci::file_tree(&image.layers);
        let out: BTreeMap<String, Entry> = tree
            .into_iter()
            .filter(|(path, _)| path == "out" || path.starts_with("out/"))
            .collect();
        let expected = expected_out(arch);
        for (path, entry) in &expected {
            assert_eq!(out.get(path), Some(entry), "{platform}: /{path}");
        }
        assert_eq!(out, expected, "{platform}: /out holds exactly these files");
    }
}

#[tokio::test]
async fn push_to_the_local_registry_as_the_unprivileged_user() {
    let test = "push_to_the_local_registry_as_the_unprivileged_user";
    let Some(user) = rootless_or_skip(test).await else {
        return;
    };
    let context = write_context(&user);
    let tag = format!(
        "e2e-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let name = format!("localhost:5000/crossbuild-rootless-e2e:{tag}");
    let output = user.crossbuild(
        context.path(),
        &[],
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            &name,
            "--push",
            ".",
        ],
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The rootless engine pushed through its namespace's forwarder; the
    // host's registry has the index.
    let index = common::registry_manifest("crossbuild-rootless-e2e", &tag);
    let mut platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter_map(|m| {
            let arch = m["platform"]["architecture"].as_str()?;
            let os = m["platform"]["os"].as_str()?;
            (arch != "unknown").then(|| format!("{os}/{arch}"))
        })
        .collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    let digest = stderr
        .lines()
        .find_map(|l| l.strip_prefix("image digest: "))
        .expect("the digest is printed");
    assert!(digest.starts_with("sha256:"), "{digest}");
}

#[tokio::test]
async fn the_rootless_socket_is_found_without_configuration() {
    let test = "the_rootless_socket_is_found_without_configuration";
    let Some(user) = rootless_or_skip(test).await else {
        return;
    };
    let cwd = readable_dir();
    let output = user.crossbuild(cwd.path(), &[], &["workers"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        stdout.starts_with(&format!(
            "daemon: {} (Docker engine, via rootless Docker socket)\n",
            user.socket()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("linux/arm64"), "{stdout}");

    // Without XDG_RUNTIME_DIR only the rootful sockets are left, which the
    // user may not use: one error naming each with its reason.
    let output = user.crossbuild_with_runtime_dir(cwd.path(), None, &[], &["workers"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot reach a BuildKit daemon; tried:"),
        "{stderr}"
    );
    let docker_sock = Path::new("/var/run/docker.sock");
    let expected = if docker_sock.exists() {
        "unix:///var/run/docker.sock (Docker socket): permission denied (is your user allowed to use this socket?)"
    } else {
        "unix:///var/run/docker.sock (Docker socket): no such socket"
    };
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_socket_the_user_may_not_use_is_passed_over() {
    let test = "a_socket_the_user_may_not_use_is_passed_over";
    let Some(user) = rootless_or_skip(test).await else {
        return;
    };
    // A runtime directory whose rootless buildkitd socket (tried first) is
    // root's and closed to the user, and whose docker.sock leads to the
    // rootless engine.
    let runtime = readable_dir();
    let closed = runtime.path().join("buildkit");
    std::fs::create_dir(&closed).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(closed.join("buildkitd.sock")).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(
        user.runtime_dir.join("docker.sock"),
        runtime.path().join("docker.sock"),
    )
    .unwrap();
    let output = user.crossbuild_with_runtime_dir(
        runtime.path(),
        Some(runtime.path()),
        &[("RUST_LOG", "crossbuild=debug")],
        &["workers"],
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "daemon: unix://{}/docker.sock (Docker engine, via rootless Docker socket)\n",
            runtime.path().display()
        )),
        "{stdout}"
    );
    let passed_over = stderr
        .lines()
        .find(|l| l.contains("passing over") && l.contains("buildkitd.sock"))
        .unwrap_or_else(|| panic!("no debug line for the closed socket: {stderr}"));
    assert!(passed_over.contains("permission denied"), "{passed_over}");
}

#[tokio::test]
async fn the_users_docker_context_is_followed() {
    let test = "the_users_docker_context_is_followed";
    let Some(user) = rootless_or_skip(test).await else {
        return;
    };
    // What `dockerd-rootless-setuptool.sh install` leaves: a context named
    // rootless, made current.
    let config = readable_dir();
    let id = crossbuild::client::docker_context::context_id("rootless");
    let meta = serde_json::json!({
        "Name": "rootless",
        "Metadata": {"Description": "Rootless mode"},
        "Endpoints": {"docker": {"Host": user.socket(), "SkipTLSVerify": false}},
    });
    write_file(
        config.path(),
        &format!("contexts/meta/{id}/meta.json"),
        meta.to_string().as_bytes(),
        0o644,
    );
    write_file(
        config.path(),
        "config.json",
        br#"{"auths": {}, "currentContext": "rootless"}"#,
        0o644,
    );
    let mut dir = config.path().to_path_buf();
    for part in ["contexts", "meta", id.as_str()] {
        dir.push(part);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config_dir = config.path().to_string_lossy().into_owned();
    // No XDG_RUNTIME_DIR: only the context leads to the rootless engine.
    let output = user.crossbuild_with_runtime_dir(
        config.path(),
        None,
        &[("DOCKER_CONFIG", &config_dir)],
        &["workers"],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        stdout.starts_with(&format!(
            "daemon: {} (Docker engine, via docker context \"rootless\", currentContext in config.json)\n",
            user.socket()
        )),
        "{stdout}"
    );

    // DOCKER_CONTEXT names a context that is not there: one error naming it,
    // not a quiet build somewhere else.
    let output = user.crossbuild_with_runtime_dir(
        config.path(),
        None,
        &[("DOCKER_CONFIG", &config_dir), ("DOCKER_CONTEXT", "gone")],
        &["workers"],
    );
    let errors = error_lines(&output);
    assert!(!output.status.success());
    assert_eq!(errors.len(), 1, "{}", text(&output.stderr));
    assert!(
        errors[0]
            .starts_with(r#"error: docker context "gone" (from DOCKER_CONTEXT) does not exist"#),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn insecure_entitlement_refusals_are_said_in_plain_words() {
    let test = "insecure_entitlement_refusals_are_said_in_plain_words";
    let Some(user) = rootless_or_skip(test).await else {
        return;
    };
    let context = readable_dir();
    write_file(
        context.path(),
        "Dockerfile",
        b"FROM localhost:5000/busybox\nRUN --security=insecure cat /proc/self/status\n",
        0o644,
    );
    // A refused build never starts: the answer must not wait for a
    // progress stream or a bridge that will not come (it took 11 s).
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--progress", "quiet"];
        args.extend_from_slice(extra);
        args.push(".");
        let start = std::time::Instant::now();
        let output = user.crossbuild(context.path(), &[], &args);
        let took = start.elapsed();
        eprintln!("{test}: {extra:?} refused in {took:?}");
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        output
    };

    // Not requested: BuildKit says "security.insecure is not allowed".
    let output = build(&[]);
    let errors = error_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(errors.len(), 1, "{}", text(&output.stderr));
    assert!(
        errors[0].starts_with(
            "error: the build uses RUN --security=insecure, which needs the security.insecure entitlement: pass --allow security.insecure"
        ),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("(BuildKit: "), "{}", errors[0]);

    // Requested, but the rootless engine does not permit it (Docker's default).
    let output = build(&["--allow", "security.insecure"]);
    let errors = error_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(errors.len(), 1, "{}", text(&output.stderr));
    assert!(
        errors[0].starts_with(
            "error: the daemon does not permit the security.insecure entitlement that RUN --security=insecure needs"
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("granting entitlement security.insecure is not allowed"),
        "{}",
        errors[0]
    );
}
