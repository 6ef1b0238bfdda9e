//! Exec ops: meta, platform precedence, mounts and their outputs.

use super::*;

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

/// The RUN options of the Dockerfile frontend (`add-hosts`, `hostname`,
/// `ulimit`, `shm-size`) as they land in the exec op: meta fields in the
/// order given, the ulimit cap, and `/dev/shm` as a sized tmpfs mount with
/// no output (BuildKit's `dispatchRun`).
#[test]
fn exec_run_options_in_meta_and_mounts() {
    let st = busybox()
        .run(
            Exec::shell("true")
                .hostname("builder")
                .extra_host("myhost", "10.1.2.3")
                .extra_host("v6", "2001:db8::1")
                .ulimit("nofile=1024:2048".parse().expect("ulimit"))
                .ulimit("core=-1".parse().expect("ulimit"))
                .mount(Mount::tmpfs("/dev/shm").size(128 << 20)),
        )
        .expect("run")
        .root();
    let (op, md, index) = root_op(&st);
    assert_eq!(index, 0);
    let e = exec(&op);
    let meta = e.meta.as_ref().expect("meta");
    assert_eq!(meta.hostname, "builder");
    let hosts: Vec<(&str, &str)> = meta
        .extra_hosts
        .iter()
        .map(|h| (h.host.as_str(), h.ip.as_str()))
        .collect();
    assert_eq!(hosts, [("myhost", "10.1.2.3"), ("v6", "2001:db8::1")]);
    assert_eq!(
        meta.ulimit,
        [
            pb::Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            },
            pb::Ulimit {
                name: "core".into(),
                soft: -1,
                hard: -1
            },
        ]
    );
    let shm = e
        .mounts
        .iter()
        .find(|m| m.dest == "/dev/shm")
        .expect("shm mount");
    assert_eq!(shm.mount_type, pb::MountType::Tmpfs as i32);
    assert_eq!(shm.tmpfs_opt, Some(pb::TmpfsOpt { size: 128 << 20 }));
    assert_eq!((shm.input, shm.output), (-1, -1));
    assert_eq!(
        caps(&md),
        [
            "exec.meta.base",
            "exec.meta.setsdefaultpath",
            "exec.meta.ulimit",
            "exec.mount.bind",
            "exec.mount.tmpfs",
            "exec.mount.tmpfs.size"
        ]
    );

    // Without any of them the op is the plain one: no cap, no meta.
    let plain = busybox().run(Exec::shell("true")).expect("run").root();
    let (op, md, _) = root_op(&plain);
    let meta = exec(&op).meta.clone().expect("meta");
    assert!(meta.extra_hosts.is_empty() && meta.ulimit.is_empty() && meta.hostname.is_empty());
    assert!(!caps(&md).contains(&"exec.meta.ulimit"));
}
