//! Graph-level tests: every op kind and option as it lands in the marshalled
//! `pb::Op`, dedup and determinism, digests shared across platforms, round
//! trips, the JSON dump, and golden root digests.

use bollard_buildkit_proto::pb;
use pb::file_action::Action;
use prost::Message;

use super::*;
use crate::platform::Platform;

fn plat(s: &str) -> Platform {
    s.parse().expect("platform")
}

fn opts() -> MarshalOptions {
    MarshalOptions {
        default_platform: plat("linux/amd64"),
    }
}

fn graph(state: &State) -> Graph {
    let def = marshal_with(state, &opts()).expect("marshal");
    Graph::from_definition(&def).expect("decode")
}

/// The op that produced `state`, and its metadata.
fn root_op(state: &State) -> (pb::Op, pb::OpMetadata, i64) {
    let g = graph(state);
    let root = g.root().expect("root").clone();
    (
        g.ops[&root.digest].clone(),
        g.metadata[&root.digest].clone(),
        root.index,
    )
}

fn source(op: &pb::Op) -> &pb::SourceOp {
    match &op.op {
        Some(pb::op::Op::Source(s)) => s,
        other => panic!("not a source: {other:?}"),
    }
}

fn exec(op: &pb::Op) -> &pb::ExecOp {
    match &op.op {
        Some(pb::op::Op::Exec(e)) => e,
        other => panic!("not an exec: {other:?}"),
    }
}

fn file(op: &pb::Op) -> &pb::FileOp {
    match &op.op {
        Some(pb::op::Op::File(f)) => f,
        other => panic!("not a file op: {other:?}"),
    }
}

fn caps(md: &pb::OpMetadata) -> Vec<&str> {
    md.caps.keys().map(String::as_str).collect()
}

fn root_digest(state: &State) -> String {
    graph(state).root().expect("root").digest.clone()
}

fn busybox() -> State {
    Image::new("busybox")
        .expect("image")
        .platform(&plat("linux/amd64"))
        .into_state()
}

#[test]
fn scratch_marshals_to_empty_definition() {
    let def = marshal_with(&State::scratch(), &opts()).expect("marshal");
    assert!(def.def.is_empty() && def.metadata.is_empty());
    assert!(Graph::from_definition(&def)
        .expect("decode")
        .root()
        .is_none());
}

#[test]
fn terminal_op_is_last_and_points_at_root() {
    let def = marshal_with(&busybox(), &opts()).expect("marshal");
    assert_eq!(def.def.len(), 2);
    let terminal = pb::Op::decode(def.def[1].as_slice()).expect("decode");
    assert!(terminal.op.is_none() && terminal.platform.is_none() && terminal.constraints.is_none());
    assert_eq!(
        terminal.inputs,
        vec![pb::Input {
            digest: digest_of(&def.def[0]),
            index: 0
        }]
    );
    let md = &def.metadata[&digest_of(&def.def[1])];
    assert_eq!(caps(md), ["constraints", "platform"]);
}

#[test]
fn image_source() {
    let (op, md, index) = root_op(&busybox());
    assert_eq!(index, 0);
    assert_eq!(
        source(&op).identifier,
        "docker-image://docker.io/library/busybox:latest"
    );
    assert!(source(&op).attrs.is_empty());
    assert_eq!(op.platform, Some(plat("linux/amd64").to_pb()));
    assert_eq!(op.constraints, Some(pb::WorkerConstraints::default()));
    assert_eq!(caps(&md), ["source.image"]);

    let arm = plat("linux/arm/v7");
    let img = Image::new("localhost:5000/busybox")
        .expect("image")
        .resolve_mode(ResolveMode::ForcePull)
        .record_type("internal")
        .layer_limit(2)
        .platform(&arm);
    assert_eq!(img.reference(), "localhost:5000/busybox:latest");
    let state = img.into_state();
    assert_eq!(state.get_platform(), Some(&arm));
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, "docker-image://localhost:5000/busybox:latest");
    assert_eq!(s.attrs["image.resolvemode"], "pull");
    assert_eq!(s.attrs["image.recordtype"], "internal");
    assert_eq!(s.attrs["image.layerlimit"], "2");
    assert_eq!(op.platform, Some(arm.to_pb()));
    assert_eq!(
        caps(&md),
        [
            "source.image",
            "source.image.layerlimit",
            "source.image.resolvemode"
        ]
    );

    let local = Image::new("busybox")
        .expect("image")
        .resolve_mode(ResolveMode::PreferLocal)
        .into_state();
    let (op, md, _) = root_op(&local);
    assert_eq!(source(&op).attrs["image.resolvemode"], "local");
    assert_eq!(caps(&md), ["source.image"]);
    // No platform anywhere: the marshal default applies.
    assert_eq!(op.platform, Some(plat("linux/amd64").to_pb()));
    assert_eq!(ResolveMode::Default.as_str(), "default");
    assert!(matches!(
        State::image("Bad"),
        Err(LlbError::InvalidImageRef { .. })
    ));
}

