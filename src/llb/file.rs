//! File ops (`COPY`, `ADD`, `WORKDIR` creation, heredoc files): mkdir,
//! mkfile, rm, copy and symlink actions, several of which can chain in one
//! op like Go's `llb.Mkdir(...).Copy(...)`.
//!
//! File ops carry no platform: copying files means the same thing on every
//! platform, and leaving the platform out is what makes a `COPY` from a
//! `$BUILDPLATFORM` stage one op for all targets.

use std::time::{SystemTime, UNIX_EPOCH};

use bollard_buildkit_proto::pb;
use pb::file_action::Action;

use super::constraints::{Constrained, Constraints};
use super::state::{normalize_path, OpSpec, Output, State};

/// A user or group, by numeric id or by name (looked up in the target's
/// `/etc/passwd` / `/etc/group` by BuildKit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// Numeric id.
    Id(u32),
    /// Name to resolve inside the destination filesystem.
    Name(String),
}

impl UserSpec {
    /// Numeric strings and `root` become ids, anything else a name (Go's
    /// `parseUID`).
    pub fn parse(s: &str) -> Self {
        if s == "root" {
            return UserSpec::Id(0);
        }
        match s.parse::<u32>() {
            Ok(id) if id <= i32::MAX as u32 => UserSpec::Id(id),
            _ => UserSpec::Name(s.to_string()),
        }
    }
}

/// Ownership for created or copied files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chown {
    /// Owning user.
    pub user: Option<UserSpec>,
    /// Owning group.
    pub group: Option<UserSpec>,
}

impl Chown {
    /// Parses `user[:group]` as in `COPY --chown`.
    pub fn parse(spec: &str) -> Self {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        Chown {
            user: Some(UserSpec::parse(user)),
            group: group.map(UserSpec::parse),
        }
    }

    /// Numeric owner and group.
    pub fn ids(uid: u32, gid: u32) -> Self {
        Chown {
            user: Some(UserSpec::Id(uid)),
            group: Some(UserSpec::Id(gid)),
        }
    }

    /// Named users resolve against the op's base input (`base`, -1 if scratch).
    fn to_pb(&self, base: i64) -> pb::ChownOpt {
        let user = |u: &UserSpec| pb::UserOpt {
            user: Some(match u {
                UserSpec::Id(id) => pb::user_opt::User::ById(*id),
                UserSpec::Name(name) => pb::user_opt::User::ByName(pb::NamedUserOpt {
                    name: name.clone(),
                    input: base,
                }),
            }),
        };
        pb::ChownOpt {
            user: self.user.as_ref().map(user),
            group: self.group.as_ref().map(user),
        }
    }
}

