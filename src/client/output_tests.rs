//! Unit tests of `output.rs`, kept apart so the parser stays readable.

use super::*;

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(s: &str) -> ExportSpec {
    ExportSpec::parse(s).expect("valid output")
}

fn resolve(outputs: &[&str], push: bool, load: bool, tags: &[&str]) -> Vec<ExportSpec> {
    try_resolve(outputs, push, load, tags).expect("valid flags")
}

fn try_resolve(
    outputs: &[&str],
    push: bool,
    load: bool,
    tags: &[&str],
) -> Result<Vec<ExportSpec>, OutputError> {
    resolve_exports(&OutputFlags {
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        push,
        load,
        tags: tags.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn directory_shorthand_is_local() {
    let s = parse("out/dir");
    assert_eq!(s.kind, ExporterKind::Local);
    assert!(s.attrs.is_empty());
    assert_eq!(s.target, ExportTarget::Directory("out/dir".into()));
}

#[test]
fn dash_shorthand_is_tar_to_stdout() {
    let s = parse("-");
    assert_eq!(s.kind, ExporterKind::Tar);
    assert_eq!(s.target, ExportTarget::Stdout);
}

#[test]
fn quoted_single_field_is_not_a_shorthand() {
    // buildx only takes the shorthand when the field equals the raw input.
    assert_eq!(
        ExportSpec::parse(r#""out""#),
        Err(OutputError::InvalidField {
            field: "out".into()
        })
    );
}

#[test]
fn image_with_attrs() {
    let s = parse("type=image,name=a/b:1,push=true,compression=zstd");
    assert_eq!(s.kind, ExporterKind::Image);
    assert_eq!(
        s.attrs,
        attrs(&[("name", "a/b:1"), ("push", "true"), ("compression", "zstd")])
    );
    assert_eq!(s.target, ExportTarget::None);
    assert!(s.pushes());
}

#[test]
fn registry_is_image_with_push() {
    let s = parse("type=registry,name=localhost:5000/app");
    assert_eq!(s.kind, ExporterKind::Image);
    assert_eq!(
        s.attrs,
        attrs(&[("name", "localhost:5000/app"), ("push", "true")])
    );
}

#[test]
fn registry_overrides_explicit_push_false() {
    let s = parse("type=registry,name=r/a,push=false");
    assert_eq!(s.attrs.get("push").map(String::as_str), Some("true"));
}

#[test]
fn quoted_value_with_commas() {
    let s = parse(r#"type=image,"name=r/a:1,r/a:latest",push=true"#);
    assert_eq!(
        s.attrs.get("name").map(String::as_str),
        Some("r/a:1,r/a:latest")
    );
}

#[test]
fn keys_are_trimmed_and_lowercased_values_kept() {
    let s = parse("type=image, Name=Foo Bar");
    assert_eq!(s.attrs, attrs(&[("name", "Foo Bar")]));
}

#[test]
fn unknown_attrs_pass_through() {
    let s = parse("type=image,annotation.org.opencontainers.image.title=x,foo=bar");
    assert_eq!(s.to_pb().attrs.get("foo").map(String::as_str), Some("bar"));
    assert_eq!(s.attrs.len(), 2);
}

#[test]
fn local_with_dest() {
    let s = parse("type=local,dest=./out,platform-split=false");
    assert_eq!(s.kind, ExporterKind::Local);
    assert_eq!(s.attrs, attrs(&[("platform-split", "false")]));
    assert_eq!(s.target, ExportTarget::Directory("./out".into()));
}

#[test]
fn local_needs_a_directory() {
    assert_eq!(
        ExportSpec::parse("type=local"),
        Err(OutputError::MissingDest {
            kind: ExporterKind::Local
        })
    );
    assert_eq!(
        ExportSpec::parse("type=local,dest="),
        Err(OutputError::MissingDest {
            kind: ExporterKind::Local
        })
    );
    assert_eq!(
        ExportSpec::parse("type=local,dest=-"),
        Err(OutputError::StdoutNotSupported {
            kind: ExporterKind::Local
        })
    );
}

#[test]
fn tar_oci_default_to_stdout_docker_to_engine() {
    assert_eq!(parse("type=tar").target, ExportTarget::Stdout);
    assert_eq!(parse("type=oci").target, ExportTarget::Stdout);
    assert_eq!(parse("type=docker").target, ExportTarget::DockerLoad);
    assert_eq!(parse("type=docker,dest=-").target, ExportTarget::Stdout);
}

#[test]
fn file_destinations() {
    for ty in ["tar", "oci", "docker"] {
        let s = parse(&format!("type={ty},dest=out/img.tar"));
        assert_eq!(s.target, ExportTarget::File("out/img.tar".into()));
        assert!(!s.attrs.contains_key("dest"), "dest stays client side");
    }
}

#[test]
fn oci_layout_directory_with_tar_false() {
    let s = parse("type=oci,dest=layout,tar=false");
    assert_eq!(s.target, ExportTarget::OciLayout("layout".into()));
    assert_eq!(s.attrs, attrs(&[("tar", "false")]));
    assert_eq!(
        ExportSpec::parse("type=docker,tar=false"),
        Err(OutputError::MissingDest {
            kind: ExporterKind::Docker
        })
    );
    assert_eq!(
        ExportSpec::parse("type=oci,tar=false,dest=-"),
        Err(OutputError::StdoutNotSupported {
            kind: ExporterKind::Oci
        })
    );
}

#[test]
fn dest_rejected_where_nothing_is_written_locally() {
    assert_eq!(
        ExportSpec::parse("type=image,dest=x"),
        Err(OutputError::DestNotSupported {
            kind: ExporterKind::Image
        })
    );
    assert_eq!(
        ExportSpec::parse("type=cacheonly,dest=x"),
        Err(OutputError::DestNotSupported {
            kind: ExporterKind::CacheOnly
        })
    );
}

#[test]
fn cacheonly_parses() {
    let s = parse("type=cacheonly");
    assert_eq!(s.kind, ExporterKind::CacheOnly);
    assert_eq!(s.target, ExportTarget::None);
}

#[test]
fn malformed_inputs() {
    assert_eq!(ExportSpec::parse(""), Err(OutputError::Empty));
    assert_eq!(
        ExportSpec::parse("type=image,push"),
        Err(OutputError::InvalidField {
            field: "push".into()
        })
    );
    assert_eq!(
        ExportSpec::parse("type=image,=x"),
        Err(OutputError::InvalidField { field: "=x".into() })
    );
    assert_eq!(
        ExportSpec::parse("name=a,push=true"),
        Err(OutputError::MissingType {
            input: "name=a,push=true".into()
        })
    );
    assert_eq!(
        ExportSpec::parse("type=,name=a"),
        Err(OutputError::MissingType {
            input: "type=,name=a".into()
        })
    );
    assert_eq!(
        ExportSpec::parse("type=s3"),
        Err(OutputError::UnknownType { ty: "s3".into() })
    );
    assert!(matches!(
        ExportSpec::parse(r#"type=image,name=a"b"#),
        Err(OutputError::Csv(CsvError::BareQuote { .. }))
    ));
    assert!(matches!(
        ExportSpec::parse(r#"type=image,"name=a"#),
        Err(OutputError::Csv(CsvError::Quote { .. }))
    ));
}

#[test]
fn duplicate_keys() {
    for (input, key) in [
        ("type=image,name=a,name=b", "name"),
        ("type=image,NAME=a,name=b", "name"),
        ("type=image,type=local", "type"),
        ("type=tar,dest=a,dest=b", "dest"),
    ] {
        assert_eq!(
            ExportSpec::parse(input),
            Err(OutputError::DuplicateKey {
                key: key.into(),
                input: input.into()
            }),
            "{input}"
        );
    }
}

#[test]
fn bool_attrs_use_go_parse_bool() {
    for v in [
        "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False",
    ] {
        let s = parse(&format!("type=image,name=a,push={v}"));
        assert_eq!(s.attrs.get("push").map(String::as_str), Some(v));
    }
    assert_eq!(
        ExportSpec::parse("type=image,name=a,push=yes"),
        Err(OutputError::InvalidBool {
            key: "push".into(),
            value: "yes".into()
        })
    );
    assert_eq!(
        ExportSpec::parse("type=oci,tar=nope"),
        Err(OutputError::InvalidBool {
            key: "tar".into(),
            value: "nope".into()
        })
    );
}

#[test]
fn to_pb_carries_type_and_attrs() {
    let pb = parse("type=registry,name=r/a").to_pb();
    assert_eq!(pb.r#type, "image");
    assert_eq!(pb.attrs.len(), 2);
    assert_eq!(pb.attrs.get("push").map(String::as_str), Some("true"));
    assert_eq!(pb.attrs.get("name").map(String::as_str), Some("r/a"));
    let pb = parse("type=local,dest=out").to_pb();
    assert_eq!(pb.r#type, "local");
    assert!(pb.attrs.is_empty());
}

#[test]
fn no_flags_no_exports() {
    assert!(resolve(&[], false, false, &[]).is_empty());
}

#[test]
fn push_alone_with_tags() {
    let specs = resolve(&[], true, false, &["r/app:1", "r/app:latest"]);
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].kind, ExporterKind::Image);
    assert_eq!(
        specs[0].attrs,
        attrs(&[("name", "r/app:1,r/app:latest"), ("push", "true")])
    );
}

#[test]
fn push_alone_without_tag_is_an_error() {
    assert_eq!(
        try_resolve(&[], true, false, &[]),
        Err(OutputError::TagRequiredForPush)
    );
    assert_eq!(
        try_resolve(&["type=registry"], false, false, &[]),
        Err(OutputError::TagRequiredForPush)
    );
    assert_eq!(
        try_resolve(&["type=image,name=,push=true"], false, false, &[]),
        Err(OutputError::TagRequiredForPush)
    );
}

#[test]
fn push_with_named_output_needs_no_tag() {
    let specs = resolve(&["type=image,name=r/a"], true, false, &[]);
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].attrs, attrs(&[("name", "r/a"), ("push", "true")]));
}

#[test]
fn push_sets_push_on_every_image_output_only() {
    let specs = resolve(
        &[
            "type=image,name=a,push=false",
            "type=local,dest=o",
            "type=image,name=b",
        ],
        true,
        false,
        &[],
    );
    assert_eq!(specs.len(), 3);
    assert!(specs[0].pushes());
    assert!(!specs[1].attrs.contains_key("push"));
    assert!(specs[2].pushes());
}

#[test]
fn push_next_to_a_non_image_output_adds_one() {
    let specs = resolve(&["type=local,dest=o"], true, false, &["r/a"]);
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[1].kind, ExporterKind::Image);
    assert_eq!(specs[1].attrs, attrs(&[("name", "r/a"), ("push", "true")]));
}

#[test]
fn load_adds_docker_output() {
    let specs = resolve(&[], false, true, &["app:dev"]);
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].kind, ExporterKind::Docker);
    assert_eq!(specs[0].target, ExportTarget::DockerLoad);
    assert_eq!(specs[0].attrs, attrs(&[("name", "app:dev")]));
}

#[test]
fn load_is_not_doubled_by_an_explicit_docker_load() {
    let specs = resolve(&["type=docker"], false, true, &[]);
    assert_eq!(specs.len(), 1);
    // A docker tarball written to a file does not count as a load.
    let specs = resolve(&["type=docker,dest=x.tar"], false, true, &[]);
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[1].target, ExportTarget::DockerLoad);
}

#[test]
fn push_and_load_together() {
    let specs = resolve(&[], true, true, &["r/a:1"]);
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0].kind, ExporterKind::Image);
    assert!(specs[0].pushes());
    assert_eq!(specs[1].kind, ExporterKind::Docker);
    for s in &specs {
        assert_eq!(s.attrs.get("name").map(String::as_str), Some("r/a:1"));
    }
}