#[test]
fn local_source() {
    let (op, md, _) = root_op(&Local::new("context").into_state());
    assert_eq!(source(&op).identifier, "local://context");
    assert!(source(&op).attrs.is_empty());
    assert_eq!(op.platform, None, "local sources are platform independent");
    assert_eq!(caps(&md), ["source.local"]);

    let state = Local::new("context")
        .session_id("sess1")
        .unique_id("u1")
        .include_patterns(&["src", "Cargo.*"])
        .exclude_patterns(&["target", "<&>"])
        .follow_paths(&["Dockerfile"])
        .shared_key_hint("ctx")
        .differ(Differ::None, true)
        .platform(&plat("linux/arm64"))
        .into_state();
    let (op, md, _) = root_op(&state);
    let a = &source(&op).attrs;
    assert_eq!(a["local.session"], "sess1");
    assert_eq!(a["local.unique"], "u1");
    assert_eq!(a["local.includepattern"], r#"["src","Cargo.*"]"#);
    assert_eq!(
        a["local.excludepatterns"],
        r#"["target","\u003c\u0026\u003e"]"#
    );
    assert_eq!(a["local.followpaths"], r#"["Dockerfile"]"#);
    assert_eq!(a["local.sharedkeyhint"], "ctx");
    assert_eq!(a["local.differ"], "none");
    assert_eq!(op.platform, None);
    assert_eq!(
        caps(&md),
        [
            "source.local",
            "source.local.differ",
            "source.local.excludepatterns",
            "source.local.followpaths",
            "source.local.includepatterns",
            "source.local.sessionid",
            "source.local.sharedkeyhint",
            "source.local.unique",
        ]
    );
    let (op, md, _) = root_op(&Local::new("c").differ(Differ::Metadata, false).into_state());
    assert_eq!(source(&op).attrs["local.differ"], "metadata");
    assert_eq!(caps(&md), ["source.local"]);
}

#[test]
fn git_source() {
    let git = |url: &str| root_op(&Git::new(url).expect("git").into_state());
    let (op, md, _) = git("https://github.com/moby/buildkit.git");
    let s = source(&op);
    assert_eq!(s.identifier, "git://github.com/moby/buildkit.git");
    assert_eq!(
        s.attrs["git.fullurl"],
        "https://github.com/moby/buildkit.git"
    );
    assert_eq!(s.attrs["git.authtokensecret"], "GIT_AUTH_TOKEN");
    assert_eq!(s.attrs["git.authheadersecret"], "GIT_AUTH_HEADER");
    assert_eq!(op.platform, None);
    assert_eq!(caps(&md), ["source.git", "source.git.fullurl"]);

    let (op, _, _) = git("https://github.com/moby/buildkit.git#v0.12:docs/./x/");
    assert_eq!(
        source(&op).identifier,
        "git://github.com/moby/buildkit.git#v0.12:docs/x"
    );
    assert_eq!(
        source(&op).attrs["git.fullurl"],
        "https://github.com/moby/buildkit.git"
    );
    let (op, _, _) = git("github.com/moby/buildkit#main");
    assert_eq!(
        source(&op).identifier,
        "git://github.com/moby/buildkit#main"
    );
    assert_eq!(
        source(&op).attrs["git.fullurl"],
        "https://github.com/moby/buildkit"
    );
    let (op, _, _) = git("https://h.example/r.git#:sub");
    assert_eq!(source(&op).identifier, "git://h.example/r.git#:sub");

    let (op, md, _) = git("git@github.com:moby/buildkit.git");
    let s = source(&op);
    assert_eq!(s.identifier, "git://github.com/moby/buildkit.git");
    assert_eq!(s.attrs["git.fullurl"], "git@github.com:moby/buildkit.git");
    assert_eq!(s.attrs["git.mountsshsock"], "default");
    assert!(caps(&md).contains(&"source.git.mountsshsock"));

    let state = Git::new("ssh://git@host:2222/r.git")
        .expect("git")
        .git_ref("abc")
        .subdir("/a/b")
        .keep_git_dir(true)
        .auth_token_secret("T")
        .auth_header_secret("")
        .known_ssh_hosts("host ssh-ed25519 AAAA\n")
        .into_state();
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, "git://host:2222/r.git#abc:a/b");
    assert_eq!(s.attrs["git.keepgitdir"], "true");
    assert_eq!(s.attrs["git.authtokensecret"], "T");
    assert!(!s.attrs.contains_key("git.authheadersecret"));
    assert_eq!(s.attrs["git.knownsshhosts"], "host ssh-ed25519 AAAA\n");
    assert!(caps(&md).contains(&"source.git.keepgitdir"));
    assert!(matches!(
        Git::new("ftp://x/y"),
        Err(LlbError::InvalidSource { kind: "git", .. })
    ));
    assert!(matches!(
        Git::new("https:///path"),
        Err(LlbError::InvalidSource { kind: "git", .. })
    ));
}

#[test]
fn http_source() {
    let sum = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    let state = Http::new("https://example.com/a.tar.gz")
        .expect("http")
        .checksum(sum)
        .filename("a.tgz")
        .perm(0o755)
        .chown(1000, 1001)
        .into_state();
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, "https://example.com/a.tar.gz");
    assert_eq!(s.attrs["http.checksum"], sum);
    assert_eq!(s.attrs["http.filename"], "a.tgz");
    assert_eq!(s.attrs["http.perm"], "0755");
    assert_eq!(s.attrs["http.uid"], "1000");
    assert_eq!(s.attrs["http.gid"], "1001");
    assert_eq!(op.platform, None);
    assert_eq!(
        caps(&md),
        [
            "soruce.http.uidgid",
            "source.http",
            "source.http.checksum",
            "source.http.perm"
        ]
    );
    let (op, md, _) = root_op(&Http::new("http://x/y").expect("http").into_state());
    assert!(source(&op).attrs.is_empty());
    assert_eq!(caps(&md), ["source.http"]);
    assert_eq!(
        Http::new("file:///etc/passwd").err().map(|e| e.to_string()),
        Some(
            "invalid http source \"file:///etc/passwd\": URL must start with http:// or https://"
                .into()
        )
    );
}

