//! Whole graphs: merge/diff/build, constraints, dedup, digests shared
//! across platforms, round trips, the dump and golden digests.

use prost::Message;

use super::*;

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
            &crate::llb::marshal::encode_like_buildkit(&g.ops[digest]),
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
    "sha256:ce8a4a4c532d82bd045aca64e65bbcf9b1700363afc9507ee0b6fdec2865de4c",
    "sha256:75001c6ce58421152c27d51a38707c76b0d0eacefa5560aeac81ab5ede38f2a9",
    "sha256:d9a2f52c0c80f8bbf2f39d25bdbe1c92d1349d1a873b5e4520507622339b4bf9",
    "sha256:baad6466b55c1145c63702563d17f4fe04e3aa615e03c5b9357179fdda9c6115",
    "sha256:f3a32cc2c4407274fb3c8ed91d3dca55b7a0d0ea077a3ea03dd3145386f36625",
];
