//! Stages, args, platforms, targets, reachability and errors.

use super::*;

#[test]
fn meta_args_and_build_args_in_from() {
    let df = "ARG TAG=3.19\nARG REG=localhost:5000\nFROM $REG/alpine:${TAG}\nRUN true\n";
    let b = one(df);
    let g = graph(&b);
    assert_eq!(
        sources(&g),
        [format!(
            "docker-image://localhost:5000/alpine:3.19@sha256:{}",
            "a".repeat(64)
        )]
    );
    let mut o = opts(&["linux/amd64"]);
    o.build_args.insert("TAG".into(), "edge".into());
    let b = run(df, &o).expect("convert").remove(0);
    assert!(sources(&graph(&b))[0].starts_with("docker-image://localhost:5000/alpine:edge@"));
}

#[test]
fn platform_args_differ_per_target() {
    let df =
        "FROM busybox\nARG TARGETARCH\nARG BUILDARCH\nARG TARGETPLATFORM\nRUN echo $TARGETARCH\n";
    let builds = run(df, &opts(&["linux/amd64", "linux/arm64"])).expect("convert");
    let envs: Vec<Vec<String>> = builds
        .iter()
        .map(|b| env_of(&execs(&graph(b))[0].0))
        .collect();
    assert!(envs[0].contains(&"TARGETARCH=amd64".to_string()));
    assert!(envs[1].contains(&"TARGETARCH=arm64".to_string()));
    assert!(envs[1].contains(&"BUILDARCH=amd64".to_string()));
    assert!(envs[1].contains(&"TARGETPLATFORM=linux/arm64".to_string()));
    // Undeclared platform args are not in the environment.
    let b = one("FROM busybox\nRUN echo $TARGETARCH\n");
    assert!(!env_of(&execs(&graph(&b))[0].0)
        .iter()
        .any(|e| e.starts_with("TARGET")));
}

#[test]
fn buildplatform_stage_is_shared_across_targets() {
    let df = "\
FROM --platform=$BUILDPLATFORM golang AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app .
FROM alpine
COPY --from=build /out/app /usr/local/bin/app
RUN apk add tzdata
";
    let builds = run(df, &opts(&["linux/amd64", "linux/arm64"])).expect("convert");
    let graphs: Vec<Graph> = builds.iter().map(graph).collect();
    let build_exec = |g: &Graph| {
        g.order
            .iter()
            .find(|d| match &g.ops[*d].op {
                Some(Op::Exec(e)) => meta(e).args.last().is_some_and(|a| a.contains("go build")),
                _ => false,
            })
            .cloned()
            .expect("go build exec")
    };
    let (a, b) = (build_exec(&graphs[0]), build_exec(&graphs[1]));
    assert_eq!(a, b, "the build stage must be one op for both targets");
    assert_eq!(
        graphs[1].ops[&b]
            .platform
            .as_ref()
            .map(|p| p.architecture.as_str()),
        Some("amd64")
    );
    let runtime_exec = |g: &Graph| {
        let (e, _) = execs(g).pop().expect("exec");
        meta(&e).args
    };
    assert_eq!(
        runtime_exec(&graphs[1]).last().map(String::as_str),
        Some("apk add tzdata")
    );
    let apk = |g: &Graph| {
        g.order
            .iter()
            .rev()
            .find(|d| matches!(g.ops[*d].op, Some(Op::Exec(_))))
            .cloned()
    };
    assert_ne!(apk(&graphs[0]), apk(&graphs[1]));
    assert_eq!(builds[1].config.architecture, "arm64");
    assert_eq!(builds[0].config.architecture, "amd64");
}

#[test]
fn each_image_is_resolved_once_per_platform() {
    let df =
        "FROM alpine AS a\nRUN a\nFROM alpine AS b\nCOPY --from=a / /\nCOPY --from=alpine / /x\n";
    let r = FakeResolver::default();
    run_with(df, &opts(&["linux/amd64", "linux/arm64"]), &r).expect("convert");
    let calls = r.calls.lock().expect("lock").clone();
    assert_eq!(
        calls,
        [
            (
                "docker.io/library/alpine:latest".to_string(),
                "linux/amd64".to_string()
            ),
            (
                "docker.io/library/alpine:latest".to_string(),
                "linux/arm64".to_string()
            ),
        ]
    );
}

