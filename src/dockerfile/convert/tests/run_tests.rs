//! `RUN`, `WORKDIR`, `USER`, mounts and step names.

use super::*;

#[test]
fn shell_and_exec_form_with_env_workdir_user() {
    let df = "\
FROM alpine
ENV GREETING=hello
WORKDIR /app
USER nobody
RUN echo $GREETING
SHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]
RUN [\"ls\", \"-l\"]
RUN make all
";
    let b = one(df);
    let g = graph(&b);
    let ex = execs(&g);
    assert_eq!(ex.len(), 3);
    let m = meta(&ex[0].0);
    assert_eq!(m.args, ["/bin/sh", "-c", "echo $GREETING"]);
    assert_eq!(m.cwd, "/app");
    assert_eq!(m.user, "nobody");
    assert!(m.env.contains(&"GREETING=hello".to_string()));
    assert!(m.env.iter().any(|e| e.starts_with("PATH=")));
    assert_eq!(meta(&ex[1].0).args, ["ls", "-l"]);
    assert_eq!(
        meta(&ex[2].0).args,
        ["/bin/bash", "-eo", "pipefail", "-c", "make all"]
    );
    // WORKDIR made the directory, owned by nobody? No: USER came after.
    let f = files(&g);
    let Some(Op::File(fo)) = &f[0].0.op else {
        panic!("file op")
    };
    let Some(pb::file_action::Action::Mkdir(mk)) = &fo.actions[0].action else {
        panic!("mkdir")
    };
    assert_eq!(
        (mk.path.as_str(), mk.mode, mk.make_parents),
        ("/app", 0o755, true)
    );
    assert!(mk.owner.is_none());
}

