//! `--build-context name=https://…` / `http://…`, served by the test's own
//! HTTP server on 127.0.0.1 (the daemon fetches from the host's network):
//! a URL whose path ends in `.git` is a git repository (fetched with git's
//! dumb HTTP protocol here), any other URL one file named `context`, as in
//! BuildKit's dockerui — a tarball included, which stays one file.
//! Compared with BuildKit's own Dockerfile frontend where it can build them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::file_server::FileServer;
use common::tree::{assert_same_tree, snapshot, write_file};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Builds `context` with the named contexts `named`, exporting to `out`;
/// with `reference`, through BuildKit's `dockerfile.v0` instead.
fn build(context: &Path, named: &[String], out: &Path, reference: bool) -> Output {
    let output = format!("type=local,dest={}", out.display());
    let mut args = vec!["build", "--progress", "plain"];
    if reference {
        args.push("--reference-frontend");
    }
    for n in named {
        args.extend(["--build-context", n]);
    }
    args.extend(["-o", &output, "."]);
    common::crossbuild(context, &args)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn url_contexts_are_one_file_named_context() {
    if common::daemon_or_skip("url_contexts_are_one_file_named_context")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    let body = format!("served over http {}\n", common::unique_tag());
    write_file(&served, "files/hello.txt", body.as_bytes(), 0o644);
    // A real tar archive: a URL context is never unpacked.
    let tar_dir = dir.path().join("tar-src");
    write_file(&tar_dir, "inside.txt", b"inside the tarball\n", 0o644);
    let tarball = served.join("files/bundle.tar");
    let tarred = Command::new("tar")
        .args(["-cf", &tarball.display().to_string(), "-C"])
        .arg(&tar_dir)
        .arg("inside.txt")
        .status()
        .unwrap();
    assert!(tarred.success());
    let server = FileServer::start(&served);

    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        b"FROM scratch\nCOPY --from=web / /fromweb/\nCOPY --from=tarball / /fromtar/\n",
        0o644,
    );
    let named = [
        format!("web={}", server.url("files/hello.txt")),
        format!("tarball={}", server.url("files/bundle.tar")),
    ];
    let out = dir.path().join("out");
    let built = build(&context, &named, &out, false);
    assert!(built.status.success(), "{}", stderr(&built));
    // The daemon fetched both from the test's server on 127.0.0.1.
    let requests = server.requests();
    for path in ["/files/hello.txt", "/files/bundle.tar"] {
        assert!(requests.iter().any(|r| r == path), "{requests:?}");
    }
    // One file each, named `context` whatever the URL says.
    assert_eq!(names_in(&out.join("fromweb")), ["context"]);
    assert_eq!(
        std::fs::read_to_string(out.join("fromweb/context")).unwrap(),
        body
    );
    assert_eq!(names_in(&out.join("fromtar")), ["context"]);
    assert_eq!(
        std::fs::read(out.join("fromtar/context")).unwrap(),
        std::fs::read(&tarball).unwrap()
    );

    // The dockerfile.v0 built into Docker 28.5 refuses any URL context
    // that is not a git repository ("invalid argument": its dockerui
    // returns the git parser's error even after falling back to HTTP;
    // fixed upstream, where the file is named `context` as here). Where
    // it builds them, the results must agree.
    let reference = dir.path().join("reference");
    let built = build(&context, &named, &reference, true);
    if built.status.success() {
        assert_same_tree(&snapshot(&reference), &snapshot(&out));
    } else {
        let text = stderr(&built);
        assert!(
            text.lines()
                .any(|l| l == "error: solve with dockerfile.v0: invalid argument"),
            "{text}"
        );
        eprintln!("note: this daemon's dockerfile.v0 refuses URL contexts: not compared");
    }
}

#[tokio::test]
async fn git_url_contexts_match_buildkits_frontend() {
    if common::daemon_or_skip("git_url_contexts_match_buildkits_frontend")
        .await
        .is_none()
    {
        return;
    }
    if Command::new("git").arg("--version").output().is_err() {
        assert!(!common::in_ci(), "CI=true but no git");
        eprintln!("SKIPPED git_url_contexts_match_buildkits_frontend: no git");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let token = common::unique_tag();
    write_file(&work, "file.txt", format!("{token}\n").as_bytes(), 0o644);
    write_file(&work, "sub/inner.txt", b"in a subdirectory\n", 0o755);
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let git = |cwd: &Path, args: &[&str]| {
        let output = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    };
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["clone", "-q", "--bare", ".", "../served/repo.git"]);
    // What git's dumb HTTP protocol reads instead of asking a server.
    git(&served.join("repo.git"), &["update-server-info"]);
    let server = FileServer::start(&served);

    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        b"FROM scratch\nCOPY --from=repo / /repo/\nCOPY --from=sub / /sub/\n",
        0o644,
    );
    let named = [
        format!("repo={}", server.url("repo.git")),
        format!("sub={}", server.url("repo.git#main:sub")),
    ];
    let out = dir.path().join("out");
    let built = build(&context, &named, &out, false);
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(server
        .requests()
        .iter()
        .any(|r| r.starts_with("/repo.git/")));
    assert_eq!(names_in(&out.join("repo")), ["file.txt", "sub"]);
    assert_eq!(
        std::fs::read_to_string(out.join("repo/file.txt")).unwrap(),
        format!("{token}\n")
    );
    assert_eq!(names_in(&out.join("sub")), ["inner.txt"]);

    let reference = dir.path().join("reference");
    let built = build(&context, &named, &reference, true);
    assert!(built.status.success(), "{}", stderr(&built));
    assert_same_tree(&snapshot(&reference), &snapshot(&out));
}

#[tokio::test]
async fn a_url_context_that_is_not_found_is_one_error_naming_it() {
    if common::daemon_or_skip("a_url_context_that_is_not_found_is_one_error_naming_it")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = FileServer::start(&served);
    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        b"FROM scratch\nCOPY --from=web / /fromweb/\n",
        0o644,
    );
    let url = server.url("missing.txt");
    let output = common::crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "quiet",
            "--build-context",
            &format!("web={url}"),
            "-o",
            &format!("type=local,dest={}", dir.path().join("out").display()),
            ".",
        ],
    );
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(server.requests().contains(&"/missing.txt".to_string()));
    // The failed step is the context's download, named as such, and the
    // one error line says what the server answered.
    assert!(text.contains(&format!(" > [context web] {url}:")), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0].contains("invalid response status 404"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}
