//! Unit tests of `build_options.rs`.

use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fake_env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn build_args_with_values_and_from_env() {
    let env = fake_env(&[("HTTP_PROXY", "http://proxy:3128"), ("EMPTY", "")]);
    let args = parse_build_args(
        &strings(&["A=1", "B=x=y", "C=", "HTTP_PROXY", "UNSET", "EMPTY", "A=2"]),
        &env,
    )
    .expect("valid");
    assert_eq!(
        args,
        map(&[
            ("A", "2"),
            ("B", "x=y"),
            ("C", ""),
            ("HTTP_PROXY", "http://proxy:3128"),
            ("EMPTY", ""),
        ])
    );
}

/// buildx passes a non-empty `SOURCE_DATE_EPOCH` from the environment as
/// a build arg, unless `--build-arg SOURCE_DATE_EPOCH` is given.
#[test]
fn source_date_epoch_from_the_environment() {
    let env = |k: &str| (k == "SOURCE_DATE_EPOCH").then(|| "1700000000".to_string());
    let args = parse_build_args(&strings(&["A=1"]), &env).expect("valid");
    assert_eq!(
        args,
        map(&[("A", "1"), ("SOURCE_DATE_EPOCH", "1700000000")])
    );
    let args = parse_build_args(&strings(&["SOURCE_DATE_EPOCH=5"]), &env).expect("valid");
    assert_eq!(args, map(&[("SOURCE_DATE_EPOCH", "5")]));
    let empty = |k: &str| (k == "SOURCE_DATE_EPOCH").then(String::new);
    assert!(parse_build_args(&[], &empty).expect("valid").is_empty());
}

#[test]
fn build_arg_errors() {
    for bad in ["=1", ""] {
        assert!(matches!(
            parse_build_args(&strings(&[bad]), &no_env),
            Err(BuildOptionError::Invalid {
                flag: "--build-arg",
                ..
            })
        ));
    }
}

#[test]
fn labels() {
    assert_eq!(
        parse_labels(&strings(&["a=1", "org.example.b", "c=x=y"])).expect("valid"),
        map(&[("a", "1"), ("org.example.b", ""), ("c", "x=y")])
    );
    assert!(parse_labels(&strings(&["=v"])).is_err());
}

