//! Unit tests of `platform`: parsing, normalisation, formatting and toolchain names.

use super::*;

fn p(s: &str) -> Platform {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn normalises_like_containerd() {
    let cases = [
        ("arm64", "linux/arm64"),
        ("linux/arm64", "linux/arm64"),
        ("aarch64", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("arm64/v8", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64"),
        ("linux/arm64/v8.0", "linux/arm64"),
        ("linux/arm64/9", "linux/arm64/v9"),
        ("linux/arm64/8.2", "linux/arm64/v8.2"),
        // Found by fuzzing (fuzz/artifacts/platform): `8.0` became `v8.0`,
        // which printed and parsed again as `linux/arm64`.
        ("arm64/8.0", "linux/arm64"),
        ("linux/arm64/9.0", "linux/arm64/v9"),
        ("arm", "linux/arm/v7"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/arm/5", "linux/arm/v5"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("armhf", "linux/arm/v7"),
        ("armel", "linux/arm/v6"),
        ("x86_64", "linux/amd64"),
        ("x86-64", "linux/amd64"),
        ("amd64/v1", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("i386", "linux/386"),
        ("i686", "linux/386"),
        ("linux/i386", "linux/386"),
        ("LINUX/ARM64", "linux/arm64"),
        ("Linux/X86_64", "linux/amd64"),
        ("linux/ARM/V7", "linux/arm/v7"),
        ("  linux/riscv64 ", "linux/riscv64"),
        ("ppc64el", "linux/ppc64le"),
        ("mips64el", "linux/mips64le"),
        ("loongarch64", "linux/loong64"),
        ("linux/s390x", "linux/s390x"),
        ("macos/arm64", "darwin/arm64"),
        ("windows(10.0.17763)/amd64", "windows(10.0.17763)/amd64"),
    ];
    for (input, want) in cases {
        assert_eq!(p(input).to_string(), want, "input {input:?}");
        assert_eq!(p(input).normalized_id(), want);
        // What is printed parses to itself.
        assert_eq!(p(want).to_string(), want, "input {input:?}");
    }
}

#[test]
fn lone_os_takes_host_arch() {
    let host = Platform::host();
    let linux = p("linux");
    assert_eq!(linux.os, "linux");
    assert_eq!(linux.architecture, host.architecture);
    assert_eq!(linux.variant, host.variant);
}

#[test]
fn fields_are_split() {
    let v7 = p("linux/arm/v7");
    assert_eq!((v7.os.as_str(), v7.architecture.as_str()), ("linux", "arm"));
    assert_eq!(v7.variant.as_deref(), Some("v7"));
    let win = p("windows(10.0)/amd64");
    assert_eq!(win.os_version.as_deref(), Some("10.0"));
    assert_eq!(
        Platform::new("linux", "aarch64", Some("v8")),
        Ok(p("linux/arm64"))
    );
}

#[test]
fn every_error_message() {
    let cases = [
        ("", "empty platform specifier; expected os/arch[/variant], e.g. linux/arm64"),
        (
            "linux/a b",
            "invalid platform \"linux/a b\": part \"a b\" may only contain letters, digits, '_', '.' and '-'",
        ),
        (
            "linux//v7",
            "invalid platform \"linux//v7\": part \"\" may only contain letters, digits, '_', '.' and '-'",
        ),
        ("foo", "unknown operating system or architecture \"foo\"; expected e.g. linux/amd64 or arm64"),
        ("beos/amd64", "unknown operating system \"beos\" in platform \"beos/amd64\""),
        ("linux/z80", "unknown architecture \"z80\" in platform \"linux/z80\""),
        (
            "linux/arm/v7/extra",
            "invalid platform \"linux/arm/v7/extra\": too many parts, expected os/arch[/variant]",
        ),
        ("windows(10/amd64", "invalid platform \"windows(10/amd64\": unclosed '(' in OS version"),
    ];
    for (input, want) in cases {
        let err = input.parse::<Platform>().expect_err(input);
        assert_eq!(err.to_string(), want, "input {input:?}");
    }
    assert_eq!(
        Platform::parse_list("linux/amd64,,linux/arm64")
            .expect_err("list")
            .to_string(),
        "empty platform in list \"linux/amd64,,linux/arm64\""
    );
    assert_eq!(
        p("linux/sparc64")
            .toolchain()
            .expect_err("sparc")
            .to_string(),
        format!("no cross toolchain known for platform linux/sparc64; supported: {SUPPORTED_LIST}")
    );
}

#[test]
fn parse_list_trims_dedups_and_keeps_order() {
    let list = Platform::parse_list(" linux/arm64 , linux/amd64,aarch64,x86_64, linux/arm/v7")
        .expect("list");
    let ids: Vec<String> = list.iter().map(Platform::to_string).collect();
    assert_eq!(ids, ["linux/arm64", "linux/amd64", "linux/arm/v7"]);
    assert_eq!(Platform::parse_list("  "), Err(PlatformError::Empty));
    assert_eq!(
        Platform::parse_list("linux/amd64,"),
        Err(PlatformError::EmptyListEntry("linux/amd64,".into()))
    );
    assert!(matches!(
        Platform::parse_list("linux/amd64,foo"),
        Err(PlatformError::UnknownOsOrArch(_))
    ));
}

#[test]
fn host_mapping() {
    assert_eq!(host_arch("x86_64"), ("amd64", None));
    assert_eq!(host_arch("x86"), ("386", None));
    assert_eq!(host_arch("aarch64"), ("arm64", None));
    assert_eq!(host_arch("arm"), ("arm", Some("v7")));
    assert_eq!(host_arch("riscv64"), ("riscv64", None));
    assert_eq!(host_arch("s390x"), ("s390x", None));
    assert_eq!(host_arch("loongarch64"), ("loong64", None));
    let host = Platform::host();
    assert_eq!(host.os, "linux");
    // The host platform survives its own round trip through the parser.
    assert_eq!(p(&host.to_string()), host);
}

#[test]
fn pb_round_trip() {
    let v7 = p("linux/arm/v7");
    let pbp = v7.to_pb();
    assert_eq!(
        (
            pbp.os.as_str(),
            pbp.architecture.as_str(),
            pbp.variant.as_str()
        ),
        ("linux", "arm", "v7")
    );
    assert_eq!(Platform::from_pb(&pbp), Ok(v7));
    let amd = p("linux/amd64").to_pb();
    assert_eq!(amd.variant, "");
    assert_eq!(Platform::from_pb(&amd), Ok(p("amd64")));
}

#[test]
fn toolchain_table() {
    let amd64 = p("linux/amd64");
    #[rustfmt::skip]
    let cases: [(&str, [&str; 6], Option<&str>, &str); 10] = [
        ("linux/amd64", ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "x86_64-linux-gnu", "amd64", "amd64", "x86_64"], None, "amd64"),
        ("linux/386", ["i686-unknown-linux-gnu", "i686-unknown-linux-musl", "i686-linux-gnu", "386", "i386", "i386"], None, "386"),
        ("linux/arm64", ["aarch64-unknown-linux-gnu", "aarch64-unknown-linux-musl", "aarch64-linux-gnu", "arm64", "arm64", "aarch64"], None, "arm64"),
        ("linux/arm/v6", ["arm-unknown-linux-gnueabi", "arm-unknown-linux-musleabihf", "arm-linux-gnueabi", "arm", "armel", "arm"], Some("6"), "arm/v6"),
        ("linux/arm/v7", ["armv7-unknown-linux-gnueabihf", "armv7-unknown-linux-musleabihf", "arm-linux-gnueabihf", "arm", "armhf", "arm"], Some("7"), "arm/v7"),
        ("linux/riscv64", ["riscv64gc-unknown-linux-gnu", "riscv64gc-unknown-linux-musl", "riscv64-linux-gnu", "riscv64", "riscv64", "riscv64"], None, "riscv64"),
        ("linux/ppc64le", ["powerpc64le-unknown-linux-gnu", "powerpc64le-unknown-linux-musl", "powerpc64le-linux-gnu", "ppc64le", "ppc64el", "ppc64le"], None, "ppc64le"),
        ("linux/s390x", ["s390x-unknown-linux-gnu", "s390x-unknown-linux-musl", "s390x-linux-gnu", "s390x", "s390x", "s390x"], None, "s390x"),
        ("linux/mips64le", ["mips64el-unknown-linux-gnuabi64", "mips64el-unknown-linux-muslabi64", "mips64el-linux-gnuabi64", "mips64le", "mips64el", "mips64el"], None, "mips64le"),
        ("linux/loong64", ["loongarch64-unknown-linux-gnu", "loongarch64-unknown-linux-musl", "loongarch64-linux-gnu", "loong64", "loong64", "loongarch64"], None, "loong64"),
    ];
    for (spec, [rust, musl, gnu, goarch, debian, qemu], goarm, _) in cases {
        let t = p(spec).toolchain_on(&amd64).expect(spec);
        assert_eq!(t.rust_triple, rust, "{spec}");
        assert_eq!(t.rust_triple_musl, musl, "{spec}");
        assert_eq!(t.gnu_triple, gnu, "{spec}");
        assert_eq!(t.goos, "linux", "{spec}");
        assert_eq!(t.goarch, goarch, "{spec}");
        assert_eq!(t.goarm, goarm, "{spec}");
        assert_eq!(t.debian_arch, debian, "{spec}");
        assert_eq!(t.qemu_binfmt, qemu, "{spec}");
    }
}

#[test]
fn qemu_only_off_the_host_family() {
    let amd64 = p("linux/amd64");
    let arm64 = p("linux/arm64");
    assert_eq!(
        p("linux/amd64").toolchain_on(&amd64).map(|t| t.qemu),
        Ok(None)
    );
    assert_eq!(
        p("linux/386").toolchain_on(&amd64).map(|t| t.qemu),
        Ok(None)
    );
    assert_eq!(
        p("linux/arm64").toolchain_on(&amd64).map(|t| t.qemu),
        Ok(Some("aarch64"))
    );
    assert_eq!(
        p("linux/arm64").toolchain_on(&arm64).map(|t| t.qemu),
        Ok(None)
    );
    assert_eq!(
        p("linux/amd64").toolchain_on(&arm64).map(|t| t.qemu),
        Ok(Some("x86_64"))
    );
    assert_eq!(
        p("linux/arm/v7").toolchain_on(&arm64).map(|t| t.qemu),
        Ok(Some("arm"))
    );
    assert_eq!(
        p("linux/arm/v6")
            .toolchain_on(&p("linux/arm/v7"))
            .map(|t| t.qemu),
        Ok(Some("arm"))
    );
    assert_eq!(
        p("linux/386").toolchain_on(&arm64).map(|t| t.qemu),
        Ok(Some("i386"))
    );
}

#[test]
fn no_toolchain_outside_the_table() {
    for spec in [
        "darwin/arm64",
        "windows/amd64",
        "linux/arm/v5",
        "linux/arm64/v9",
        "linux/ppc64",
    ] {
        assert_eq!(
            p(spec).toolchain(),
            Err(PlatformError::NoToolchain(p(spec).to_string())),
            "{spec}"
        );
    }
}
