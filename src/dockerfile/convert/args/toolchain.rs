//! crossbuild's cross toolchain args: a deliberate extension of BuildKit's
//! automatic platform args.
//!
//! A `FROM --platform=$BUILDPLATFORM` stage that cross-compiles needs the
//! target's names in each tool's own spelling (Rust and GNU triples, Go's
//! `GOARCH`/`GOARM`, Debian's architecture), and every Dockerfile that does
//! this today carries its own fragile `case $TARGETARCH in ...` table. These
//! args give those names ready-made, for the target and the build platform.
//!
//! Naming: `TARGET_<TOOL>_<THING>` / `BUILD_<TOOL>_<THING>`. BuildKit's own
//! names (`TARGETARCH`, `BUILDOS`, ...) never contain an underscore, so the
//! underscore keeps ours out of the namespace BuildKit may grow into, and
//! prefixing (rather than plain `GOARCH`, `CC`) keeps them from shadowing the
//! variables the tools themselves read. Like the platform args they are only
//! in a stage's environment when the stage declares them with `ARG`, and a
//! `--build-arg` or an `ARG` default of the same name wins.

use crate::platform::{Platform, Toolchain};

/// The toolchain names of one platform under `prefix` (`TARGET` or
/// `BUILD`), in a fixed order. A platform crossbuild has no toolchain table
/// for gets empty triples and Debian arch; the Go names are always set
/// because OCI platforms already use Go's `GOOS`/`GOARCH` spelling.
pub(super) fn toolchain_args(prefix: &str, platform: &Platform) -> Vec<(String, String)> {
    let table = toolchain_of(platform);
    let from_table = |pick: fn(&Toolchain) -> &'static str| {
        table.as_ref().map(pick).unwrap_or_default().to_string()
    };
    let variant = platform.variant.as_deref().unwrap_or_default();
    let goarm = match platform.architecture.as_str() {
        // Go wants `7`, the OCI variant is `v7`.
        "arm" => variant.trim_start_matches('v').to_string(),
        _ => String::new(),
    };
    let goamd64 = match platform.architecture.as_str() {
        // Go's own default level when the platform names none.
        "amd64" if variant.is_empty() => "v1".to_string(),
        "amd64" => variant.to_string(),
        _ => String::new(),
    };
    [
        ("RUST_TRIPLE", from_table(|t| t.rust_triple)),
        ("RUST_TRIPLE_MUSL", from_table(|t| t.rust_triple_musl)),
        ("GNU_TRIPLE", from_table(|t| t.gnu_triple)),
        ("GOOS", platform.os.clone()),
        ("GOARCH", platform.architecture.clone()),
        ("GOARM", goarm),
        ("GOAMD64", goamd64),
        ("DEBIAN_ARCH", from_table(|t| t.debian_arch)),
    ]
    .into_iter()
    .map(|(name, value)| (format!("{prefix}_{name}"), value))
    .collect()
}

