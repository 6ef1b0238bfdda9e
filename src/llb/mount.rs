//! Exec mounts: what an exec sees besides its root — other states, caches,
//! tmpfs, secrets and SSH agent sockets.

use super::state::State;

/// How concurrent builds share one cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    /// Many writers at once.
    #[default]
    Shared,
    /// A fresh copy per concurrent writer.
    Private,
    /// Writers wait for each other.
    Locked,
}

#[derive(Debug, Clone)]
pub(crate) enum MountKind {
    Bind(State),
    Cache {
        id: String,
        sharing: CacheSharing,
        from: State,
    },
    Tmpfs {
        size: i64,
    },
    Secret(SecretLike),
    Ssh(SecretLike),
}

#[derive(Debug, Clone)]
pub(crate) struct SecretLike {
    pub(crate) id: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    pub(crate) optional: bool,
}

/// One mount of an exec; setters that do not apply to a mount's kind are
/// ignored (a tmpfs has no uid), so one type covers all kinds.
#[derive(Debug, Clone)]
pub struct Mount {
    pub(crate) dest: String,
    pub(crate) kind: MountKind,
    pub(crate) readonly: bool,
    pub(crate) selector: Option<String>,
    pub(crate) no_output: bool,
}

impl Mount {
    fn new(dest: &str, kind: MountKind) -> Self {
        Mount {
            dest: dest.to_string(),
            kind,
            readonly: false,
            selector: None,
            no_output: false,
        }
    }

    /// Mounts `state` at `dest`; writable unless [`Mount::readonly`], and
    /// then its changes are an output ([`ExecState::get_mount`]).
    pub fn bind(dest: &str, state: &State) -> Self {
        Mount::new(dest, MountKind::Bind(state.clone()))
    }

    /// A persistent cache directory shared across builds, keyed by `id`.
    pub fn cache(dest: &str, id: &str) -> Self {
        Mount::new(
            dest,
            MountKind::Cache {
                id: id.to_string(),
                sharing: CacheSharing::Shared,
                from: State::scratch(),
            },
        )
    }

    /// An in-memory filesystem that vanishes after the command.
    pub fn tmpfs(dest: &str) -> Self {
        Mount::new(dest, MountKind::Tmpfs { size: 0 })
    }

    /// A secret file at `dest`, read-only, mode 0400 unless changed.
    pub fn secret(dest: &str, id: &str) -> Self {
        let s = SecretLike {
            id: id.to_string(),
            uid: 0,
            gid: 0,
            mode: 0o400,
            optional: false,
        };
        Mount::new(dest, MountKind::Secret(s))
    }

    /// An SSH agent socket (`id` empty means the default agent). The target
    /// defaults to `/run/buildkit/ssh_agent.N` and `SSH_AUTH_SOCK` points at
    /// the first one, as in Go's llb.
    pub fn ssh(id: &str) -> Self {
        let s = SecretLike {
            id: id.to_string(),
            uid: 0,
            gid: 0,
            mode: 0o600,
            optional: false,
        };
        Mount::new("", MountKind::Ssh(s))
    }

    /// Sets the target path (mainly for SSH sockets).
    pub fn target(mut self, dest: &str) -> Self {
        self.dest = dest.to_string();
        self
    }

    /// Makes the mount read-only (no output).
    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    /// Keeps a writable bind mount's changes out of the results (Go's
    /// `llb.ForceNoOutput`): the command may write, nothing is kept. The
    /// Dockerfile frontend does this for `RUN --mount=type=bind,rw`.
    pub fn no_output(mut self, yes: bool) -> Self {
        self.no_output = yes;
        self
    }

    /// Mounts only this path of the source state.
    pub fn selector(mut self, path: &str) -> Self {
        self.selector = Some(path.to_string());
        self
    }

    /// Cache sharing mode.
    pub fn sharing(mut self, sharing: CacheSharing) -> Self {
        if let MountKind::Cache { sharing: s, .. } = &mut self.kind {
            *s = sharing;
        }
        self
    }

    /// Seeds a cache mount from a state (`--mount=type=cache,from=...`).
    pub fn from(mut self, state: &State) -> Self {
        if let MountKind::Cache { from, .. } = &mut self.kind {
            *from = state.clone();
        }
        self
    }

    /// Size limit of a tmpfs in bytes.
    pub fn size(mut self, bytes: i64) -> Self {
        if let MountKind::Tmpfs { size } = &mut self.kind {
            *size = bytes;
        }
        self
    }

    /// Owner uid of a secret or socket.
    pub fn uid(mut self, uid: u32) -> Self {
        self.secret_like(|s| s.uid = uid);
        self
    }

    /// Owner gid of a secret or socket.
    pub fn gid(mut self, gid: u32) -> Self {
        self.secret_like(|s| s.gid = gid);
        self
    }

    /// File mode of a secret or socket.
    pub fn mode(mut self, mode: u32) -> Self {
        self.secret_like(|s| s.mode = mode);
        self
    }

    /// Do not fail when the client does not provide the secret or socket.
    pub fn optional(mut self, optional: bool) -> Self {
        self.secret_like(|s| s.optional = optional);
        self
    }

    fn secret_like(&mut self, f: impl FnOnce(&mut SecretLike)) {
        if let MountKind::Secret(s) | MountKind::Ssh(s) = &mut self.kind {
            f(s);
        }
    }

    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            MountKind::Bind(_) => "bind",
            MountKind::Cache { .. } => "cache",
            MountKind::Tmpfs { .. } => "tmpfs",
            MountKind::Secret(_) => "secret",
            MountKind::Ssh(_) => "ssh",
        }
    }
}