#[test]
fn oci_layout_source() {
    let r = "app@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    let arm = plat("linux/arm64");
    let state = OciLayout::new(r)
        .expect("oci")
        .store("s1", "store")
        .layer_limit(3)
        .platform(&arm)
        .into_state();
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, format!("oci-layout://{r}"));
    assert_eq!(s.attrs["oci.session"], "s1");
    assert_eq!(s.attrs["oci.store"], "store");
    assert_eq!(s.attrs["oci.layerlimit"], "3");
    assert_eq!(op.platform, Some(arm.to_pb()));
    assert_eq!(caps(&md), ["source.ocilayout"]);
    assert!(OciLayout::new("app:latest").is_err());
}

#[test]
fn exec_meta_from_state_and_overrides() {
    let base = busybox()
        .dir("/src")
        .add_env("PATH", "/bin")
        .add_env("A", "1")
        .user("app");
    let st = base
        .run(
            Exec::shell("make")
                .env("A", "2")
                .env("B", "3")
                .cwd("sub")
                .hostname("h")
                .extra_host("db", "10.0.0.2"),
        )
        .expect("run")
        .root();
    // The new root keeps the base's values, not the per-exec overrides.
    assert_eq!(st.get_env("A"), Some("1"));
    assert_eq!(st.get_dir(), "/src");
    let (op, md, index) = root_op(&st);
    assert_eq!(index, 0);
    let e = exec(&op);
    let meta = e.meta.as_ref().expect("meta");
    assert_eq!(meta.args, ["/bin/sh", "-c", "make"]);
    assert_eq!(meta.env, ["PATH=/bin", "A=2", "B=3"]);
    assert_eq!(meta.cwd, "/src/sub");
    assert_eq!(meta.user, "app");
    assert_eq!(meta.hostname, "h");
    assert_eq!(
        meta.extra_hosts,
        [pb::HostIp {
            host: "db".into(),
            ip: "10.0.0.2".into()
        }]
    );
    assert!(meta.remove_mount_stubs_recursive);
    assert!(meta.valid_exit_codes.is_empty());
    assert_eq!(e.network, pb::NetMode::Unset as i32);
    assert_eq!(e.security, pb::SecurityMode::Sandbox as i32);
    assert_eq!(e.mounts.len(), 1);
    assert_eq!(
        (
            e.mounts[0].dest.as_str(),
            e.mounts[0].input,
            e.mounts[0].output
        ),
        ("/", 0, 0)
    );
    assert_eq!(caps(&md), ["exec.meta.base", "exec.mount.bind"]);
    assert_eq!(op.platform, Some(plat("linux/amd64").to_pb()));

    let st = busybox()
        .run(
            Exec::new(["true"])
                .user("root")
                .network(NetMode::None)
                .security(SecurityMode::Insecure)
                .valid_exit_codes(&[0, 1]),
        )
        .expect("run")
        .root();
    let (op, md, _) = root_op(&st);
    let e = exec(&op);
    assert_eq!(e.meta.as_ref().map(|m| m.user.as_str()), Some("root"));
    assert_eq!(
        e.meta.as_ref().map(|m| m.valid_exit_codes.clone()),
        Some(vec![0, 1])
    );
    assert_eq!(e.network, pb::NetMode::None as i32);
    assert_eq!(e.security, pb::SecurityMode::Insecure as i32);
    assert_eq!(
        caps(&md),
        [
            "exec.meta.base",
            "exec.meta.network",
            "exec.meta.security",
            "exec.meta.setsdefaultpath",
            "exec.mount.bind",
            "exec.validexitcode",
        ]
    );
    let host = busybox()
        .run(Exec::new(["x"]).network(NetMode::Host))
        .expect("run")
        .root();
    assert_eq!(exec(&root_op(&host).0).network, pb::NetMode::Host as i32);
    assert_eq!(
        busybox().run(Exec::new(Vec::<String>::new())).err(),
        Some(LlbError::EmptyArgs)
    );
}

#[test]
fn exec_platform_precedence() {
    let arm = plat("linux/arm64");
    let riscv = plat("linux/riscv64");
    let on_state = busybox()
        .platform(&arm)
        .run(Exec::shell("x"))
        .expect("run")
        .root();
    assert_eq!(root_op(&on_state).0.platform, Some(arm.to_pb()));
    assert_eq!(on_state.get_platform(), Some(&arm));
    let pinned = busybox()
        .platform(&arm)
        .run(Exec::shell("x").platform(&riscv))
        .expect("run")
        .root();
    assert_eq!(root_op(&pinned).0.platform, Some(riscv.to_pb()));
    assert_eq!(pinned.get_platform(), Some(&riscv));
    let scratch_run = State::scratch().run(Exec::shell("x")).expect("run").root();
    let (op, _, _) = root_op(&scratch_run);
    assert_eq!(op.platform, Some(plat("linux/amd64").to_pb()));
    assert_eq!(exec(&op).mounts[0].input, -1, "scratch root has no input");
    assert!(op.inputs.is_empty());
}