#[test]
fn tags_replace_names_on_image_oci_docker_only() {
    let specs = resolve(
        &[
            "type=image,name=old",
            "type=oci,dest=o.tar",
            "type=docker,dest=d.tar",
            "type=tar,dest=t.tar",
            "type=local,dest=dir",
        ],
        false,
        false,
        &["new:1", "new:2"],
    );
    let names: Vec<_> = specs.iter().map(|s| s.attrs.get("name").cloned()).collect();
    assert_eq!(
        names,
        [
            Some("new:1,new:2".to_string()),
            Some("new:1,new:2".to_string()),
            Some("new:1,new:2".to_string()),
            None,
            None
        ]
    );
}

#[test]
fn cacheonly_is_dropped() {
    let specs = resolve(&["type=cacheonly"], false, false, &["a"]);
    assert!(specs.is_empty());
}

#[test]
fn two_stdout_outputs_conflict() {
    assert_eq!(
        try_resolve(&["-", "type=oci"], false, false, &[]),
        Err(OutputError::MultipleStdout)
    );
    assert_eq!(
        try_resolve(
            &["type=tar,dest=-", "type=docker,dest=-"],
            false,
            false,
            &[]
        ),
        Err(OutputError::MultipleStdout)
    );
}

#[test]
fn outputs_keep_their_order() {
    let specs = resolve(&["type=local,dest=a", "-"], false, false, &[]);
    assert_eq!(specs[0].kind, ExporterKind::Local);
    assert_eq!(specs[1].kind, ExporterKind::Tar);
}

