//! `COPY` and `ADD`.

use super::*;

fn copies(op: &pb::Op) -> Vec<pb::FileActionCopy> {
    let Some(Op::File(f)) = &op.op else {
        return Vec::new();
    };
    f.actions
        .iter()
        .filter_map(|a| match &a.action {
            Some(pb::file_action::Action::Copy(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn copy_from_context_with_options() {
    let df = "\
FROM alpine
WORKDIR /app
ARG OWNER=app
COPY --chown=$OWNER:42 --chmod=755 --exclude=*.md src/ *.go ./
";
    let b = one(df);
    let g = graph(&b);
    let f = files(&g);
    let (op, md) = f.last().expect("copy op");
    assert_eq!(
        custom_name(md),
        "[3/3] COPY --chown=app:42 --chmod=755 --exclude=*.md src/ *.go ./"
    );
    let cs = copies(op);
    assert_eq!(cs.len(), 2);
    assert_eq!((cs[0].src.as_str(), cs[0].dest.as_str()), ("/src", "/app/"));
    assert_eq!(cs[1].src, "/*.go");
    for c in &cs {
        assert!(c.allow_wildcard && c.allow_empty_wildcard && c.follow_symlink);
        assert!(
            c.dir_copy_contents && c.create_dest_path && !c.attempt_unpack_docker_compatibility
        );
        assert_eq!(c.mode, 0o755);
        assert_eq!(c.exclude_patterns, ["*.md"]);
        let owner = c.owner.clone().expect("owner");
        assert!(matches!(
            owner.user.and_then(|u| u.user),
            Some(pb::user_opt::User::ByName(n)) if n.name == "app" && n.input == 0
        ));
    }
    // The context is the second input of the file op.
    assert!(sources(&g).contains(&"local://context".to_string()));
    let h = b.config.history.last().expect("history");
    assert_eq!(
        h.created_by,
        "COPY --chown=app:42 --chmod=755 src/ *.go ./ # buildkit"
    );
    assert!(!h.empty_layer);
}

#[test]
fn copy_from_stage_image_and_heredoc() {
    let df = "\
FROM alpine AS build
WORKDIR /work
RUN make
FROM scratch
COPY --from=build out/app /app
COPY --from=busybox:musl /bin/busybox /bin/
COPY <<EOF /etc/motd
hello $USER
EOF
";
    let b = one(df);
    let g = graph(&b);
    let f = files(&g);
    let all: Vec<pb::FileActionCopy> = f.iter().flat_map(|(op, _)| copies(op)).collect();
    // Source paths are absolute in the source, whatever its WORKDIR.
    assert!(all.iter().any(|c| c.src == "/out/app" && c.dest == "/app"));
    assert!(all
        .iter()
        .any(|c| c.src == "/bin/busybox" && c.dest == "/bin/"));
    assert!(all.iter().any(|c| c.src == "/EOF" && c.dest == "/etc/motd"));
    assert!(sources(&g)
        .iter()
        .any(|s| s.starts_with("docker-image://docker.io/library/busybox:musl@")));
    let mkfile = f.iter().find_map(|(op, _)| match &op.op {
        Some(Op::File(fo)) => fo.actions.iter().find_map(|a| match &a.action {
            Some(pb::file_action::Action::Mkfile(m)) => Some(m.clone()),
            _ => None,
        }),
        _ => None,
    });
    let mkfile = mkfile.expect("heredoc file");
    assert_eq!(mkfile.data, b"hello \n");
    assert_eq!(mkfile.mode, 0o644);
}

#[test]
fn add_urls_archives_and_git() {
    let df = "\
FROM alpine
ADD --checksum=sha256:0123 https://example.com/dl/tool.tgz /opt/
ADD app.tar.gz /srv/
ADD https://github.com/moby/buildkit.git#v0.12.0 /src
";
    let b = one(df);
    let g = graph(&b);
    let srcs = sources(&g);
    assert!(srcs.contains(&"https://example.com/dl/tool.tgz".to_string()));
    assert!(srcs
        .iter()
        .any(|s| s.starts_with("git://github.com/moby/buildkit")));
    let http = g
        .ops
        .values()
        .find_map(|op| match &op.op {
            Some(Op::Source(s)) if s.identifier.starts_with("https://example.com") => {
                Some(s.clone())
            }
            _ => None,
        })
        .expect("http source");
    assert_eq!(
        http.attrs.get("http.checksum").map(String::as_str),
        Some("sha256:0123")
    );
    assert_eq!(
        http.attrs.get("http.filename").map(String::as_str),
        Some("tool.tgz")
    );
    let f = files(&g);
    let all: Vec<pb::FileActionCopy> = f.iter().flat_map(|(op, _)| copies(op)).collect();
    assert!(all
        .iter()
        .any(|c| c.src == "/tool.tgz" && !c.attempt_unpack_docker_compatibility));
    assert!(all
        .iter()
        .any(|c| c.src == "/app.tar.gz" && c.attempt_unpack_docker_compatibility));
    let e = run("FROM alpine\nCOPY https://e.com/x /x\n", &opts(&[])).expect_err("url copy");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "source can't be a URL for COPY")
    );
    let e = run("FROM alpine\nCOPY --chmod=9 a b\n", &opts(&[])).expect_err("chmod");
    assert!(e.message.starts_with("invalid chmod parameter: '9'"));
}

#[test]
fn copy_link_merges_a_separate_layer() {
    let df = "FROM alpine\nCOPY --link a /a\n";
    let b = one(df);
    let g = graph(&b);
    let merge = g
        .order
        .iter()
        .find(|d| matches!(g.ops[*d].op, Some(Op::Merge(_))))
        .cloned()
        .expect("merge op");
    assert_eq!(g.ops[&merge].inputs.len(), 2);
    assert_eq!(
        custom_name(&g.metadata[&merge]),
        "[2/2] LINK COPY --link a /a"
    );
    let (op, md) = files(&g).pop().expect("file op");
    assert_eq!(custom_name(&md), "[2/2] COPY --link a /a");
    // The copy is made on scratch: its only input is the context.
    assert_eq!(op.inputs.len(), 1);
    assert!(md.progress_group.is_some());
}

#[test]
fn copy_parents() {
    let df = "FROM alpine\nCOPY --parents src/./pkg/*.go /out/\n";
    let b = one(df);
    let cs: Vec<pb::FileActionCopy> = files(&graph(&b))
        .iter()
        .flat_map(|(op, _)| copies(op))
        .collect();
    assert_eq!(cs[0].src, "/src");
    assert_eq!(cs[0].include_patterns, ["pkg/*.go"]);
    assert_eq!(cs[0].dest, "/out/");
}