#[test]
fn exec_mounts_sorted_with_outputs() {
    let ctx = Local::new("context").into_state();
    let deps = Image::new("alpine").expect("image").into_state();
    let es = busybox()
        .run(
            Exec::shell("build")
                .mount(Mount::bind("/out", &State::scratch()))
                .mount(
                    Mount::cache("/root/.cache", "go")
                        .sharing(CacheSharing::Locked)
                        .from(&deps),
                )
                .mount(Mount::bind("/ctx", &ctx).readonly(true).selector("/src"))
                .mount(Mount::tmpfs("/tmp").size(1 << 20))
                .mount(
                    Mount::secret("/run/secrets/tok", "tok")
                        .uid(1)
                        .gid(2)
                        .mode(0o440)
                        .optional(true),
                )
                .mount(Mount::ssh("default"))
                .mount(Mount::ssh("other").target("/s.sock").mode(0o666))
                .mount(Mount::bind("/ctx2", &ctx)),
        )
        .expect("run");
    let (op, md, index) = root_op(&es.root());
    assert_eq!(index, 0);
    let e = exec(&op);
    let got: Vec<(&str, i64, i64, i32)> = e
        .mounts
        .iter()
        .map(|m| (m.dest.as_str(), m.input, m.output, m.mount_type))
        .collect();
    let (bind, secret, ssh, cache, tmpfs) = (0, 1, 2, 3, 4);
    assert_eq!(
        got,
        [
            ("/", 0, 0, bind),
            ("/ctx", 1, -1, bind),
            ("/ctx2", 1, 1, bind),
            ("/out", -1, 2, bind),
            ("/root/.cache", 2, -1, cache),
            ("/tmp", -1, -1, tmpfs),
            ("/run/secrets/tok", -1, -1, secret),
            ("/run/buildkit/ssh_agent.0", -1, -1, ssh),
            ("/s.sock", -1, -1, ssh),
        ]
    );
    assert_eq!(op.inputs.len(), 3, "the context appears once as an input");
    assert!(e.mounts[1].readonly);
    assert_eq!(e.mounts[1].selector, "/src");
    assert_eq!(
        e.mounts[4].cache_opt,
        Some(pb::CacheOpt {
            id: "go".into(),
            sharing: pb::CacheSharingOpt::Locked as i32
        })
    );
    assert_eq!(e.mounts[5].tmpfs_opt, Some(pb::TmpfsOpt { size: 1 << 20 }));
    assert_eq!(
        e.mounts[6].secret_opt,
        Some(pb::SecretOpt {
            id: "tok".into(),
            uid: 1,
            gid: 2,
            mode: 0o440,
            optional: true
        })
    );
    assert_eq!(
        e.mounts[7].ssh_opt,
        Some(pb::SshOpt {
            id: "default".into(),
            uid: 0,
            gid: 0,
            mode: 0o600,
            optional: false
        })
    );
    assert_eq!(e.mounts[8].ssh_opt.as_ref().map(|s| s.mode), Some(0o666));
    let env = &e.meta.as_ref().expect("meta").env;
    assert!(env.contains(&"SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0".to_string()));
    assert_eq!(
        caps(&md),
        [
            "exec.meta.base",
            "exec.meta.setsdefaultpath",
            "exec.mount.bind",
            "exec.mount.cache",
            "exec.mount.cache.sharing",
            "exec.mount.secret",
            "exec.mount.selector",
            "exec.mount.ssh",
            "exec.mount.tmpfs",
            "exec.mount.tmpfs.size",
        ]
    );

    // Outputs of writable mounts are usable states; others say why not.
    let out = es.get_mount("/out").expect("out");
    let (_, _, idx) = root_op(&out);
    assert_eq!(idx, 2);
    assert_eq!(root_op(&es.get_mount("/ctx2").expect("ctx2")).2, 1);
    assert_eq!(
        root_digest(&es.get_mount("/ctx").expect("ro")),
        root_digest(&ctx)
    );
    for (dest, kind) in [
        ("/tmp", "tmpfs"),
        ("/root/.cache", "cache"),
        ("/run/secrets/tok", "secret"),
        ("/s.sock", "ssh"),
    ] {
        assert_eq!(
            es.get_mount(dest).err(),
            Some(LlbError::MountHasNoOutput {
                kind,
                dest: dest.into()
            })
        );
    }
    assert_eq!(
        es.get_mount("/nope").err(),
        Some(LlbError::NoSuchMount("/nope".into()))
    );
    assert_eq!(
        es.get_mount("/tmp").err().map(|e| e.to_string()),
        Some("tmpfs mount at \"/tmp\" has no output that later steps can use".into())
    );
}

#[test]
fn exec_mount_order_does_not_change_digest() {
    let ctx = Local::new("context").into_state();
    let a = Exec::shell("x")
        .mount(Mount::bind("/a", &ctx))
        .mount(Mount::bind("/b", &ctx));
    let b = Exec::shell("x")
        .mount(Mount::bind("/b", &ctx))
        .mount(Mount::bind("/a", &ctx));
    let ra = busybox().run(a).expect("run");
    let rb = busybox().run(b).expect("run");
    assert_eq!(root_digest(&ra.root()), root_digest(&rb.root()));
    assert_eq!(root_op(&ra.get_mount("/b").expect("b")).2, 2);
}