#[test]
fn step_names_like_buildkit() {
    let df = "\
FROM alpine AS build
ARG V=1
WORKDIR /src
RUN echo \"$V\" $UNSET
COPY a b
FROM build
RUN x
";
    let b = one(df);
    let g = graph(&b);
    let names: Vec<String> = g
        .order
        .iter()
        .filter_map(|d| g.metadata.get(d))
        .map(|m| custom_name(m).to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let from = format!(
        "[build 1/4] FROM docker.io/library/alpine:latest@sha256:{}",
        "a".repeat(64)
    );
    assert!(names.contains(&from), "{names:?}");
    assert!(
        names.contains(&"[build 2/4] WORKDIR /src".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[build 3/4] RUN echo \"1\" $UNSET".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[build 4/4] COPY a b".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[stage-1 1/1] RUN x".to_string()),
        "{names:?}"
    );

    // Multi-platform: the platform and, for cross stages, the target.
    let df = "FROM --platform=$BUILDPLATFORM alpine\nARG TARGETARCH\nRUN build\n";
    let builds = run(df, &opts(&["linux/amd64", "linux/arm64"])).expect("convert");
    let g = graph(&builds[1]);
    let (_, md) = &execs(&g)[0];
    assert_eq!(custom_name(md), "[linux/amd64->arm64 2/2] RUN build");
    assert_eq!(
        md.description
            .get(super::super::dispatch::DF_CMD_KEY)
            .map(String::as_str),
        Some("RUN build")
    );
}

#[test]
fn run_mounts() {
    let df = "\
FROM alpine AS deps
FROM alpine
ARG CACHE=gomod
RUN --mount=type=cache,target=/root/.cache \\
    --mount=type=cache,id=$CACHE,target=/go/pkg/mod,sharing=locked,uid=1000 \\
    --mount=type=bind,from=deps,source=/etc,target=etc2 \\
    --mount=type=bind,target=/ctx,rw \\
    --mount=type=tmpfs,target=/tmp,size=1m \\
    --mount=type=secret,id=token \\
    --mount=type=secret,id=aws,env=AWS_KEY \\
    --mount=type=ssh \\
    --network=none --security=insecure \\
    make
";
    let b = one(df);
    let g = graph(&b);
    let (e, _) = &execs(&g)[0];
    let by_dest = |d: &str| {
        e.mounts
            .iter()
            .find(|m| m.dest == d)
            .cloned()
            .unwrap_or_else(|| panic!("no mount at {d}: {:?}", e.mounts))
    };
    let c = by_dest("/root/.cache");
    assert_eq!(
        c.cache_opt.as_ref().map(|o| o.id.as_str()),
        Some("//root/.cache")
    );
    let c = by_dest("/go/pkg/mod");
    let opt = c.cache_opt.clone().expect("cache opt");
    assert_eq!(opt.id, "/gomod");
    assert_eq!(opt.sharing, pb::CacheSharingOpt::Locked as i32);
    assert_eq!(c.selector, "/cache");
    let bind = by_dest("/etc2");
    assert!(bind.readonly);
    assert_eq!(bind.selector, "/etc");
    let rw = by_dest("/ctx");
    assert!(!rw.readonly);
    assert_eq!(rw.output, -1);
    let t = by_dest("/tmp");
    assert_eq!(t.tmpfs_opt.map(|o| o.size), Some(1 << 20));
    let s = by_dest("/run/secrets/token");
    assert_eq!(
        s.secret_opt.map(|o| (o.id, o.optional)),
        Some(("token".into(), true))
    );
    assert_eq!(e.secretenv.len(), 1);
    assert_eq!(e.secretenv[0].name, "AWS_KEY");
    assert!(e.mounts.iter().any(|m| m.ssh_opt.is_some()));
    assert_eq!(e.network, pb::NetMode::None as i32);
    assert_eq!(e.security, pb::SecurityMode::Insecure as i32);
    // The uid on the cache made an owned directory to mount.
    let f = files(&g);
    assert!(f
        .iter()
        .any(|(_, md)| custom_name(md) == "[internal] settings cache mount permissions"));
}

#[test]
fn heredoc_runs() {
    let df = "FROM alpine\nRUN <<EOF\necho a\necho b\nEOF\nRUN <<EOT\n#!/usr/bin/env python3\nprint(1)\nEOT\nRUN python3 <<PY\nprint(2)\nPY\n";
    let b = one(df);
    let g = graph(&b);
    let ex = execs(&g);
    assert_eq!(meta(&ex[0].0).args, ["/bin/sh", "-c", "echo a\necho b\n"]);
    assert_eq!(custom_name(&ex[0].1), "[2/4] RUN <<EOF (echo a...)");
    assert_eq!(meta(&ex[1].0).args, ["/bin/sh", "-c", "/dev/pipes/EOT"]);
    assert!(ex[1]
        .0
        .mounts
        .iter()
        .any(|m| m.dest == "/dev/pipes/" && m.readonly));
    assert_eq!(
        meta(&ex[2].0).args,
        ["/bin/sh", "-c", "python3 <<PY\nprint(2)\nPY"]
    );
}

#[test]
fn no_cache_marks_stage_ops() {
    let df = "FROM alpine AS a\nRUN a\nFROM alpine\nCOPY --from=a /x /x\nRUN b\n";
    let mut o = opts(&[]);
    o.no_cache = NoCache::Stages(vec!["a".into()]);
    let b = run(df, &o).expect("convert").remove(0);
    let g = graph(&b);
    let ex = execs(&g);
    let ignored: Vec<bool> = ex.iter().map(|(_, md)| md.ignore_cache).collect();
    assert_eq!(ignored, [true, false]);
    o.no_cache = NoCache::All;
    let b = run(df, &o).expect("convert").remove(0);
    assert!(execs(&graph(&b)).iter().all(|(_, md)| md.ignore_cache));
}

/// The frontend's RUN options reach every RUN of every stage; the sized
/// `/dev/shm` replaces a RUN's own mount there (what the daemon shows when
/// BuildKit's frontend mounts both).
#[test]
fn run_options_apply_to_every_run() {
    let df = "\
FROM alpine AS base
RUN one
FROM base
COPY a b
RUN two
RUN --mount=type=tmpfs,target=/dev/shm,size=1k three
";
    let mut o = opts(&["linux/amd64"]);
    o.run = RunOptions {
        extra_hosts: vec![("myhost".into(), "10.1.2.3".into())],
        shm_size: 128 << 20,
        ulimits: vec!["nofile=1024:2048".parse().expect("ulimit")],
        hostname: Some("builder".into()),
        network: Some(llb::NetMode::None),
    };
    let builds = run(df, &o).expect("convert");
    let g = graph(&builds[0]);
    let ex = execs(&g);
    assert_eq!(ex.len(), 3);
    for (e, md) in &ex {
        let m = meta(e);
        assert_eq!(m.hostname, "builder");
        assert_eq!(e.network, pb::NetMode::None as i32);
        assert_eq!(
            m.extra_hosts,
            [pb::HostIp {
                host: "myhost".into(),
                ip: "10.1.2.3".into()
            }]
        );
        assert_eq!(
            m.ulimit,
            [pb::Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }]
        );
        assert!(md.caps.contains_key("exec.meta.ulimit"));
        let shm: Vec<_> = e.mounts.iter().filter(|m| m.dest == "/dev/shm").collect();
        assert_eq!(shm.len(), 1);
        let size = shm[0].tmpfs_opt.as_ref().expect("tmpfs").size;
        assert_eq!(size, 128 << 20);
    }
}
