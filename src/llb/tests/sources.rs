//! Source ops: identifiers, attributes, platforms and caps.

use super::*;

#[test]
fn image_source() {
    let (op, md, index) = root_op(&busybox());
    assert_eq!(index, 0);
    assert_eq!(
        source(&op).identifier,
        "docker-image://docker.io/library/busybox:latest"
    );
    assert!(source(&op).attrs.is_empty());
    assert_eq!(op.platform, Some(plat("linux/amd64").to_pb()));
    assert_eq!(op.constraints, Some(pb::WorkerConstraints::default()));
    assert_eq!(caps(&md), ["source.image"]);

    let arm = plat("linux/arm/v7");
    let img = Image::new("localhost:5000/busybox")
        .expect("image")
        .resolve_mode(ResolveMode::ForcePull)
        .record_type("internal")
        .layer_limit(2)
        .platform(&arm);
    assert_eq!(img.reference(), "localhost:5000/busybox:latest");
    let state = img.into_state();
    assert_eq!(state.get_platform(), Some(&arm));
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, "docker-image://localhost:5000/busybox:latest");
    assert_eq!(s.attrs["image.resolvemode"], "pull");
    assert_eq!(s.attrs["image.recordtype"], "internal");
    assert_eq!(s.attrs["image.layerlimit"], "2");
    assert_eq!(op.platform, Some(arm.to_pb()));
    assert_eq!(
        caps(&md),
        [
            "source.image",
            "source.image.layerlimit",
            "source.image.resolvemode"
        ]
    );

    let local = Image::new("busybox")
        .expect("image")
        .resolve_mode(ResolveMode::PreferLocal)
        .into_state();
    let (op, md, _) = root_op(&local);
    assert_eq!(source(&op).attrs["image.resolvemode"], "local");
    assert_eq!(caps(&md), ["source.image"]);
    // No platform anywhere: the marshal default applies.
    assert_eq!(op.platform, Some(plat("linux/amd64").to_pb()));
    assert_eq!(ResolveMode::Default.as_str(), "default");
    assert!(matches!(
        State::image("Bad"),
        Err(LlbError::InvalidImageRef { .. })
    ));
}