#[test]
fn bad_output_among_many_fails_all() {
    assert_eq!(
        try_resolve(&["type=local,dest=a", ""], false, false, &[]),
        Err(OutputError::Empty)
    );
}

#[test]
fn tag_validation() {
    for ok in [
        "app",
        "app:1.0",
        "r/app:latest",
        "localhost:5000/app",
        "localhost:5000/ns/app:v1_2-3",
        "Registry.Example.COM/ns/app",
        "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "r/app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        assert_eq!(validate_tag(ok), Ok(()), "{ok}");
    }
    for (bad, reason) in [
        ("", "empty reference"),
        ("my app", "contains whitespace"),
        ("App", "repository name must be lowercase"),
        ("r/App:1", "repository name must be lowercase"),
        ("app:", "invalid tag format"),
        ("app:-x", "invalid tag format"),
        ("app:a+b", "invalid tag format"),
        ("r//app", "invalid reference format"),
        ("app@sha256:xyz", "invalid digest"),
        ("app!", "invalid reference format"),
    ] {
        assert_eq!(
            validate_tag(bad),
            Err(OutputError::InvalidTag {
                tag: bad.into(),
                reason
            }),
            "{bad}"
        );
    }
    assert!(matches!(
        try_resolve(&[], true, false, &["Bad Tag"]),
        Err(OutputError::InvalidTag { .. })
    ));
}