#[test]
fn only_reachable_stages_are_converted() {
    let df = "FROM missing-image AS unused\nFROM alpine AS a\nRUN a\nFROM alpine AS b\nRUN b\n";
    let mut o = opts(&[]);
    o.target = Some("A".into());
    let b = run(df, &o).expect("unused stage is not resolved").remove(0);
    let g = graph(&b);
    assert_eq!(meta(&execs(&g)[0].0).args, ["/bin/sh", "-c", "a"]);
    assert_eq!(execs(&g).len(), 1);
}

#[test]
fn from_stage_and_scratch() {
    let df = "FROM alpine AS base\nENV A=1\nWORKDIR /app\nFROM base\nRUN make\nFROM scratch\nCOPY --from=1 /app /app\n";
    let b = one(df);
    let g = graph(&b);
    let (e, _) = &execs(&g)[0];
    assert_eq!(meta(e).cwd, "/app");
    assert!(env_of(e).contains(&"A=1".to_string()));
    assert_eq!(b.config.config.working_dir, "/");
    assert_eq!(
        b.config.config.env,
        [format!("PATH={}", super::super::config::DEFAULT_PATH)]
    );
}

#[test]
fn errors_carry_lines_and_buildkit_wording() {
    let err = |df: &str, o: &ConvertOptions| run(df, o).expect_err("must fail");
    let o = opts(&[]);
    let e = err(
        "FROM alpine AS a\nCOPY --from=b / /\nFROM alpine AS b\nCOPY --from=a / /\n",
        &o,
    );
    assert_eq!(e.message, "circular dependency detected on stage: a");
    assert_eq!(e.line, 1);
    let mut t = opts(&[]);
    t.target = Some("nope".into());
    let e = err("FROM alpine\n", &t);
    assert_eq!(
        (e.line, e.message.as_str()),
        (0, "target stage \"nope\" could not be found")
    );
    let e = err("ARG IMG\nFROM $IMG\n", &o);
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "base name ($IMG) should not be blank")
    );
    let e = err("FROM alpine\nRUN x\nFROM missing:1\n", &o);
    assert_eq!(e.line, 3);
    assert_eq!(
        e.message,
        "docker.io/library/missing:1 for linux/amd64: not found"
    );
    let mut first = opts(&[]);
    first.target = Some("first".into());
    let e = err(
        "FROM alpine AS first\nCOPY --from=later / /\nFROM alpine AS later\n",
        &first,
    );
    assert_eq!(e.line, 2);
    assert_eq!(
        e.message,
        "cannot copy from stage \"later\", it needs to be defined before current stage \"first\""
    );
    let e = err("FROM alpine\nCOPY --from=$X / /\n", &o);
    assert!(e
        .message
        .starts_with("variable expansion is not supported for --from"));
    let e = err("FROM alpine\nCOPY --from=7 / /\n", &o);
    assert_eq!((e.line, e.message.as_str()), (2, "invalid stage index 7"));
    let e = err("FROM --platform=$NOPE alpine\n", &o);
    assert_eq!(e.message, "empty platform value from expression $NOPE");
    let e = err("FROM alpine\nSTOPSIGNAL SIGNOPE\n", &o);
    assert_eq!((e.line, e.message.as_str()), (2, "Invalid signal: SIGNOPE"));
    let e = err("FROM alpine\nRUN --mount=type=cache,target=/ x\n", &o);
    assert_eq!(e.message, "invalid mount target \"/\"");
    assert_eq!(e.to_string(), "line 2: invalid mount target \"/\"");
}

#[test]
fn stage_args_follow_buildkit_precedence() {
    let df = "\
ARG GLOBAL=g
ARG V=meta
FROM alpine
ARG GLOBAL
ARG V=local-$GLOBAL
ARG EMPTY
ARG OVER=default
RUN echo
";
    let mut o = opts(&[]);
    o.build_args.insert("OVER".into(), "cli".into());
    o.build_args.insert("UNDECLARED".into(), "x".into());
    let b = run(df, &o).expect("convert").remove(0);
    let env = env_of(&execs(&graph(&b))[0].0);
    assert!(env.contains(&"GLOBAL=g".to_string()));
    assert!(env.contains(&"V=local-g".to_string()));
    assert!(env.contains(&"OVER=cli".to_string()));
    assert!(!env
        .iter()
        .any(|e| e.starts_with("EMPTY") || e.starts_with("UNDECLARED")));
    let run = b
        .config
        .history
        .iter()
        .find(|h| h.created_by.starts_with("RUN"))
        .expect("run history");
    assert_eq!(
        run.created_by,
        "RUN |4 GLOBAL=g V=local-g EMPTY= OVER=cli /bin/sh -c echo # buildkit"
    );
    // Config env never carries args.
    assert!(!b.config.config.env.iter().any(|e| e.starts_with("GLOBAL")));
}