/// LLB's timestamp encoding: Unix nanoseconds, -1 for "now/unchanged".
fn unix_nanos(t: Option<SystemTime>) -> i64 {
    match t.map(|t| t.duration_since(UNIX_EPOCH)) {
        None => -1,
        Some(Ok(d)) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Some(Err(e)) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Creates a directory.
#[derive(Debug, Clone)]
pub struct Mkdir {
    path: String,
    mode: u32,
    make_parents: bool,
    chown: Option<Chown>,
    timestamp: Option<SystemTime>,
}

impl Mkdir {
    /// `mkdir` with permission bits `mode`.
    pub fn new(path: &str, mode: u32) -> Self {
        Mkdir {
            path: path.to_string(),
            mode,
            make_parents: false,
            chown: None,
            timestamp: None,
        }
    }
    /// Also creates missing parents (`mkdir -p`).
    pub fn make_parents(mut self, yes: bool) -> Self {
        self.make_parents = yes;
        self
    }
    /// Owner of the new directory.
    pub fn chown(mut self, chown: Chown) -> Self {
        self.chown = Some(chown);
        self
    }
    /// Modification time of the new directory.
    pub fn timestamp(mut self, t: SystemTime) -> Self {
        self.timestamp = Some(t);
        self
    }
}

/// Creates a file with given contents.
#[derive(Debug, Clone)]
pub struct Mkfile {
    path: String,
    mode: u32,
    data: Vec<u8>,
    chown: Option<Chown>,
    timestamp: Option<SystemTime>,
}

impl Mkfile {
    /// A file at `path` with permission bits `mode` holding `data`.
    pub fn new(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Self {
        Mkfile {
            path: path.to_string(),
            mode,
            data: data.into(),
            chown: None,
            timestamp: None,
        }
    }
    /// Owner of the new file.
    pub fn chown(mut self, chown: Chown) -> Self {
        self.chown = Some(chown);
        self
    }
    /// Modification time of the new file.
    pub fn timestamp(mut self, t: SystemTime) -> Self {
        self.timestamp = Some(t);
        self
    }
}

/// Removes a path.
#[derive(Debug, Clone)]
pub struct Rm {
    path: String,
    allow_not_found: bool,
    allow_wildcard: bool,
}

impl Rm {
    /// `rm -r path`.
    pub fn new(path: &str) -> Self {
        Rm {
            path: path.to_string(),
            allow_not_found: false,
            allow_wildcard: false,
        }
    }
    /// Succeeds when the path does not exist.
    pub fn allow_not_found(mut self, yes: bool) -> Self {
        self.allow_not_found = yes;
        self
    }
    /// Treats the path as a glob.
    pub fn allow_wildcard(mut self, yes: bool) -> Self {
        self.allow_wildcard = yes;
        self
    }
}

/// Creates a symlink `newpath` → `oldpath`.
#[derive(Debug, Clone)]
pub struct Symlink {
    oldpath: String,
    newpath: String,
    chown: Option<Chown>,
    timestamp: Option<SystemTime>,
}

impl Symlink {
    /// `ln -s oldpath newpath`.
    pub fn new(oldpath: &str, newpath: &str) -> Self {
        Symlink {
            oldpath: oldpath.to_string(),
            newpath: newpath.to_string(),
            chown: None,
            timestamp: None,
        }
    }
    /// Owner of the link.
    pub fn chown(mut self, chown: Chown) -> Self {
        self.chown = Some(chown);
        self
    }
    /// Modification time of the link.
    pub fn timestamp(mut self, t: SystemTime) -> Self {
        self.timestamp = Some(t);
        self
    }
}

/// Copies from another state.
#[derive(Debug, Clone)]
pub struct Copy {
    source: State,
    src: String,
    dest: String,
    follow_symlinks: bool,
    dir_contents_only: bool,
    include_patterns: Vec<String>,
    exclude_patterns: Vec<String>,
    create_dest_path: bool,
    allow_wildcard: bool,
    allow_empty_wildcard: bool,
    chown: Option<Chown>,
    mode: Option<u32>,
    mode_str: Option<String>,
    timestamp: Option<SystemTime>,
    always_replace_existing: bool,
    attempt_unpack: bool,
}

impl Copy {
    /// Copies `src` of `source` (relative to its directory) to `dest`
    /// (relative to the target's directory; a trailing `/` means "into").
    pub fn new(source: &State, src: &str, dest: &str) -> Self {
        Copy {
            source: source.clone(),
            src: src.to_string(),
            dest: dest.to_string(),
            follow_symlinks: false,
            dir_contents_only: false,
            include_patterns: Vec::new(),
            exclude_patterns: Vec::new(),
            create_dest_path: false,
            allow_wildcard: false,
            allow_empty_wildcard: false,
            chown: None,
            mode: None,
            mode_str: None,
            timestamp: None,
            always_replace_existing: false,
            attempt_unpack: false,
        }
    }
    /// Resolves symlinks in `src`.
    pub fn follow_symlinks(mut self, yes: bool) -> Self {
        self.follow_symlinks = yes;
        self
    }
    /// Copies a directory's contents rather than the directory.
    pub fn dir_contents_only(mut self, yes: bool) -> Self {
        self.dir_contents_only = yes;
        self
    }
    /// Copies only paths matching one of these patterns.
    pub fn include_patterns<S: AsRef<str>>(mut self, patterns: &[S]) -> Self {
        self.include_patterns = patterns.iter().map(|p| p.as_ref().to_string()).collect();
        self
    }
    /// Skips paths matching any of these patterns.
    pub fn exclude_patterns<S: AsRef<str>>(mut self, patterns: &[S]) -> Self {
        self.exclude_patterns = patterns.iter().map(|p| p.as_ref().to_string()).collect();
        self
    }
    /// Creates missing parents of `dest`.
    pub fn create_dest_path(mut self, yes: bool) -> Self {
        self.create_dest_path = yes;
        self
    }
    /// Treats `src` as a glob.
    pub fn allow_wildcard(mut self, yes: bool) -> Self {
        self.allow_wildcard = yes;
        self
    }
    /// Does not fail when the glob matches nothing.
    pub fn allow_empty_wildcard(mut self, yes: bool) -> Self {
        self.allow_empty_wildcard = yes;
        self
    }
    /// Owner of the copied files.
    pub fn chown(mut self, chown: Chown) -> Self {
        self.chown = Some(chown);
        self
    }
    /// Numeric permission bits for the copied files (`--chmod=755`).
    pub fn chmod(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self.mode_str = None;
        self
    }
    /// Symbolic permissions (`--chmod=u+x`), sent as `mode_str`.
    pub fn chmod_str(mut self, mode: &str) -> Self {
        self.mode_str = Some(mode.to_string());
        self.mode = None;
        self
    }
    /// Modification time of the copied files.
    pub fn timestamp(mut self, t: SystemTime) -> Self {
        self.timestamp = Some(t);
        self
    }
    /// Replaces a destination path of a different type instead of failing.
    pub fn always_replace_existing(mut self, yes: bool) -> Self {
        self.always_replace_existing = yes;
        self
    }
    /// Unpacks archives like `ADD` does.
    pub fn attempt_unpack(mut self, yes: bool) -> Self {
        self.attempt_unpack = yes;
        self
    }
}

/// One file action.
#[derive(Debug, Clone)]
pub enum FileAction {
    /// See [`Mkdir`].
    Mkdir(Mkdir),
    /// See [`Mkfile`].
    Mkfile(Mkfile),
    /// See [`Rm`].
    Rm(Rm),
    /// See [`Copy`](struct@Copy).
    Copy(Box<Copy>),
    /// See [`Symlink`].
    Symlink(Symlink),
}

/// A file op: actions applied in order, each on the result of the previous
/// one, with one output (the result of the last).
#[derive(Debug, Clone)]
pub struct FileOp {
    actions: Vec<FileAction>,
    constraints: Constraints,
}

impl FileOp {
    /// A file op starting with `first`; never empty, so `State::file`
    /// cannot fail.
    pub fn new(first: impl Into<FileAction>) -> Self {
        FileOp {
            actions: vec![first.into()],
            constraints: Constraints::new(),
        }
    }

    /// Appends an action that works on the result of the previous ones.
    pub fn then(mut self, next: impl Into<FileAction>) -> Self {
        self.actions.push(next.into());
        self
    }
}

impl Constrained for FileOp {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

macro_rules! into_action {
    ($($t:ident => $wrap:expr),*) => {$(
        impl From<$t> for FileAction {
            fn from(a: $t) -> Self {
                $wrap(a)
            }
        }
        impl From<$t> for FileOp {
            fn from(a: $t) -> Self {
                FileOp::new(a)
            }
        }
    )*};
}
into_action!(Mkdir => FileAction::Mkdir, Mkfile => FileAction::Mkfile, Rm => FileAction::Rm,
             Copy => |c| FileAction::Copy(Box::new(c)), Symlink => FileAction::Symlink);

impl From<FileAction> for FileOp {
    fn from(a: FileAction) -> Self {
        FileOp::new(a)
    }
}

/// A file op resolved against its base state: paths are absolute and
/// chown names point at the base input.
pub(crate) struct FileSpec {
    pub(crate) base: Option<Output>,
    /// Each action with the state it copies from (`None` for scratch or
    /// non-copy actions) and whether it has a secondary input at all.
    pub(crate) actions: Vec<(Action, Option<Output>)>,
    pub(crate) caps: Vec<&'static str>,
}

impl State {
    /// Applies file actions to this state, keeping its directory,
    /// environment, user and platform.
    pub fn file(&self, op: impl Into<FileOp>) -> State {
        let op = op.into();
        let parent = self.get_dir().to_string();
        // The base, when present, is always the op's first input.
        let base_index = if self.is_scratch() { -1 } else { 0 };
        let chown = |c: &Option<Chown>| c.as_ref().map(|c| c.to_pb(base_index));
        let mut caps = vec!["file.base"];
        let mut actions = Vec::with_capacity(op.actions.len());
        for action in &op.actions {
            let resolved = match action {
                FileAction::Mkdir(a) => Action::Mkdir(pb::FileActionMkDir {
                    path: normalize_path(&parent, &a.path, false),
                    mode: (a.mode & 0o777) as i32,
                    make_parents: a.make_parents,
                    owner: chown(&a.chown),
                    timestamp: unix_nanos(a.timestamp),
                }),
                FileAction::Mkfile(a) => Action::Mkfile(pb::FileActionMkFile {
                    path: normalize_path(&parent, &a.path, false),
                    mode: (a.mode & 0o777) as i32,
                    data: a.data.clone(),
                    owner: chown(&a.chown),
                    timestamp: unix_nanos(a.timestamp),
                }),
                FileAction::Rm(a) => {
                    if a.allow_wildcard {
                        caps.push("file.rm.wildcard");
                    }
                    Action::Rm(pb::FileActionRm {
                        path: normalize_path(&parent, &a.path, false),
                        allow_not_found: a.allow_not_found,
                        allow_wildcard: a.allow_wildcard,
                    })
                }
                FileAction::Symlink(a) => {
                    caps.push("file.symlink.create");
                    Action::Symlink(pb::FileActionSymlink {
                        oldpath: a.oldpath.clone(),
                        newpath: normalize_path(&parent, &a.newpath, false),
                        owner: chown(&a.chown),
                        timestamp: unix_nanos(a.timestamp),
                    })
                }
                FileAction::Copy(a) => {
                    if !a.include_patterns.is_empty() || !a.exclude_patterns.is_empty() {
                        caps.push("file.copy.includeexcludepatterns");
                    }
                    if a.always_replace_existing {
                        caps.push("file.copy.alwaysreplaceexistingdestpaths");
                    }
                    // No cap for `mode_str`: BuildKit defines
                    // `file.copy.modestring` but no daemon registers it, so
                    // declaring it makes every daemon refuse the op (its own
                    // frontend never declares it either).
                    Action::Copy(pb::FileActionCopy {
                        src: normalize_path(a.source.get_dir(), &a.src, false),
                        dest: normalize_path(&parent, &a.dest, true),
                        owner: chown(&a.chown),
                        mode: a.mode.map_or(-1, |m| (m & 0o7777) as i32),
                        follow_symlink: a.follow_symlinks,
                        dir_copy_contents: a.dir_contents_only,
                        attempt_unpack_docker_compatibility: a.attempt_unpack,
                        create_dest_path: a.create_dest_path,
                        allow_wildcard: a.allow_wildcard,
                        allow_empty_wildcard: a.allow_empty_wildcard,
                        timestamp: unix_nanos(a.timestamp),
                        include_patterns: a.include_patterns.clone(),
                        exclude_patterns: a.exclude_patterns.clone(),
                        always_replace_existing_dest_paths: a.always_replace_existing,
                        mode_str: a.mode_str.clone().unwrap_or_default(),
                        required_paths: Vec::new(),
                    })
                }
            };
            let secondary = match action {
                FileAction::Copy(a) => a.source.output().cloned(),
                _ => None,
            };
            actions.push((resolved, secondary));
        }
        caps.sort_unstable();
        caps.dedup();
        let spec = FileSpec {
            base: self.output().cloned(),
            actions,
            caps,
        };
        self.with_output(Output::new(OpSpec::File(spec), op.constraints, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_parsing() {
        assert_eq!(
            Chown::parse("1000"),
            Chown {
                user: Some(UserSpec::Id(1000)),
                group: None
            }
        );
        assert_eq!(Chown::parse("root:root"), Chown::ids(0, 0));
        assert_eq!(
            Chown::parse("app:42"),
            Chown {
                user: Some(UserSpec::Name("app".into())),
                group: Some(UserSpec::Id(42))
            }
        );
        assert_eq!(
            UserSpec::parse("4294967295"),
            UserSpec::Name("4294967295".into())
        );
    }

    #[test]
    fn timestamps_are_unix_nanos() {
        use std::time::Duration;
        assert_eq!(unix_nanos(None), -1);
        assert_eq!(
            unix_nanos(Some(UNIX_EPOCH + Duration::from_secs(2))),
            2_000_000_000
        );
        assert_eq!(unix_nanos(Some(UNIX_EPOCH - Duration::from_nanos(5))), -5);
    }
}