#[test]
fn exec_errors_and_readonly_root() {
    let dup = busybox().run(
        Exec::shell("x")
            .mount(Mount::tmpfs("/t"))
            .mount(Mount::cache("/t", "c")),
    );
    assert_eq!(dup.err(), Some(LlbError::DuplicateMount("/t".into())));
    let root_dup = busybox().run(Exec::shell("x").mount(Mount::tmpfs("/")));
    assert_eq!(root_dup.err(), Some(LlbError::DuplicateMount("/".into())));

    let base = busybox();
    let es = base
        .run(
            Exec::shell("test")
                .readonly_rootfs(true)
                .mount(Mount::bind("/out", &State::scratch())),
        )
        .expect("run");
    assert_eq!(
        root_digest(&es.root()),
        root_digest(&base),
        "read-only root is the input"
    );
    let (op, _, idx) = root_op(&es.get_mount("/out").expect("out"));
    assert_eq!(idx, 0, "the first writable mount takes output 0");
    assert!(exec(&op).mounts[0].readonly);
}

#[test]
fn file_actions_chain() {
    let ctx = Local::new("context").into_state().dir("/src");
    let base = busybox().dir("/app");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
    let op = FileOp::new(
        Mkdir::new("bin", 0o40755)
            .make_parents(true)
            .chown(Chown::parse("app:app"))
            .timestamp(t),
    )
    .then(
        Mkfile::new("/etc/motd", 0o644, "hi")
            .chown(Chown::ids(1, 2))
            .timestamp(t),
    )
    .then(Rm::new("tmp/*").allow_not_found(true).allow_wildcard(true))
    .then(
        Symlink::new("/app/bin/tool", "tool")
            .chown(Chown::ids(0, 0))
            .timestamp(t),
    )
    .then(
        Copy::new(&ctx, "main.rs", "out/")
            .follow_symlinks(true)
            .dir_contents_only(true)
            .include_patterns(&["*.rs"])
            .exclude_patterns(&["tests"])
            .create_dest_path(true)
            .allow_wildcard(true)
            .allow_empty_wildcard(true)
            .chown(Chown::parse("1000:1000"))
            .chmod(0o755)
            .timestamp(t)
            .always_replace_existing(true)
            .attempt_unpack(true),
    )
    .then(Copy::new(&State::scratch(), "/x", "/y").chmod_str("u+x"))
    .custom_name("files");
    let st = base.file(op);
    assert_eq!(st.get_dir(), "/app", "file ops keep the state's values");
    let (op, md, index) = root_op(&st);
    assert_eq!(index, 0);
    assert_eq!(op.platform, None, "file ops are platform independent");
    assert_eq!(op.inputs.len(), 2, "base and context");
    let f = file(&op);
    let wiring: Vec<(i64, i64, i64)> = f
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    // Inputs 0 (base) and 1 (context); 2.. are earlier actions' results.
    assert_eq!(
        wiring,
        [
            (0, -1, -1),
            (2, -1, -1),
            (3, -1, -1),
            (4, -1, -1),
            (5, 1, -1),
            (6, -1, 0)
        ]
    );

    let by_name = |n: &str| pb::UserOpt {
        user: Some(pb::user_opt::User::ByName(pb::NamedUserOpt {
            name: n.into(),
            input: 0,
        })),
    };
    let by_id = |i: u32| pb::UserOpt {
        user: Some(pb::user_opt::User::ById(i)),
    };
    let ids = |u: u32, g: u32| {
        Some(pb::ChownOpt {
            user: Some(by_id(u)),
            group: Some(by_id(g)),
        })
    };
    let actions: Vec<&Action> = f.actions.iter().filter_map(|a| a.action.as_ref()).collect();
    assert_eq!(
        actions[0],
        &Action::Mkdir(pb::FileActionMkDir {
            path: "/app/bin".into(),
            mode: 0o755,
            make_parents: true,
            owner: Some(pb::ChownOpt {
                user: Some(by_name("app")),
                group: Some(by_name("app"))
            }),
            timestamp: 1_000_000_000,
        })
    );
    assert_eq!(
        actions[1],
        &Action::Mkfile(pb::FileActionMkFile {
            path: "/etc/motd".into(),
            mode: 0o644,
            data: b"hi".to_vec(),
            owner: ids(1, 2),
            timestamp: 1_000_000_000,
        })
    );
    assert_eq!(
        actions[2],
        &Action::Rm(pb::FileActionRm {
            path: "/app/tmp/*".into(),
            allow_not_found: true,
            allow_wildcard: true
        })
    );
    assert_eq!(
        actions[3],
        &Action::Symlink(pb::FileActionSymlink {
            oldpath: "/app/bin/tool".into(),
            newpath: "/app/tool".into(),
            owner: ids(0, 0),
            timestamp: 1_000_000_000,
        })
    );
    let Action::Copy(c) = actions[4] else {
        panic!("copy")
    };
    assert_eq!(
        (c.src.as_str(), c.dest.as_str()),
        ("/src/main.rs", "/app/out/")
    );
    assert_eq!(c.owner, ids(1000, 1000));
    assert_eq!(
        (c.mode, c.mode_str.as_str(), c.timestamp),
        (0o755, "", 1_000_000_000)
    );
    assert!(c.follow_symlink && c.dir_copy_contents && c.create_dest_path && c.allow_wildcard);
    assert!(
        c.allow_empty_wildcard
            && c.always_replace_existing_dest_paths
            && c.attempt_unpack_docker_compatibility
    );
    assert_eq!(
        (c.include_patterns.clone(), c.exclude_patterns.clone()),
        (vec!["*.rs".into()], vec!["tests".into()])
    );
    let Action::Copy(c) = actions[5] else {
        panic!("copy")
    };
    assert_eq!(
        (c.mode, c.mode_str.as_str(), c.timestamp, c.owner.clone()),
        (-1, "u+x", -1, None)
    );
    assert!(!c.follow_symlink && !c.allow_wildcard);
    assert_eq!(md.description["llb.customname"], "files");
    assert_eq!(
        caps(&md),
        [
            "file.base",
            "file.copy.alwaysreplaceexistingdestpaths",
            "file.copy.includeexcludepatterns",
            "file.copy.modestring",
            "file.rm.wildcard",
            "file.symlink.create",
            "meta.description",
        ]
    );
}

