use super::*;

/// An ELF header as a linker writes it: `class` 1/2, `data` 1/2.
fn header(class: u8, data: u8, file_type: u16, machine: u16, flags: u32) -> Vec<u8> {
    let mut h = vec![0u8; if class == 1 { 52 } else { 64 }];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = class;
    h[5] = data;
    h[6] = 1; // EI_VERSION
    let put16 = |h: &mut Vec<u8>, at: usize, v: u16| {
        let b = if data == 1 {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        h[at..at + 2].copy_from_slice(&b);
    };
    put16(&mut h, 16, file_type);
    put16(&mut h, 18, machine);
    let flags_at = if class == 1 { 36 } else { 48 };
    let b = if data == 1 {
        flags.to_le_bytes()
    } else {
        flags.to_be_bytes()
    };
    h[flags_at..flags_at + 4].copy_from_slice(&b);
    h
}

fn platform(s: &str) -> Platform {
    s.parse().unwrap()
}

#[test]
fn parses_each_class_and_byte_order() {
    let h = parse_header(&header(2, 1, 2, machine::EM_X86_64, 0)).unwrap();
    assert_eq!(
        (h.class, h.endian, h.file_type, h.machine),
        (Class::Elf64, Endian::Little, 2, 62)
    );
    let h = parse_header(&header(2, 2, 3, machine::EM_S390, 0)).unwrap();
    assert_eq!(
        (h.class, h.endian, h.file_type, h.machine),
        (Class::Elf64, Endian::Big, 3, 22)
    );
    // A 32-bit header is 52 bytes; e_flags sits at 36 there.
    let h = parse_header(&header(1, 1, 2, machine::EM_ARM, 0x0500_0400)).unwrap();
    assert_eq!(
        (h.class, h.machine, h.flags),
        (Class::Elf32, 40, 0x0500_0400)
    );
    let h = parse_header(&header(1, 2, 2, machine::EM_MIPS, 7)).unwrap();
    assert_eq!((h.endian, h.flags), (Endian::Big, 7));
}

#[test]
fn real_headers_from_busybox_static() {
    // The first 20 bytes of Debian's busybox-static for arm64 and s390x, as
    // the daemon returned them from localhost:5000/busybox, padded.
    let mut arm64 = vec![
        0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 183, 0,
    ];
    arm64.resize(64, 0);
    let h = parse_header(&arm64).unwrap();
    assert!(h.matches(&target_for(&platform("linux/arm64")).unwrap()));
    assert!(!h.matches(&target_for(&platform("linux/amd64")).unwrap()));
    let mut s390x = vec![
        0x7f, 0x45, 0x4c, 0x46, 2, 2, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 22,
    ];
    s390x.resize(64, 0);
    let h = parse_header(&s390x).unwrap();
    assert_eq!(h.endian, Endian::Big);
    assert!(h.matches(&target_for(&platform("linux/s390x")).unwrap()));
}

#[test]
fn this_test_binary_matches_the_host_platform() {
    let bytes = std::fs::read("/proc/self/exe").unwrap();
    let h = parse_header(&bytes[..HEADER_LEN]).unwrap();
    let host = Platform::host();
    let target = target_for(&host).expect("the host platform is in the table");
    assert!(h.matches(&target), "{:?} vs {target}", h.target());
}

#[test]
fn every_platform_of_the_examples_has_its_own_identity() {
    let cases = [
        (
            "linux/amd64",
            machine::EM_X86_64,
            Class::Elf64,
            Endian::Little,
        ),
        (
            "linux/arm64",
            machine::EM_AARCH64,
            Class::Elf64,
            Endian::Little,
        ),
        (
            "linux/arm/v7",
            machine::EM_ARM,
            Class::Elf32,
            Endian::Little,
        ),
        (
            "linux/arm/v6",
            machine::EM_ARM,
            Class::Elf32,
            Endian::Little,
        ),
        (
            "linux/riscv64",
            machine::EM_RISCV,
            Class::Elf64,
            Endian::Little,
        ),
        (
            "linux/ppc64le",
            machine::EM_PPC64,
            Class::Elf64,
            Endian::Little,
        ),
        ("linux/s390x", machine::EM_S390, Class::Elf64, Endian::Big),
        ("linux/386", machine::EM_386, Class::Elf32, Endian::Little),
        (
            "linux/amd64/v3",
            machine::EM_X86_64,
            Class::Elf64,
            Endian::Little,
        ),
    ];
    for (p, machine, class, endian) in cases {
        assert_eq!(
            target_for(&platform(p)),
            Some(ElfTarget {
                machine,
                class,
                endian
            }),
            "{p}"
        );
    }
    assert_eq!(target_for(&platform("windows/amd64")), None);
    assert_eq!(target_for(&platform("linux/wasm")), None);
}

#[test]
fn mismatches_of_class_or_byte_order_alone_are_caught() {
    let ppc64le = target_for(&platform("linux/ppc64le")).unwrap();
    let big_endian = parse_header(&header(2, 2, 2, machine::EM_PPC64, 0)).unwrap();
    assert!(
        !big_endian.matches(&ppc64le),
        "ppc64 (BE) in a ppc64le image"
    );
    let riscv32 = parse_header(&header(1, 1, 2, machine::EM_RISCV, 0)).unwrap();
    assert!(!riscv32.matches(&target_for(&platform("linux/riscv64")).unwrap()));
    let i386 = parse_header(&header(1, 1, 2, machine::EM_386, 0)).unwrap();
    assert!(!i386.matches(&target_for(&platform("linux/amd64")).unwrap()));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert_eq!(
        parse_header(b""),
        Err(ElfError::NotElf("nothing: the file is empty".into()))
    );
    assert_eq!(
        parse_header(b"#!/bin/sh\necho"),
        Err(ElfError::NotElf("\"#!/b\"".into()))
    );
    assert_eq!(
        parse_header(&[0x7f, b'E', b'L', b'F', 2, 1]),
        Err(ElfError::Truncated(6))
    );
    let mut h = header(2, 1, 2, 62, 0);
    h[4] = 9;
    assert_eq!(parse_header(&h), Err(ElfError::BadClass(9)));
    let mut h = header(2, 1, 2, 62, 0);
    h[5] = 0;
    assert_eq!(parse_header(&h), Err(ElfError::BadEndian(0)));
    assert_eq!(
        parse_header(&header(2, 1, 2, 62, 0)[..51]),
        Err(ElfError::Truncated(51))
    );
    // Every prefix of a valid header parses or fails cleanly.
    let full = header(2, 2, 2, 22, 1);
    for n in 0..full.len() {
        let _ = parse_header(&full[..n]);
    }
}

#[test]
fn targets_print_like_readelf() {
    let t = target_for(&platform("linux/s390x")).unwrap();
    assert_eq!(t.to_string(), "IBM S/390 (64-bit, big-endian)");
    let t = target_for(&platform("linux/arm/v7")).unwrap();
    assert_eq!(t.to_string(), "ARM (32-bit, little-endian)");
    assert_eq!(machine_name(9999), "machine 9999");
    assert_eq!(
        serde_json::to_value(t).unwrap(),
        serde_json::json!({"machine": 40, "class": "32", "endian": "little"})
    );
}