#[test]
fn docker_engine_adaptation() {
    let specs = resolve(
        &[
            "type=image,name=a",
            "type=docker",
            "type=docker,dest=x.tar",
            "type=local,dest=d",
        ],
        false,
        false,
        &[],
    );
    let adapted = adapt_for_docker_engine(specs).expect("adaptable");
    let kinds: Vec<_> = adapted.iter().map(|s| (s.kind, s.target.clone())).collect();
    assert_eq!(
        kinds,
        [
            (ExporterKind::Moby, ExportTarget::None),
            (ExporterKind::Moby, ExportTarget::None),
            (ExporterKind::Docker, ExportTarget::File("x.tar".into())),
            (ExporterKind::Local, ExportTarget::Directory("d".into())),
        ]
    );
    assert_eq!(adapted[0].to_pb().r#type, "moby");
    let by_digest = resolve(
        &["type=image,name=a,push=true,push-by-digest=true"],
        false,
        false,
        &[],
    );
    let kept = adapt_for_docker_engine(by_digest).unwrap();
    assert_eq!(kept[0].kind, ExporterKind::Image);
    assert_eq!(kept[0].to_pb().r#type, "image");
}

#[test]
fn errors_render_for_users() {
    assert_eq!(
        OutputError::MissingDest {
            kind: ExporterKind::Local
        }
        .to_string(),
        "dest is required for local exporter"
    );
    assert_eq!(
        OutputError::TagRequiredForPush.to_string(),
        "tag is needed when pushing to registry"
    );
}
