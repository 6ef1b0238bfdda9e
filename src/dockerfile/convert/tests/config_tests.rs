//! The image config and history, compared with what BuildKit writes.

use super::*;

/// A Dockerfile touching every metadata instruction, and the config JSON
/// BuildKit's `dockerfile2llb` returns for it on linux/arm64 (worked out
/// from convert.go: `withShell`, `commitToHistory`, `%q`/`%v`/`%+v`
/// formatting, `ArgsEscaped` on CMD/ENTRYPOINT, ENTRYPOINT resetting the
/// inherited CMD, labels from `--label` merged last).
#[test]
fn image_config_matches_buildkit() {
    let df = "\
FROM alpine
MAINTAINER me@example.com
ARG VERSION=1.2.3
ENV APP_HOME=/srv/app PATH=/opt/bin:$PATH
LABEL org.opencontainers.image.version=$VERSION \"desc\"=\"a b\"
WORKDIR $APP_HOME
USER 65532:65532
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -qO- localhost:8080/healthz || exit 1
ENTRYPOINT [\"/usr/local/bin/app\"]
CMD serve --port=8080
ONBUILD RUN echo child
SHELL [\"/bin/ash\", \"-c\"]
";
    let mut o = opts(&["linux/arm64"]);
    o.labels.insert("extra".into(), "yes".into());
    let b = run(df, &o).expect("convert").remove(0);
    let got: serde_json::Value =
        serde_json::from_slice(&b.config.to_json().expect("json")).expect("value");
    let path = "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let c = |s: &str| s.to_string();
    let want = serde_json::json!({
        "author": "me@example.com",
        "architecture": "arm64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "1".repeat(64))]},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created_by": "MAINTAINER me@example.com", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "ARG VERSION=1.2.3", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": c(&format!("ENV APP_HOME=/srv/app PATH={path}")), "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "LABEL org.opencontainers.image.version=1.2.3 desc=a b", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "WORKDIR /srv/app", "comment": "buildkit.dockerfile.v0"},
            {"created_by": "USER 65532:65532", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "EXPOSE [53/udp 8080/tcp]", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "VOLUME [/data]", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "STOPSIGNAL SIGTERM", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "HEALTHCHECK &{[\"CMD-SHELL\" \"wget -qO- localhost:8080/healthz || exit 1\"] \"30s\" \"5s\" \"0s\" \"0s\" '\\x03'}", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "ENTRYPOINT [\"/usr/local/bin/app\"]", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "CMD [\"/bin/sh\" \"-c\" \"serve --port=8080\"]", "comment": "buildkit.dockerfile.v0", "empty_layer": true},
            {"created_by": "SHELL [/bin/ash -c]", "comment": "buildkit.dockerfile.v0", "empty_layer": true}
        ],
        "config": {
            "User": "65532:65532",
            "ExposedPorts": {"53/udp": {}, "8080/tcp": {}},
            "Env": [c(&format!("PATH={path}")), "APP_HOME=/srv/app"],
            "Entrypoint": ["/usr/local/bin/app"],
            "Cmd": ["/bin/sh", "-c", "serve --port=8080"],
            "Volumes": {"/data": {}},
            "WorkingDir": "/srv/app",
            "Labels": {"desc": "a b", "extra": "yes", "org.opencontainers.image.version": "1.2.3"},
            "StopSignal": "SIGTERM",
            "ArgsEscaped": true,
            "Healthcheck": {
                "Test": ["CMD-SHELL", "wget -qO- localhost:8080/healthz || exit 1"],
                "Interval": 30_000_000_000i64,
                "Timeout": 5_000_000_000i64,
                "Retries": 3
            },
            "OnBuild": ["RUN echo child"],
            "Shell": ["/bin/ash", "-c"]
        }
    });
    for key in [
        "author",
        "architecture",
        "os",
        "rootfs",
        "history",
        "config",
    ] {
        assert_eq!(got[key], want[key], "field {key}");
    }
    assert_eq!(got, want);
}

#[test]
fn entrypoint_resets_inherited_cmd_and_onbuild_triggers_run() {
    let mut r = FakeResolver::default();
    let mut cfg = base_config(&p("linux/amd64"));
    cfg.config.on_build = vec!["RUN echo from-parent".into()];
    cfg.config.working_dir = "/w".into();
    r.configs
        .insert("docker.io/library/parent:latest".into(), cfg);
    let df = "FROM parent\nENTRYPOINT [\"/app\"]\n";
    let b = run_with(df, &opts(&[]), &r).expect("convert").remove(0);
    assert!(b.config.config.cmd.is_empty());
    assert!(b.config.config.on_build.is_empty());
    let g = graph(&b);
    let ex = execs(&g);
    assert_eq!(meta(&ex[0].0).args, ["/bin/sh", "-c", "echo from-parent"]);
    assert_eq!(meta(&ex[0].0).cwd, "/w");
    assert_eq!(custom_name(&ex[0].1), "[2/2] ONBUILD RUN echo from-parent");

    // ONBUILD in a stage fires in the stages built on it.
    let df = "FROM alpine AS base\nONBUILD RUN echo trig\nFROM base\nCMD x\n";
    let b = one(df);
    let ex = execs(&graph(&b));
    assert_eq!(
        meta(&ex[0].0).args.last().map(String::as_str),
        Some("echo trig")
    );
    // CMD after ENTRYPOINT in the same stage stays.
    let b = one("FROM alpine\nCMD [\"a\"]\nENTRYPOINT [\"b\"]\n");
    assert_eq!(b.config.config.cmd, ["a"]);
}

#[test]
fn scratch_config_and_implicit_platform() {
    let b = run("FROM scratch\nCOPY a /\n", &opts(&[]))
        .expect("convert")
        .remove(0);
    assert_eq!(b.platform, p("linux/amd64"));
    assert_eq!(b.config.os, "linux");
    assert_eq!(b.config.architecture, "amd64");
    assert_eq!(b.config.config.working_dir, "/");
    let arm = run("FROM scratch\n", &opts(&["linux/arm/v7"]))
        .expect("convert")
        .remove(0);
    assert_eq!(
        (
            arm.config.architecture.as_str(),
            arm.config.variant.as_str()
        ),
        ("arm", "v7")
    );
}

/// BuildKit sorts EXPOSE's words before expanding them and lists the
/// ports in that order, duplicates included (seen in the conformance
/// test: `EXPOSE 80 53/udp ${PORT}/tcp` → `[8080/tcp 53/udp 80/tcp]`).
#[test]
fn expose_history_keeps_the_sorted_word_order() {
    let df = "FROM alpine\nARG PORT=8080\nEXPOSE 80 53/udp ${PORT}/tcp 80\n";
    let b = run(df, &opts(&["linux/amd64"])).expect("convert").remove(0);
    let last = b.config.history.last().expect("history");
    assert_eq!(last.created_by, "EXPOSE [8080/tcp 53/udp 80/tcp 80/tcp]");
    let ports: Vec<&String> = b.config.config.exposed_ports.iter().collect();
    assert_eq!(ports, ["53/udp", "80/tcp", "8080/tcp"]);
}