#[test]
fn file_on_scratch_and_defaults() {
    let st = State::scratch().file(Mkdir::new("/d", 0o755));
    let (op, _, _) = root_op(&st);
    assert!(op.inputs.is_empty());
    let f = file(&op);
    assert_eq!(
        (
            f.actions[0].input,
            f.actions[0].secondary_input,
            f.actions[0].output
        ),
        (-1, -1, 0)
    );
    let Some(Action::Mkdir(m)) = &f.actions[0].action else {
        panic!("mkdir")
    };
    assert_eq!(
        (m.make_parents, m.timestamp, m.owner.clone()),
        (false, -1, None)
    );
    let named =
        State::scratch().file(Mkfile::new("/f", 0o600, vec![1u8]).chown(Chown::parse("app")));
    let (op, _, _) = root_op(&named);
    let Some(Action::Mkfile(m)) = &file(&op).actions[0].action else {
        panic!("mkfile")
    };
    let owner = m
        .owner
        .as_ref()
        .and_then(|o| o.user.clone())
        .and_then(|u| u.user);
    assert_eq!(
        owner,
        Some(pb::user_opt::User::ByName(pb::NamedUserOpt {
            name: "app".into(),
            input: -1
        }))
    );
    // Copy from the same state it lands in uses one input.
    let img = busybox();
    let (op, _, _) = root_op(&img.file(Copy::new(&img, "/a", "/b")));
    assert_eq!(op.inputs.len(), 1);
    assert_eq!(
        (
            file(&op).actions[0].input,
            file(&op).actions[0].secondary_input
        ),
        (0, 0)
    );
    let (op, _, _) = root_op(&img.file(FileAction::from(Rm::new("/x"))));
    assert_eq!(file(&op).actions.len(), 1);
}

#[test]
fn merge_diff_build() {
    let a = busybox();
    let b = Local::new("context").into_state();
    let m = merge(
        &[a.clone(), State::scratch(), b.clone()],
        Constraints::new().custom_name("merge"),
    );
    let (op, md, _) = root_op(&m);
    assert_eq!(op.platform, None);
    assert_eq!(op.inputs.len(), 2);
    let Some(pb::op::Op::Merge(mo)) = &op.op else {
        panic!("merge")
    };
    assert_eq!(
        mo.inputs,
        [pb::MergeInput { input: 0 }, pb::MergeInput { input: 1 }]
    );
    assert_eq!(caps(&md), ["mergeop", "meta.description"]);

    let upper = a.run(Exec::shell("x")).expect("run").root();
    let (op, md, _) = root_op(&diff(&a, &upper, Constraints::new()));
    assert_eq!(op.platform, None);
    let Some(pb::op::Op::Diff(d)) = &op.op else {
        panic!("diff")
    };
    assert_eq!(
        (d.lower.map(|l| l.input), d.upper.map(|u| u.input)),
        (Some(0), Some(1))
    );
    assert_eq!(caps(&md), ["diffop"]);
    let (op, _, _) = root_op(&diff(&a, &State::scratch(), Constraints::new()));
    let Some(pb::op::Op::Diff(d)) = &op.op else {
        panic!("diff")
    };
    assert_eq!(
        (d.lower.map(|l| l.input), d.upper.map(|u| u.input)),
        (Some(0), Some(-1))
    );

    let built = b.build(Some("def.pb"), Constraints::new()).expect("build");
    let (op, md, _) = root_op(&built);
    let Some(pb::op::Op::Build(bo)) = &op.op else {
        panic!("build")
    };
    assert_eq!(bo.builder, -1);
    assert_eq!(
        bo.inputs["buildkit.llb.definition"],
        pb::BuildInput { input: 0 }
    );
    assert_eq!(bo.attrs["llbbuild.filename"], "def.pb");
    assert_eq!(op.inputs.len(), 1);
    assert_eq!(caps(&md), ["source.buildop.llbfilename"]);
    let (op, _, _) = root_op(&b.build(None, Constraints::new()).expect("build"));
    let Some(pb::op::Op::Build(bo)) = &op.op else {
        panic!("build")
    };
    assert!(bo.attrs.is_empty());
}

