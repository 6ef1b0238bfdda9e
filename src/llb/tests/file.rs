//! File ops: every action and option, and how chained actions are wired.

use bollard_buildkit_proto::pb::file_action::Action;

use super::*;

#[test]
fn file_actions_chain() {
    let ctx = Local::new("context").into_state().dir("/src");
    let base = busybox().dir("/app");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
    let op = FileOp::new(
        Mkdir::new("bin", 0o40755)
            .make_parents(true)
            .chown(Chown::parse("app:app"))
            .timestamp(t),
    )
    .then(
        Mkfile::new("/etc/motd", 0o644, "hi")
            .chown(Chown::ids(1, 2))
            .timestamp(t),
    )
    .then(Rm::new("tmp/*").allow_not_found(true).allow_wildcard(true))
    .then(
        Symlink::new("/app/bin/tool", "tool")
            .chown(Chown::ids(0, 0))
            .timestamp(t),
    )
    .then(
        Copy::new(&ctx, "main.rs", "out/")
            .follow_symlinks(true)
            .dir_contents_only(true)
            .include_patterns(&["*.rs"])
            .exclude_patterns(&["tests"])
            .create_dest_path(true)
            .allow_wildcard(true)
            .allow_empty_wildcard(true)
            .chown(Chown::parse("1000:1000"))
            .chmod(0o755)
            .timestamp(t)
            .always_replace_existing(true)
            .attempt_unpack(true),
    )
    .then(Copy::new(&State::scratch(), "/x", "/y").chmod_str("u+x"))
    .custom_name("files");
    let st = base.file(op);
    assert_eq!(st.get_dir(), "/app", "file ops keep the state's values");
    let (op, md, index) = root_op(&st);
    assert_eq!(index, 0);
    assert_eq!(op.platform, None, "file ops are platform independent");
    assert_eq!(op.inputs.len(), 2, "base and context");
    let f = file(&op);
    let wiring: Vec<(i64, i64, i64)> = f
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    // Inputs 0 (base) and 1 (context); 2.. are earlier actions' results.
    assert_eq!(
        wiring,
        [
            (0, -1, -1),
            (2, -1, -1),
            (3, -1, -1),
            (4, -1, -1),
            (5, 1, -1),
            (6, -1, 0)
        ]
    );

    let by_name = |n: &str| pb::UserOpt {
        user: Some(pb::user_opt::User::ByName(pb::NamedUserOpt {
            name: n.into(),
            input: 0,
        })),
    };
    let by_id = |i: u32| pb::UserOpt {
        user: Some(pb::user_opt::User::ById(i)),
    };
    let ids = |u: u32, g: u32| {
        Some(pb::ChownOpt {
            user: Some(by_id(u)),
            group: Some(by_id(g)),
        })
    };
    let actions: Vec<&Action> = f.actions.iter().filter_map(|a| a.action.as_ref()).collect();
    assert_eq!(
        actions[0],
        &Action::Mkdir(pb::FileActionMkDir {
            path: "/app/bin".into(),
            mode: 0o755,
            make_parents: true,
            owner: Some(pb::ChownOpt {
                user: Some(by_name("app")),
                group: Some(by_name("app"))
            }),
            timestamp: 1_000_000_000,
        })
    );
    assert_eq!(
        actions[1],
        &Action::Mkfile(pb::FileActionMkFile {
            path: "/etc/motd".into(),
            mode: 0o644,
            data: b"hi".to_vec(),
            owner: ids(1, 2),
            timestamp: 1_000_000_000,
        })
    );
    assert_eq!(
        actions[2],
        &Action::Rm(pb::FileActionRm {
            path: "/app/tmp/*".into(),
            allow_not_found: true,
            allow_wildcard: true
        })
    );
    assert_eq!(
        actions[3],
        &Action::Symlink(pb::FileActionSymlink {
            oldpath: "/app/bin/tool".into(),
            newpath: "/app/tool".into(),
            owner: ids(0, 0),
            timestamp: 1_000_000_000,
        })
    );
    let Action::Copy(c) = actions[4] else {
        panic!("copy")
    };
    assert_eq!(
        (c.src.as_str(), c.dest.as_str()),
        ("/src/main.rs", "/app/out/")
    );
    assert_eq!(c.owner, ids(1000, 1000));
    assert_eq!(
        (c.mode, c.mode_str.as_str(), c.timestamp),
        (0o755, "", 1_000_000_000)
    );
    assert!(c.follow_symlink && c.dir_copy_contents && c.create_dest_path && c.allow_wildcard);
    assert!(
        c.allow_empty_wildcard
            && c.always_replace_existing_dest_paths
            && c.attempt_unpack_docker_compatibility
    );
    assert_eq!(
        (c.include_patterns.clone(), c.exclude_patterns.clone()),
        (vec!["*.rs".into()], vec!["tests".into()])
    );
    let Action::Copy(c) = actions[5] else {
        panic!("copy")
    };
    assert_eq!(
        (c.mode, c.mode_str.as_str(), c.timestamp, c.owner.clone()),
        (-1, "u+x", -1, None)
    );
    assert!(!c.follow_symlink && !c.allow_wildcard);
    assert_eq!(md.description["llb.customname"], "files");
    assert_eq!(
        caps(&md),
        [
            "file.base",
            "file.copy.alwaysreplaceexistingdestpaths",
            "file.copy.includeexcludepatterns",
            "file.rm.wildcard",
            "file.symlink.create",
            "meta.description",
        ]
    );
}

#[test]
fn file_on_scratch_and_defaults() {
    let st = State::scratch().file(Mkdir::new("/d", 0o755));
    let (op, _, _) = root_op(&st);
    assert!(op.inputs.is_empty());
    let f = file(&op);
    assert_eq!(
        (
            f.actions[0].input,
            f.actions[0].secondary_input,
            f.actions[0].output
        ),
        (-1, -1, 0)
    );
    let Some(Action::Mkdir(m)) = &f.actions[0].action else {
        panic!("mkdir")
    };
    assert_eq!(
        (m.make_parents, m.timestamp, m.owner.clone()),
        (false, -1, None)
    );
    let named =
        State::scratch().file(Mkfile::new("/f", 0o600, vec![1u8]).chown(Chown::parse("app")));
    let (op, _, _) = root_op(&named);
    let Some(Action::Mkfile(m)) = &file(&op).actions[0].action else {
        panic!("mkfile")
    };
    let owner = m
        .owner
        .as_ref()
        .and_then(|o| o.user.clone())
        .and_then(|u| u.user);
    assert_eq!(
        owner,
        Some(pb::user_opt::User::ByName(pb::NamedUserOpt {
            name: "app".into(),
            input: -1
        }))
    );
    // Copy from the same state it lands in uses one input.
    let img = busybox();
    let (op, _, _) = root_op(&img.file(Copy::new(&img, "/a", "/b")));
    assert_eq!(op.inputs.len(), 1);
    assert_eq!(
        (
            file(&op).actions[0].input,
            file(&op).actions[0].secondary_input
        ),
        (0, 0)
    );
    let (op, _, _) = root_op(&img.file(FileAction::from(Rm::new("/x"))));
    assert_eq!(file(&op).actions.len(), 1);
}