#[test]
fn named_contexts_replace_images_and_stages() {
    let mut o = opts(&[]);
    o.named_contexts
        .insert("alpine".into(), llb::Local::new("alp").into_state());
    o.named_contexts
        .insert("deps".into(), llb::Local::new("deps").into_state());
    let df = "FROM missing AS deps\nRUN never\nFROM alpine\nCOPY --from=deps /x /x\n";
    let b = run(df, &o).expect("convert").remove(0);
    let srcs = sources(&graph(&b));
    assert!(srcs.contains(&"local://alp".to_string()), "{srcs:?}");
    assert!(srcs.contains(&"local://deps".to_string()), "{srcs:?}");
}

#[test]
fn no_panic_on_odd_input() {
    for df in [
        "FROM alpine\nCOPY --from= / /\n",
        "FROM alpine AS x\nFROM x AS y\nFROM y\nCOPY --from=y / /\n",
        "FROM alpine\nRUN --mount=type=bind,from=alpine,target=/m,rw true\n",
        "FROM alpine\nWORKDIR $EMPTY\n",
        "FROM alpine\nEXPOSE 99999\n",
        "FROM alpine\nONBUILD RUN x\nFROM 0\n",
        "FROM scratch\nADD --checksum=sha256:00 a b\n",
        "FROM alpine\nRUN <<EOF\nEOF\n",
    ] {
        let _ = run(df, &opts(&["linux/amd64", "linux/arm/v7"]));
    }
}

#[test]
fn oci_layout_contexts_keep_their_source_and_bring_their_config() {
    let mut o = opts(&["linux/amd64", "linux/arm64"]);
    o.named_contexts
        .insert("base".into(), llb::Local::new("layout").into_state());
    let image = OciLayoutImage {
        reference: format!("docker.io/library/base@sha256:{}", "b".repeat(64)),
        store: "oci-context-1".into(),
    };
    o.image_contexts
        .insert("base".into(), ImageContext::OciLayout(image.clone()));
    let mut config = base_config(&p("linux/amd64"));
    config.config.env.push("FROM_LAYOUT=1".into());
    config.config.working_dir = "/layout".into();
    config.config.user = "1000".into();
    let r = FakeResolver {
        configs: BTreeMap::from([(format!("oci-layout:{}", image.reference), config)]),
        ..Default::default()
    };
    let builds = run_with("FROM base\nRUN pwd\n", &o, &r).expect("convert");
    for b in &builds {
        let srcs = sources(&graph(b));
        // The files come from the context's own source, never a pull of
        // the made-up reference.
        assert!(srcs.contains(&"local://layout".to_string()), "{srcs:?}");
        assert!(!srcs.iter().any(|s| s.contains("base@")), "{srcs:?}");
        assert!(b.config.config.env.contains(&"FROM_LAYOUT=1".to_string()));
        assert_eq!(b.config.config.working_dir, "/layout");
        assert_eq!(b.config.config.user, "1000");
        let (exec, _) = execs(&graph(b)).remove(0);
        let meta = exec.meta.expect("meta");
        assert_eq!(meta.cwd, "/layout");
        assert_eq!(meta.user, "1000");
    }
    let calls = r.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "once per platform: {calls:?}");
    assert!(calls
        .iter()
        .all(|(reference, _)| reference.starts_with("oci-layout:")));
}

#[test]
fn a_base_image_is_looked_up_once_per_platform_even_when_asked_for_at_once() {
    // Every stage of every platform is resolved at the same time; the
    // stages on $BUILDPLATFORM ask for the build platform's image once per
    // target, the others once per stage.
    let df = "FROM --platform=$BUILDPLATFORM base AS tools\nRUN true\n\
              FROM base AS deps\nRUN true\n\
              FROM base\nCOPY --from=tools /a /a\nCOPY --from=deps /b /b\n";
    let r = FakeResolver::default();
    run_with(df, &opts(&["linux/amd64", "linux/arm64"]), &r).expect("convert");
    let mut calls = r.calls.lock().unwrap().clone();
    calls.sort();
    assert_eq!(
        calls,
        [
            (
                "docker.io/library/base:latest".to_string(),
                "linux/amd64".to_string()
            ),
            (
                "docker.io/library/base:latest".to_string(),
                "linux/arm64".to_string()
            )
        ],
        "one lookup per image and platform"
    );
}