#[test]
fn constraints_land_in_op_and_metadata() {
    let st = Image::new("busybox")
        .expect("image")
        .custom_name("[base] FROM busybox")
        .description("com.example.step", "1")
        .ignore_cache(true)
        .progress_group("stage-0", "build", true)
        .worker_constraint("labels.arch==arm64")
        .cap("source.image.checksum")
        .into_state();
    let def = marshal_with(&st, &opts()).expect("marshal");
    let g = Graph::from_definition(&def).expect("decode");
    let root = g.root().expect("root").digest.clone();
    let (op, md) = (&g.ops[&root], &g.metadata[&root]);
    assert_eq!(
        op.constraints.as_ref().map(|c| c.filter.clone()),
        Some(vec!["labels.arch==arm64".to_string()])
    );
    assert!(md.ignore_cache);
    assert_eq!(md.description["llb.customname"], "[base] FROM busybox");
    assert_eq!(md.description["com.example.step"], "1");
    assert_eq!(
        md.progress_group,
        Some(pb::ProgressGroup {
            id: "stage-0".into(),
            name: "build".into(),
            weak: true
        })
    );
    assert_eq!(
        caps(md),
        [
            "meta.description",
            "meta.ignorecache",
            "source.image",
            "source.image.checksum"
        ]
    );
    let terminal = &g.metadata[g.order.last().expect("terminal")];
    assert_eq!(
        caps(terminal),
        [
            "constraints",
            "meta.description",
            "meta.ignorecache",
            "platform"
        ]
    );
    let all = Constraints::new().platform(&plat("linux/s390x"));
    assert_eq!(all.platform, Some(plat("linux/s390x")));
}

#[test]
fn dedup_and_determinism() {
    let ctx = Local::new("context").into_state();
    // Two separately built but identical copies are one op.
    let a = busybox().file(Copy::new(&ctx, "/a", "/a"));
    let b = busybox().file(Copy::new(&ctx, "/a", "/a"));
    let m = merge(&[a, b], Constraints::new());
    let def = marshal_with(&m, &opts()).expect("marshal");
    // busybox, context, copy, merge, terminal
    assert_eq!(def.def.len(), 5);
    assert_eq!(def.metadata.len(), 5);
    let again = marshal_with(&m, &opts()).expect("marshal");
    assert_eq!(def, again);
    let Some(pb::op::Op::Merge(_)) =
        Graph::from_definition(&def).expect("g").ops[&digest_of(&def.def[3])].op
    else {
        panic!("inputs come before the ops that use them");
    };
}

/// The heart of the multi-platform story: a `$BUILDPLATFORM` stage compiled
/// into each target's graph must produce the same ops, so BuildKit builds it
/// once.
#[test]
fn build_platform_stage_shared_across_targets() {
    let build = plat("linux/amd64");
    let ctx = Local::new("context").into_state();
    let compile = |target: &Platform| {
        let builder = Image::new("rust:1")
            .expect("image")
            .platform(&build)
            .into_state();
        let bin = builder
            .file(Copy::new(&ctx, "/", "/src"))
            .dir("/src")
            .run(Exec::shell("cargo build --release").mount(Mount::cache("/root/.cargo", "cargo")))
            .expect("run")
            .root();
        let runtime = Image::new("debian:bookworm")
            .expect("image")
            .platform(target)
            .into_state();
        let final_state = runtime.file(Copy::new(&bin, "/src/target/release/app", "/usr/bin/app"));
        (bin, final_state)
    };
    let targets = [plat("linux/arm64"), plat("linux/arm/v7")];
    let (bin_arm64, img_arm64) = compile(&targets[0]);
    let (bin_armv7, img_armv7) = compile(&targets[1]);
    // Marshal with different defaults too: pinned ops must not care.
    let d1 = marshal_with(
        &img_arm64,
        &MarshalOptions {
            default_platform: targets[0].clone(),
        },
    )
    .expect("m");
    let d2 = marshal_with(
        &img_armv7,
        &MarshalOptions {
            default_platform: targets[1].clone(),
        },
    )
    .expect("m");
    let (g1, g2) = (
        Graph::from_definition(&d1).expect("g"),
        Graph::from_definition(&d2).expect("g"),
    );
    assert_eq!(root_digest(&bin_arm64), root_digest(&bin_armv7));
    let shared: Vec<&String> = g1.ops.keys().filter(|d| g2.ops.contains_key(*d)).collect();
    // rust image, context, copy into builder, cargo build.
    assert_eq!(shared.len(), 4);
    assert!(g1.ops.contains_key(&root_digest(&bin_arm64)));
    assert_ne!(g1.root(), g2.root(), "the runtime stages differ per target");
}

#[test]
fn round_trip_and_decode_errors() {
    let ctx = Local::new("context").into_state();
    let st = busybox()
        .run(Exec::shell("x").mount(Mount::bind("/c", &ctx).readonly(true)))
        .expect("run")
        .root()
        .file(Mkdir::new("/d", 0o755));
    let def = marshal_with(&st, &opts()).expect("marshal");
    let wire = def.encode_to_vec();
    let decoded = pb::Definition::decode(wire.as_slice()).expect("decode");
    assert_eq!(decoded, def);
    let g = Graph::from_definition(&decoded).expect("graph");
    assert_eq!(g.order.len(), def.def.len());
    for (digest, bytes) in g.order.iter().zip(&def.def) {
        assert_eq!(
            &g.ops[digest].encode_to_vec(),
            bytes,
            "re-encoding is byte-identical"
        );
        assert!(g.metadata.contains_key(digest));
    }
    assert!(g.op(&g.root().expect("root").digest).is_some());

    let mut bad = def.clone();
    bad.def.insert(0, vec![0xff, 0xff, 0xff]);
    assert!(matches!(
        Graph::from_definition(&bad),
        Err(LlbError::Decode { index: 0, .. })
    ));
    let mut missing = def.clone();
    missing.def.remove(0);
    assert!(matches!(
        Graph::from_definition(&missing),
        Err(LlbError::MissingInput { .. })
    ));
    let mut no_terminal = def.clone();
    no_terminal.def.pop();
    assert_eq!(
        Graph::from_definition(&no_terminal).err(),
        Some(LlbError::BadTerminal)
    );
    assert!(dump_json(&bad).is_err());
}