#[test]
fn secrets() {
    let s = |v| parse_secret(v).expect("valid secret");
    assert_eq!(
        s("id=npm,src=/home/u/.npmrc"),
        SecretSpec {
            id: "npm".into(),
            source: SecretSource::File("/home/u/.npmrc".into())
        }
    );
    assert_eq!(s("id=tok,source=f").source, SecretSource::File("f".into()));
    assert_eq!(
        s("id=tok,env=GH_TOKEN").source,
        SecretSource::Env("GH_TOKEN".into())
    );
    assert_eq!(
        s("type=env,id=tok,src=GH_TOKEN").source,
        SecretSource::Env("GH_TOKEN".into())
    );
    assert_eq!(
        s("type=file,id=tok,src=f").source,
        SecretSource::File("f".into())
    );
    assert_eq!(s("id=GH_TOKEN").source, SecretSource::ById);
    assert_eq!(s(r#""id=a,b",src=f"#).id, "a,b");
    assert_eq!(s("ID=x,SRC=f").source, SecretSource::File("f".into()));
}

#[test]
fn secret_errors() {
    assert!(matches!(
        parse_secret(""),
        Err(BuildOptionError::Invalid { .. })
    ));
    assert!(matches!(
        parse_secret("src=f"),
        Err(BuildOptionError::Invalid {
            reason: "id is required",
            ..
        })
    ));
    assert!(matches!(
        parse_secret("id=a,src"),
        Err(BuildOptionError::Invalid { .. })
    ));
    assert_eq!(
        parse_secret("id=a,type=ssh"),
        Err(BuildOptionError::SecretType("ssh".into()))
    );
    assert!(matches!(
        parse_secret("id=a,mode=0400"),
        Err(BuildOptionError::UnknownKey { .. })
    ));
    assert!(matches!(
        parse_secret("id=a,src=f,env=V"),
        Err(BuildOptionError::Invalid {
            reason: "cannot use both src and env",
            ..
        })
    ));
    assert!(matches!(
        parse_secret(r#"id="a"#),
        Err(BuildOptionError::Csv { .. })
    ));
}

#[test]
fn ssh_specs() {
    assert_eq!(
        parse_ssh("default").expect("valid"),
        SshSpec {
            id: "default".into(),
            paths: vec![]
        }
    );
    assert_eq!(
        parse_ssh("gh=/run/agent.sock,/home/u/.ssh/id_ed25519").expect("valid"),
        SshSpec {
            id: "gh".into(),
            paths: vec!["/run/agent.sock".into(), "/home/u/.ssh/id_ed25519".into()]
        }
    );
    assert!(parse_ssh("").is_err());
    assert!(parse_ssh("=path").is_err());
    assert!(parse_ssh("x=a,,b").is_err());
}

#[test]
fn build_contexts() {
    let c = |v| parse_build_context(v).expect("valid context");
    assert_eq!(
        c("base=docker-image://alpine:3.19"),
        (
            "base".into(),
            NamedContext::Value("docker-image://alpine:3.19".into())
        )
    );
    assert_eq!(
        c("docker.io/library/alpine:latest=./vendored"),
        ("alpine".into(), NamedContext::LocalDir("./vendored".into()))
    );
    assert_eq!(c("docker.io/foo/bar=target:x").0, "foo/bar");
    assert_eq!(c("alpine:3.19=dir").0, "alpine:3.19");
    assert_eq!(
        c("src=https://github.com/moby/buildkit.git#v0.12.0").1,
        NamedContext::Value("https://github.com/moby/buildkit.git#v0.12.0".into())
    );
    assert_eq!(
        c("src=git@github.com:moby/buildkit.git").1,
        NamedContext::Value("git@github.com:moby/buildkit.git".into())
    );
    assert_eq!(
        c("img=oci-layout://./layout:v1@sha256:abc").1,
        NamedContext::OciLayout {
            path: "./layout".into(),
            tag: "v1".into(),
            digest: Some("sha256:abc".into())
        }
    );
    assert_eq!(
        c("img=oci-layout:///tmp/layout").1,
        NamedContext::OciLayout {
            path: "/tmp/layout".into(),
            tag: "latest".into(),
            digest: None
        }
    );
}

#[test]
fn build_context_errors() {
    for bad in [
        "noequals",
        "name=",
        "Upper=dir",
        "=dir",
        "a//b=dir",
        "sp ace=dir",
    ] {
        assert!(
            matches!(
                parse_build_context(bad),
                Err(BuildOptionError::Invalid { .. })
            ),
            "{bad}"
        );
    }
    // Values that would fail only on the daemon, without the context's
    // name: refused here, naming it.
    for (bad, expected) in [
        ("ctx=docker-image://", "needs an image reference"),
        ("ctx=docker-image://UPPER", "must be lowercase"),
        ("ctx=https://", "has no host"),
        ("ctx=http:///path", "has no host"),
        ("ctx=https://exa mple.com/x", "white space"),
        ("ctx=target:", "needs a stage name"),
        ("ctx=oci-layout://", "needs a layout directory"),
        ("ctx=oci-layout://@sha256:00", "needs a layout directory"),
    ] {
        let err = parse_build_context(bad).expect_err(bad).to_string();
        assert!(
            err.starts_with("build context \"ctx\": ") && err.contains(expected),
            "{bad}: {err}"
        );
    }
    let (_, url) = parse_build_context("ctx=https://user@example.com:8443/x.tar").unwrap();
    assert_eq!(
        url,
        NamedContext::Value("https://user@example.com:8443/x.tar".into())
    );
}

#[test]
fn build_context_directories_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut request = FrontendOptionsRequest {
        contexts: BTreeMap::from([(
            "ctx".to_string(),
            NamedContext::LocalDir(dir.path().to_path_buf()),
        )]),
        ..Default::default()
    };
    request.check_context_dirs().expect("an existing directory");
    let missing = dir.path().join("missing");
    request
        .contexts
        .insert("ctx".to_string(), NamedContext::LocalDir(missing.clone()));
    let err = request.check_context_dirs().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "build context \"ctx\": {} is not a directory",
            missing.display()
        )
    );
}