/// The toolchain table row for `platform`. amd64 and arm64 variants only
/// raise the instruction-set level of one ABI (`amd64/v3` is still
/// `x86_64-linux-gnu`), so they fall back to the plain architecture; arm
/// variants change the ABI and do not.
fn toolchain_of(platform: &Platform) -> Option<Toolchain> {
    if let Ok(t) = platform.toolchain() {
        return Some(t);
    }
    if matches!(platform.architecture.as_str(), "amd64" | "arm64") && platform.variant.is_some() {
        let base = Platform {
            variant: None,
            ..platform.clone()
        };
        return base.toolchain().ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::convert::tests::{env_of, execs, graph, opts, run};

    fn get(args: &[(String, String)], key: &str) -> String {
        args.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{key} missing"))
    }

    fn p(s: &str) -> Platform {
        s.parse().expect("platform")
    }

    #[test]
    fn names_per_platform() {
        #[rustfmt::skip]
        let cases = [
            ("linux/amd64", ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "x86_64-linux-gnu", "linux", "amd64", "", "v1", "amd64"]),
            ("linux/amd64/v3", ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "x86_64-linux-gnu", "linux", "amd64", "", "v3", "amd64"]),
            ("linux/arm64", ["aarch64-unknown-linux-gnu", "aarch64-unknown-linux-musl", "aarch64-linux-gnu", "linux", "arm64", "", "", "arm64"]),
            ("linux/arm/v7", ["armv7-unknown-linux-gnueabihf", "armv7-unknown-linux-musleabihf", "arm-linux-gnueabihf", "linux", "arm", "7", "", "armhf"]),
            ("linux/arm/v6", ["arm-unknown-linux-gnueabi", "arm-unknown-linux-musleabihf", "arm-linux-gnueabi", "linux", "arm", "6", "", "armel"]),
            ("linux/riscv64", ["riscv64gc-unknown-linux-gnu", "riscv64gc-unknown-linux-musl", "riscv64-linux-gnu", "linux", "riscv64", "", "", "riscv64"]),
            ("linux/ppc64le", ["powerpc64le-unknown-linux-gnu", "powerpc64le-unknown-linux-musl", "powerpc64le-linux-gnu", "linux", "ppc64le", "", "", "ppc64el"]),
            ("linux/s390x", ["s390x-unknown-linux-gnu", "s390x-unknown-linux-musl", "s390x-linux-gnu", "linux", "s390x", "", "", "s390x"]),
            // No table row: the triples stay empty, Go's names do not.
            ("linux/arm/v5", ["", "", "", "linux", "arm", "5", "", ""]),
            ("windows/amd64", ["", "", "", "windows", "amd64", "", "v1", ""]),
        ];
        let keys = [
            "RUST_TRIPLE",
            "RUST_TRIPLE_MUSL",
            "GNU_TRIPLE",
            "GOOS",
            "GOARCH",
            "GOARM",
            "GOAMD64",
            "DEBIAN_ARCH",
        ];
        for (spec, want) in cases {
            let args = toolchain_args("TARGET", &p(spec));
            assert_eq!(args.len(), keys.len(), "{spec}");
            for (key, value) in keys.iter().zip(want) {
                assert_eq!(get(&args, &format!("TARGET_{key}")), value, "{spec} {key}");
            }
        }
        assert_eq!(
            get(
                &toolchain_args("BUILD", &p("linux/amd64")),
                "BUILD_GNU_TRIPLE"
            ),
            "x86_64-linux-gnu"
        );
    }

    #[test]
    fn declared_args_reach_the_stage_and_undeclared_do_not() {
        let df = "\
FROM --platform=$BUILDPLATFORM busybox AS cross
ARG TARGET_GNU_TRIPLE TARGET_GOARCH TARGET_GOARM BUILD_RUST_TRIPLE
RUN echo $TARGET_GNU_TRIPLE
FROM busybox
RUN echo $TARGET_GNU_TRIPLE
";
        let mut o = opts(&["linux/arm64", "linux/arm/v7"]);
        o.target = Some("cross".to_string());
        let builds = run(df, &o).expect("convert");
        let envs: Vec<Vec<String>> = builds
            .iter()
            .map(|b| env_of(&execs(&graph(b))[0].0))
            .collect();
        assert!(envs[0].contains(&"TARGET_GNU_TRIPLE=aarch64-linux-gnu".to_string()));
        assert!(envs[0].contains(&"TARGET_GOARM=".to_string()));
        assert!(envs[1].contains(&"TARGET_GNU_TRIPLE=arm-linux-gnueabihf".to_string()));
        assert!(envs[1].contains(&"TARGET_GOARCH=arm".to_string()));
        assert!(envs[1].contains(&"TARGET_GOARM=7".to_string()));
        assert!(envs[1].contains(&"BUILD_RUST_TRIPLE=x86_64-unknown-linux-gnu".to_string()));

        // The last stage declares nothing, so sees nothing.
        let builds = run(df, &opts(&["linux/arm64"])).expect("convert");
        let env = env_of(&execs(&graph(&builds[0]))[0].0);
        assert!(!env.iter().any(|e| e.starts_with("TARGET_")), "{env:?}");
    }

    #[test]
    fn build_args_and_defaults_win() {
        let df = "FROM busybox\nARG TARGET_GOARCH\nARG TARGET_GOOS=plan9\nRUN echo\n";
        let mut o = opts(&["linux/arm64"]);
        o.build_args
            .insert("TARGET_GOARCH".to_string(), "mine".to_string());
        let builds = run(df, &o).expect("convert");
        let env = env_of(&execs(&graph(&builds[0]))[0].0);
        assert!(env.contains(&"TARGET_GOARCH=mine".to_string()), "{env:?}");
        assert!(env.contains(&"TARGET_GOOS=plan9".to_string()), "{env:?}");
    }
}