#[test]
fn dump_is_readable() {
    let ctx = Local::new("context").into_state();
    let st = busybox()
        .run(
            Exec::shell("make")
                .mount(Mount::cache("/c", "id"))
                .custom_name("RUN make"),
        )
        .expect("run")
        .root()
        .file(Copy::new(&ctx, "a", "b").chown(Chown::parse("app")));
    let def = marshal_with(&st, &opts()).expect("marshal");
    let dump = dump_json(&def).expect("dump");
    let entries = dump.as_array().expect("array");
    assert_eq!(entries.len(), def.def.len());
    assert_eq!(
        entries[0]["op"]["source"]["identifier"],
        "docker-image://docker.io/library/busybox:latest"
    );
    assert_eq!(entries[0]["op"]["platform"], "linux/amd64");
    assert_eq!(entries[1]["op"]["exec"]["args"][2], "make");
    assert_eq!(entries[1]["op"]["exec"]["mounts"][1]["cache"]["id"], "id");
    assert_eq!(entries[1]["op"]["exec"]["network"], "UNSET");
    assert_eq!(
        entries[1]["metadata"]["description"]["llb.customname"],
        "RUN make"
    );
    assert_eq!(entries[2]["op"]["source"]["identifier"], "local://context");
    let copy = &entries[3]["op"]["file"][0];
    assert_eq!(copy["action"]["copy"]["src"], "/a");
    assert_eq!(copy["action"]["copy"]["owner"]["user"]["name"], "app");
    assert_eq!(copy["secondary_input"], 1);
    assert_eq!(entries[4]["op"]["kind"], "terminal");
    for (entry, bytes) in entries.iter().zip(&def.def) {
        assert_eq!(entry["digest"], digest_of(bytes));
    }
}

/// Root digests of fixed graphs. A change here changes every cache key
/// users have: update only for a deliberate wire-format change, and say so
/// in the commit.
#[test]
fn golden_root_digests() {
    let amd64 = plat("linux/amd64");
    let arm64 = plat("linux/arm64");
    let img = Image::new("busybox:1.36")
        .expect("image")
        .platform(&amd64)
        .into_state();
    let ctx = Local::new("context")
        .session_id("s")
        .exclude_patterns(&["target"])
        .into_state();
    let run = img
        .dir("/work")
        .add_env("PATH", "/usr/bin:/bin")
        .run(
            Exec::shell("echo hi > /out/x")
                .mount(Mount::bind("/out", &State::scratch()))
                .custom_name("RUN"),
        )
        .expect("run");
    let copied = img.file(
        FileOp::new(Mkdir::new("/app", 0o755).make_parents(true)).then(
            Copy::new(&ctx, "/", "/app")
                .chown(Chown::ids(1, 1))
                .chmod(0o644),
        ),
    );
    let merged = merge(
        &[copied.clone(), run.get_mount("/out").expect("out")],
        Constraints::new(),
    );
    let arm_run = Image::new(
        "alpine@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
    )
    .expect("image")
    .platform(&arm64)
    .into_state()
    .run(
        Exec::new(["apk", "add", "gcc"])
            .mount(Mount::cache("/var/cache/apk", "apk").sharing(CacheSharing::Locked)),
    )
    .expect("run")
    .root();
    let cases: [(&str, &State, &str); 5] = [
        ("image", &img, GOLDEN[0]),
        ("exec", &run.root(), GOLDEN[1]),
        ("file", &copied, GOLDEN[2]),
        ("merge", &merged, GOLDEN[3]),
        ("arm exec", &arm_run, GOLDEN[4]),
    ];
    let got: Vec<(&str, String)> = cases
        .iter()
        .map(|(name, state, _)| {
            let def = marshal_with(state, &opts()).expect("marshal");
            (*name, digest_of(def.def.last().expect("terminal")))
        })
        .collect();
    let want: Vec<(&str, String)> = cases
        .iter()
        .map(|(name, _, want)| (*name, want.to_string()))
        .collect();
    assert_eq!(got, want);
}

const GOLDEN: [&str; 5] = [
    "sha256:8702f5153412dbf56d3376e69d3322f2d63e8c874a184303e73dd77754460db1",
    "sha256:69eb4ca13e7fd345df676751fd780880fa08932647eb378480fc91556d71ac4c",
    "sha256:5332e5bbb3152660675608b5f6b3fbc525033184d0fd9e981db1cd658aa3267b",
    "sha256:e7ca34c265ed748323b5851de5fd2f6864da554dc19035e9b6e636a7cb808d39",
    "sha256:a1e70914f98b23b7b143e46d4b4552a7cd7212e3539bdfaf2459bb8cfc5e1fdf",
];