#[test]
fn cache_entries() {
    let env = fake_env(&[]);
    let entries = parse_cache_entries(
        &strings(&[
            "user/app:cache",
            "a/b:1,c/d:2",
            "type=registry,ref=r/app:buildcache,mode=max",
            "type=local,src=/tmp/cache",
            "type=local,dest=/tmp/out,mode=max",
            "type=inline",
            "",
        ]),
        &env,
    )
    .expect("valid");
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.ty.as_str(), e.attrs.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("registry", map(&[("ref", "user/app:cache")])),
            ("registry", map(&[("ref", "a/b:1")])),
            ("registry", map(&[("ref", "c/d:2")])),
            (
                "registry",
                map(&[("ref", "r/app:buildcache"), ("mode", "max")])
            ),
            ("local", map(&[("src", "/tmp/cache")])),
            ("local", map(&[("dest", "/tmp/out"), ("mode", "max")])),
            ("inline", map(&[])),
        ]
    );
    let pb = entries[3].to_pb();
    assert_eq!(pb.r#type, "registry");
    assert_eq!(pb.attrs.get("mode").map(String::as_str), Some("max"));
}

#[test]
fn cache_entry_errors() {
    assert!(matches!(
        parse_cache_entries(&strings(&["ref=x"]), &no_env),
        Err(BuildOptionError::Invalid {
            reason: "type is required",
            ..
        })
    ));
    assert!(matches!(
        parse_cache_entries(&strings(&["type=local,src"]), &no_env),
        Err(BuildOptionError::Invalid { .. })
    ));
    assert!(matches!(
        parse_cache_entries(&strings(&[r#"type=local,"src=a"#]), &no_env),
        Err(BuildOptionError::Csv { .. })
    ));
}

#[test]
fn gha_cache_uses_actions_env_or_is_dropped() {
    let outside = parse_cache_entries(&strings(&["type=gha"]), &no_env).expect("valid");
    assert!(outside.is_empty());

    let env = fake_env(&[
        ("ACTIONS_RUNTIME_TOKEN", "tok"),
        ("ACTIONS_CACHE_URL", "https://cache/"),
    ]);
    let inside = parse_cache_entries(&strings(&["type=gha,scope=app"]), &env).expect("valid");
    assert_eq!(
        inside[0].attrs,
        map(&[
            ("scope", "app"),
            ("token", "tok"),
            ("url", "https://cache/")
        ])
    );

    let env = fake_env(&[
        ("ACTIONS_RUNTIME_TOKEN", "tok"),
        ("ACTIONS_RESULTS_URL", "https://results/"),
        ("ACTIONS_CACHE_SERVICE_V2", "true"),
    ]);
    let v2 = parse_cache_entries(&strings(&["type=gha"]), &env).expect("valid");
    assert_eq!(
        v2[0].attrs,
        map(&[
            ("token", "tok"),
            ("url", "https://results/"),
            ("url_v2", "https://results/")
        ])
    );

    let explicit =
        parse_cache_entries(&strings(&["type=gha,token=t,url=u"]), &no_env).expect("valid");
    assert_eq!(explicit.len(), 1);
}

#[test]
fn cache_imports_json_matches_go_field_names() {
    let entries = vec![
        CacheEntry {
            ty: "registry".into(),
            attrs: map(&[("ref", "r/a:cache")]),
        },
        CacheEntry {
            ty: "inline".into(),
            attrs: BTreeMap::new(),
        },
    ];
    assert_eq!(
        cache_imports_attr(&entries).as_deref(),
        Some(r#"[{"Type":"registry","Attrs":{"ref":"r/a:cache"}},{"Type":"inline"}]"#)
    );
    assert_eq!(cache_imports_attr(&[]), None);
}

#[test]
fn add_hosts() {
    let gw: IpAddr = "172.17.0.1".parse().expect("ip");
    assert_eq!(
        parse_add_hosts(
            &strings(&[
                "db:10.0.0.2",
                "v6=::1",
                "v6b:[fe80::1]",
                "multi=10.0.0.3,10.0.0.4",
                "gw:host-gateway"
            ]),
            Some(gw)
        )
        .expect("valid"),
        Some("db=10.0.0.2,v6=::1,v6b=fe80::1,multi=10.0.0.3,multi=10.0.0.4,gw=172.17.0.1".into())
    );
    assert_eq!(parse_add_hosts(&[], None), Ok(None));
    // `host:::1` splits at the first colon, as Go's strings.Cut does.
    assert_eq!(
        parse_add_hosts(&strings(&["h:::1"]), None),
        Ok(Some("h=::1".into()))
    );
    for bad in ["nohost", ":1.2.3.4", "h:", "h:999.1.1.1", "h:1.2.3.4,x"] {
        assert!(
            matches!(
                parse_add_hosts(&strings(&[bad]), None),
                Err(BuildOptionError::Invalid {
                    flag: "--add-host",
                    ..
                })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        parse_add_hosts(&strings(&["gw:host-gateway"]), None),
        Err(BuildOptionError::HostGatewayUnknown(
            "gw:host-gateway".into()
        ))
    );
}

/// `buildx build -f sub/Dockerfile.cross --platform linux/amd64,linux/arm64
/// --target runtime --build-arg VERSION=1.2 --build-arg BUILDKIT_MULTI_PLATFORM=1
/// --label org.opencontainers.image.source=https://x --build-context
/// base=docker-image://alpine:3.19 --build-context assets=./assets
/// --no-cache-filter build --add-host db:10.0.0.2 --pull --cache-from r/a:cache .`
/// against buildkitd (container driver): the frontend attrs buildx sends,
/// minus attestations and proxy build-args.
#[test]
fn frontend_attrs_match_buildx_for_a_sample_command_line() {
    let (base_name, base) = parse_build_context("base=docker-image://alpine:3.19").expect("ctx");
    let (assets_name, assets) = parse_build_context("assets=./assets").expect("ctx");
    let req = FrontendOptionsRequest {
        filename: "Dockerfile.cross".into(),
        target: Some("runtime".into()),
        platforms: strings(&["linux/amd64", "linux/arm64"]),
        build_args: parse_build_args(
            &strings(&["VERSION=1.2", "BUILDKIT_MULTI_PLATFORM=1"]),
            &no_env,
        )
        .expect("args"),
        labels: parse_labels(&strings(&["org.opencontainers.image.source=https://x"]))
            .expect("labels"),
        contexts: BTreeMap::from([(base_name, base), (assets_name, assets)]),
        no_cache_filter: strings(&["build"]),
        pull: true,
        add_hosts: parse_add_hosts(&strings(&["db:10.0.0.2"]), None).expect("hosts"),
        cache_from: parse_cache_entries(&strings(&["r/a:cache"]), &no_env).expect("cache"),
        ..Default::default()
    };
    let expected = map(&[
        ("filename", "Dockerfile.cross"),
        ("target", "runtime"),
        ("platform", "linux/amd64,linux/arm64"),
        ("multi-platform", "true"),
        ("no-cache", "build"),
        ("image-resolve-mode", "pull"),
        ("add-hosts", "db=10.0.0.2"),
        (
            "cache-imports",
            r#"[{"Type":"registry","Attrs":{"ref":"r/a:cache"}}]"#,
        ),
        ("build-arg:VERSION", "1.2"),
        ("build-arg:BUILDKIT_MULTI_PLATFORM", "1"),
        ("label:org.opencontainers.image.source", "https://x"),
        ("context:base", "docker-image://alpine:3.19"),
        ("context:assets", "local:assets"),
        ("frontend.caps", "moby.buildkit.frontend.contexts+forward"),
    ]);
    assert_eq!(req.frontend_attrs().expect("attrs"), expected);
    assert_eq!(
        req.context_local_dirs(),
        BTreeMap::from([("assets".to_string(), PathBuf::from("./assets"))])
    );
    assert!(req.entitlements().is_empty());
}

#[test]
fn minimal_frontend_attrs() {
    let req = FrontendOptionsRequest {
        filename: "Dockerfile".into(),
        ..Default::default()
    };
    assert_eq!(
        req.frontend_attrs().expect("attrs"),
        map(&[("filename", "Dockerfile")])
    );
}

#[test]
fn no_cache_overrides_filter() {
    let req = FrontendOptionsRequest {
        filename: "Dockerfile".into(),
        no_cache: true,
        no_cache_filter: strings(&["a", "b"]),
        ..Default::default()
    };
    let attrs = req.frontend_attrs().expect("attrs");
    assert_eq!(attrs.get("no-cache").map(String::as_str), Some(""));
}

#[test]
fn network_modes() {
    let with = |n: &str| FrontendOptionsRequest {
        filename: "Dockerfile".into(),
        network: Some(n.into()),
        ..Default::default()
    };
    assert!(!with("default")
        .frontend_attrs()
        .expect("ok")
        .contains_key("force-network-mode"));
    let host = with("host");
    assert_eq!(
        host.frontend_attrs()
            .expect("ok")
            .get("force-network-mode")
            .map(String::as_str),
        Some("host")
    );
    assert_eq!(host.entitlements(), ["network.host"]);
    assert_eq!(
        with("none")
            .frontend_attrs()
            .expect("ok")
            .get("force-network-mode")
            .map(String::as_str),
        Some("none")
    );
    assert_eq!(
        with("bridge").frontend_attrs(),
        Err(BuildOptionError::NetworkMode("bridge".into()))
    );
}

#[test]
fn misc_attrs() {
    let req = FrontendOptionsRequest {
        filename: "Dockerfile".into(),
        multi_platform: true,
        cgroup_parent: Some("/build".into()),
        shm_size: Some(134217728),
        ..Default::default()
    };
    let attrs = req.frontend_attrs().expect("attrs");
    assert_eq!(
        attrs.get("multi-platform").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        attrs.get("cgroup-parent").map(String::as_str),
        Some("/build")
    );
    assert_eq!(attrs.get("shm-size").map(String::as_str), Some("134217728"));
}

#[test]
fn special_context_names_and_oci_layouts() {
    let (name, ctx) = parse_build_context("context=./other").expect("ctx");
    let (oname, octx) = parse_build_context("img=oci-layout://./l:v1").expect("ctx");
    let mut req = FrontendOptionsRequest {
        filename: "Dockerfile".into(),
        contexts: BTreeMap::from([(name, ctx), (oname.clone(), octx)]),
        ..Default::default()
    };
    assert_eq!(
        req.frontend_attrs(),
        Err(BuildOptionError::UnresolvedOciLayout("img".into()))
    );
    if let Some(NamedContext::OciLayout { digest, .. }) = req.contexts.get_mut(&oname) {
        *digest = Some("sha256:0123".into());
    }
    let attrs = req.frontend_attrs().expect("attrs");
    assert_eq!(
        attrs.get("context:context").map(String::as_str),
        Some("local:_context")
    );
    let store = NamedContext::oci_store_name("img");
    assert_eq!(
        attrs.get("context:img").cloned(),
        Some(format!("oci-layout://{store}:v1@sha256:0123"))
    );
    assert!(store.starts_with("oci-context-") && store.len() == 28);
    assert_eq!(
        req.context_local_dirs(),
        BTreeMap::from([("_context".to_string(), PathBuf::from("./other"))])
    );
}

#[test]
fn inline_cache_build_arg_adds_cache_export() {
    let req = FrontendOptionsRequest {
        build_args: map(&[("BUILDKIT_INLINE_CACHE", "1")]),
        ..Default::default()
    };
    let to = parse_cache_entries(&strings(&["type=local,dest=/c"]), &no_env).expect("cache");
    let exports = req.cache_exports(&to);
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[1].ty, "inline");
    assert_eq!(FrontendOptionsRequest::default().cache_exports(&to), to);
}

#[test]
fn oci_layout_contexts_resolve_their_digest_and_name_their_store() {
    use crate::image::layout::{Layout, LayoutName};
    use crate::image::Descriptor;
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let blob = b"{\"manifests\":[]}";
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(blob)));
    std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
    std::fs::write(dir.path().join("blobs/sha256").join(&digest[7..]), blob).unwrap();
    Layout::new(dir.path())
        .put(
            &Descriptor {
                digest: digest.clone(),
                size: blob.len() as i64,
                ..Default::default()
            },
            &[LayoutName::Image("docker.io/library/app:v1".into())],
        )
        .unwrap();
    let path = dir.path().display().to_string();
    let request = |value: &str| FrontendOptionsRequest {
        contexts: BTreeMap::from([parse_build_context(&format!("base={value}")).unwrap()]),
        ..Default::default()
    };

    for value in [
        format!("oci-layout://{path}"),
        format!("oci-layout://{path}:v1"),
        format!("oci-layout://{path}@{digest}"),
    ] {
        let mut req = request(&value);
        req.resolve_oci_layouts().unwrap();
        let attrs = req.frontend_attrs().unwrap();
        assert!(
            attrs["context:base"].ends_with(&format!("@{digest}")),
            "{value}: {attrs:?}"
        );
        let stores = req.oci_layout_stores();
        let store = &stores[&format!("oci:{}", NamedContext::oci_store_name("base"))];
        assert_eq!(store.path, dir.path());
        assert!(!store.writable);
    }

    let unknown = format!("sha256:{}", "0".repeat(64));
    for (value, expected) in [
        (format!("oci-layout://{path}:v2"), "no image tagged \"v2\""),
        (format!("oci-layout://{path}@{unknown}"), "is not in"),
        (format!("oci-layout://{path}@sha256:12"), "invalid digest"),
        (
            format!("oci-layout://{path}:Bad!"),
            "invalid oci-layout tag",
        ),
        (
            "oci-layout:///nonexistent/layout".to_string(),
            "does not exist",
        ),
    ] {
        let err = request(&value).resolve_oci_layouts().unwrap_err();
        assert!(err.to_string().contains(expected), "{value}: {err}");
        assert!(
            err.to_string().starts_with("build context \"base\""),
            "{err}"
        );
    }
    let empty = tempfile::tempdir().unwrap();
    let err = request(&format!("oci-layout://{}", empty.path().display()))
        .resolve_oci_layouts()
        .unwrap_err();
    assert!(err.to_string().contains("cannot read index.json"), "{err}");
}

#[test]
fn add_hosts_several_in_one_value_like_buildx_string_slice() {
    assert_eq!(
        parse_add_hosts(
            &strings(&["a=10.0.0.1,b:10.0.0.2,c=[fe80::1],fe80::2"]),
            None
        ),
        Ok(Some("a=10.0.0.1,b=10.0.0.2,c=fe80::1,c=fe80::2".into()))
    );
}

#[test]
fn shm_size_like_buildx_mem_bytes() {
    assert_eq!(parse_shm_size("128m"), Ok(128 << 20));
    assert_eq!(parse_shm_size("1g"), Ok(1 << 30));
    assert_eq!(parse_shm_size("1048576"), Ok(1 << 20));
    assert_eq!(parse_shm_size("0"), Ok(0));
    for bad in ["12xyz", "", "-1", "m"] {
        assert!(
            matches!(
                parse_shm_size(bad),
                Err(BuildOptionError::Invalid {
                    flag: "--shm-size",
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[test]
fn ulimits_like_docker_ulimit_opt() {
    assert_eq!(parse_ulimits(&[]), Ok(None));
    // Later wins per name; sorted by name; hard defaults to soft.
    assert_eq!(
        parse_ulimits(&strings(&["nproc=10", "nofile=1:2", "nofile=1024:2048"])),
        Ok(Some("nofile=1024:2048,nproc=10:10".into()))
    );
    assert_eq!(
        parse_ulimits(&strings(&["nofile=abc"]))
            .unwrap_err()
            .to_string(),
        "invalid --ulimit value \"nofile=abc\": strconv.ParseInt: parsing \"abc\": invalid syntax"
    );
    let req = FrontendOptionsRequest {
        filename: "Dockerfile".into(),
        ulimits: parse_ulimits(&strings(&["nofile=1024:2048"])).expect("ulimits"),
        ..Default::default()
    };
    let attrs = req.frontend_attrs().expect("attrs");
    assert_eq!(
        attrs.get("ulimit").map(String::as_str),
        Some("nofile=1024:2048")
    );
}