#[test]
fn local_source() {
    let (op, md, _) = root_op(&Local::new("context").into_state());
    assert_eq!(source(&op).identifier, "local://context");
    assert!(source(&op).attrs.is_empty());
    assert_eq!(op.platform, None, "local sources are platform independent");
    assert_eq!(caps(&md), ["source.local"]);

    let state = Local::new("context")
        .session_id("sess1")
        .unique_id("u1")
        .include_patterns(&["src", "Cargo.*"])
        .exclude_patterns(&["target", "<&>"])
        .follow_paths(&["Dockerfile"])
        .shared_key_hint("ctx")
        .differ(Differ::None, true)
        .platform(&plat("linux/arm64"))
        .into_state();
    let (op, md, _) = root_op(&state);
    let a = &source(&op).attrs;
    assert_eq!(a["local.session"], "sess1");
    assert_eq!(a["local.unique"], "u1");
    assert_eq!(a["local.includepattern"], r#"["src","Cargo.*"]"#);
    assert_eq!(
        a["local.excludepatterns"],
        r#"["target","\u003c\u0026\u003e"]"#
    );
    assert_eq!(a["local.followpaths"], r#"["Dockerfile"]"#);
    assert_eq!(a["local.sharedkeyhint"], "ctx");
    assert_eq!(a["local.differ"], "none");
    assert_eq!(op.platform, None);
    assert_eq!(
        caps(&md),
        [
            "source.local",
            "source.local.differ",
            "source.local.excludepatterns",
            "source.local.followpaths",
            "source.local.includepatterns",
            "source.local.sessionid",
            "source.local.sharedkeyhint",
            "source.local.unique",
        ]
    );
    let (op, md, _) = root_op(&Local::new("c").differ(Differ::Metadata, false).into_state());
    assert_eq!(source(&op).attrs["local.differ"], "metadata");
    assert_eq!(caps(&md), ["source.local"]);
}

#[test]
fn git_source() {
    let git = |url: &str| root_op(&Git::new(url).expect("git").into_state());
    let (op, md, _) = git("https://github.com/moby/buildkit.git");
    let s = source(&op);
    assert_eq!(s.identifier, "git://github.com/moby/buildkit.git");
    assert_eq!(
        s.attrs["git.fullurl"],
        "https://github.com/moby/buildkit.git"
    );
    assert_eq!(s.attrs["git.authtokensecret"], "GIT_AUTH_TOKEN");
    assert_eq!(s.attrs["git.authheadersecret"], "GIT_AUTH_HEADER");
    assert_eq!(op.platform, None);
    assert_eq!(caps(&md), ["source.git", "source.git.fullurl"]);

    let (op, _, _) = git("https://github.com/moby/buildkit.git#v0.12:docs/./x/");
    assert_eq!(
        source(&op).identifier,
        "git://github.com/moby/buildkit.git#v0.12:docs/x"
    );
    assert_eq!(
        source(&op).attrs["git.fullurl"],
        "https://github.com/moby/buildkit.git"
    );
    let (op, _, _) = git("github.com/moby/buildkit#main");
    assert_eq!(
        source(&op).identifier,
        "git://github.com/moby/buildkit#main"
    );
    assert_eq!(
        source(&op).attrs["git.fullurl"],
        "https://github.com/moby/buildkit"
    );
    let (op, _, _) = git("https://h.example/r.git#:sub");
    assert_eq!(source(&op).identifier, "git://h.example/r.git#:sub");

    let (op, md, _) = git("git@github.com:moby/buildkit.git");
    let s = source(&op);
    assert_eq!(s.identifier, "git://github.com/moby/buildkit.git");
    assert_eq!(s.attrs["git.fullurl"], "git@github.com:moby/buildkit.git");
    assert_eq!(s.attrs["git.mountsshsock"], "default");
    assert!(caps(&md).contains(&"source.git.mountsshsock"));

    let state = Git::new("ssh://git@host:2222/r.git")
        .expect("git")
        .git_ref("abc")
        .subdir("/a/b")
        .keep_git_dir(true)
        .auth_token_secret("T")
        .auth_header_secret("")
        .known_ssh_hosts("host ssh-ed25519 AAAA\n")
        .into_state();
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, "git://host:2222/r.git#abc:a/b");
    assert_eq!(s.attrs["git.keepgitdir"], "true");
    assert_eq!(s.attrs["git.authtokensecret"], "T");
    assert!(!s.attrs.contains_key("git.authheadersecret"));
    assert_eq!(s.attrs["git.knownsshhosts"], "host ssh-ed25519 AAAA\n");
    assert!(caps(&md).contains(&"source.git.keepgitdir"));
    assert!(matches!(
        Git::new("ftp://x/y"),
        Err(LlbError::InvalidSource { kind: "git", .. })
    ));
    assert!(matches!(
        Git::new("https:///path"),
        Err(LlbError::InvalidSource { kind: "git", .. })
    ));
}

#[test]
fn http_source() {
    let sum = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    let state = Http::new("https://example.com/a.tar.gz")
        .expect("http")
        .checksum(sum)
        .filename("a.tgz")
        .perm(0o755)
        .chown(1000, 1001)
        .into_state();
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, "https://example.com/a.tar.gz");
    assert_eq!(s.attrs["http.checksum"], sum);
    assert_eq!(s.attrs["http.filename"], "a.tgz");
    assert_eq!(s.attrs["http.perm"], "0755");
    assert_eq!(s.attrs["http.uid"], "1000");
    assert_eq!(s.attrs["http.gid"], "1001");
    assert_eq!(op.platform, None);
    assert_eq!(
        caps(&md),
        [
            "soruce.http.uidgid",
            "source.http",
            "source.http.checksum",
            "source.http.perm"
        ]
    );
    let (op, md, _) = root_op(&Http::new("http://x/y").expect("http").into_state());
    assert!(source(&op).attrs.is_empty());
    assert_eq!(caps(&md), ["source.http"]);
    assert_eq!(
        Http::new("file:///etc/passwd").err().map(|e| e.to_string()),
        Some(
            "invalid http source \"file:///etc/passwd\": URL must start with http:// or https://"
                .into()
        )
    );
}

#[test]
fn oci_layout_source() {
    let r = "app@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    let arm = plat("linux/arm64");
    let state = OciLayout::new(r)
        .expect("oci")
        .store("s1", "store")
        .layer_limit(3)
        .platform(&arm)
        .into_state();
    let (op, md, _) = root_op(&state);
    let s = source(&op);
    assert_eq!(s.identifier, format!("oci-layout://{r}"));
    assert_eq!(s.attrs["oci.session"], "s1");
    assert_eq!(s.attrs["oci.store"], "store");
    assert_eq!(s.attrs["oci.layerlimit"], "3");
    assert_eq!(op.platform, Some(arm.to_pb()));
    assert_eq!(caps(&md), ["source.ocilayout"]);
    assert!(OciLayout::new("app:latest").is_err());
}
