//! Exec ops (`RUN`): a command in a container whose root and mounts are
//! states, producing new states for the root and every writable mount.

use std::sync::Arc;

use bollard_buildkit_proto::pb;

use crate::platform::Platform;

use super::constraints::{Constrained, Constraints};
use super::mount::{CacheSharing, Mount, MountKind};
use super::state::{normalize_path, Node, OpSpec, Output, State};
use super::ulimit::Ulimit;
use super::{LlbError, Result};

/// Network access of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetMode {
    /// Own network namespace with outbound access (BuildKit's default).
    #[default]
    Sandbox,
    /// The host's network.
    Host,
    /// No network at all.
    None,
}

/// Privileges of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    /// Normal, unprivileged sandbox.
    #[default]
    Sandbox,
    /// Privileged (`--security=insecure`; needs the daemon's entitlement).
    Insecure,
}

/// A command to run; environment, directory, user and platform come from
/// the state it runs on, with per-exec overrides.
#[derive(Debug, Clone)]
pub struct Exec {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    user: Option<String>,
    hostname: Option<String>,
    network: NetMode,
    security: SecurityMode,
    mounts: Vec<Mount>,
    secret_env: Vec<pb::SecretEnv>,
    extra_hosts: Vec<(String, String)>,
    ulimits: Vec<Ulimit>,
    proxy_env: Option<pb::ProxyEnv>,
    valid_exit_codes: Option<Vec<i32>>,
    readonly_root: bool,
    constraints: Constraints,
}

impl Exec {
    /// Runs `args` directly (exec form).
    pub fn new<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Self {
        Exec {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: None,
            user: None,
            hostname: None,
            network: NetMode::Sandbox,
            security: SecurityMode::Sandbox,
            mounts: Vec::new(),
            secret_env: Vec::new(),
            extra_hosts: Vec::new(),
            ulimits: Vec::new(),
            proxy_env: None,
            valid_exit_codes: None,
            readonly_root: false,
            constraints: Constraints::new(),
        }
    }

    /// Runs `command` with `/bin/sh -c` (shell form).
    pub fn shell(command: &str) -> Self {
        Exec::new(["/bin/sh", "-c", command])
    }

    /// Sets an environment variable for this command only.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
        self
    }

    /// Working directory for this command (relative to the state's).
    pub fn cwd(mut self, dir: &str) -> Self {
        self.cwd = Some(dir.to_string());
        self
    }

    /// User for this command.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }

    /// Container hostname.
    pub fn hostname(mut self, hostname: &str) -> Self {
        self.hostname = Some(hostname.to_string());
        self
    }

    /// Network mode.
    pub fn network(mut self, mode: NetMode) -> Self {
        self.network = mode;
        self
    }

    /// Security mode.
    pub fn security(mut self, mode: SecurityMode) -> Self {
        self.security = mode;
        self
    }

    /// Adds a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Drops the mounts added at `dest`.
    pub fn without_mount(mut self, dest: &str) -> Self {
        self.mounts.retain(|m| m.dest != dest);
        self
    }

    /// Exposes secret `id` as environment variable `name`.
    pub fn secret_env(mut self, id: &str, name: &str, optional: bool) -> Self {
        self.secret_env.push(pb::SecretEnv {
            id: id.to_string(),
            name: name.to_string(),
            optional,
        });
        self
    }

    /// Adds an `/etc/hosts` entry.
    pub fn extra_host(mut self, host: &str, ip: &str) -> Self {
        self.extra_hosts.push((host.to_string(), ip.to_string()));
        self
    }

    /// Adds a resource limit for the command (after any given before,
    /// as Go's `llb.AddUlimit` does).
    pub fn ulimit(mut self, limit: Ulimit) -> Self {
        self.ulimits.push(limit);
        self
    }

    /// Proxy settings for the process (`HTTP_PROXY`, `NO_PROXY`, ...): set
    /// in its environment but, unlike `env`, kept out of the cache key.
    pub fn proxy_env(mut self, proxy: pb::ProxyEnv) -> Self {
        self.proxy_env = Some(proxy);
        self
    }

    /// Exit codes that count as success (default: only 0).
    pub fn valid_exit_codes(mut self, codes: &[i32]) -> Self {
        self.valid_exit_codes = Some(codes.to_vec());
        self
    }

    /// Mounts the root read-only; the exec then has no root output and
    /// [`ExecState::root`] is the unchanged input.
    pub fn readonly_rootfs(mut self, readonly: bool) -> Self {
        self.readonly_root = readonly;
        self
    }
}

impl Constrained for Exec {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

/// A mount ready for marshalling: the `pb::Mount` minus its input index.
pub(crate) struct MountSpec {
    pub(crate) source: Option<Output>,
    pub(crate) mount: pb::Mount,
}

/// An exec op resolved against its base state.
pub(crate) struct ExecSpec {
    /// The op with an empty `meta.env`: the environment is `env`, shared
    /// with the state it ran on and written out only when marshalling.
    pub(crate) exec: pb::ExecOp,
    /// The command's environment in order (`meta.env`, as `KEY=value`).
    pub(crate) env: Arc<Vec<(String, String)>>,
    pub(crate) mounts: Vec<MountSpec>,
    pub(crate) caps: Vec<&'static str>,
    /// The base state's platform, used when the op's constraints set none.
    pub(crate) platform: Option<Platform>,
}

/// What a mount yields after the exec.
#[derive(Clone)]
enum MountResult {
    State(State),
    NoOutput(&'static str),
}

/// The result of [`State::run`]: the new root and the mounts' outputs.
#[derive(Clone)]
pub struct ExecState {
    root: State,
    mounts: Vec<(String, MountResult)>,
}

impl ExecState {
    /// The root filesystem after the command, keeping the base state's
    /// directory, environment and user.
    pub fn root(&self) -> State {
        self.root.clone()
    }

    /// The contents of the mount at `dest` after the command: the changed
    /// filesystem for a writable bind mount, the unchanged source for a
    /// read-only one; cache, tmpfs, secret and SSH mounts have none.
    pub fn get_mount(&self, dest: &str) -> Result<State> {
        match self.mounts.iter().find(|(d, _)| d == dest) {
            Some((_, MountResult::State(s))) => Ok(s.clone()),
            Some((_, MountResult::NoOutput(kind))) => Err(LlbError::MountHasNoOutput {
                kind,
                dest: dest.to_string(),
            }),
            None => Err(LlbError::NoSuchMount(dest.to_string())),
        }
    }
}

impl State {
    /// Runs a command on this state.
    pub fn run(&self, exec: Exec) -> Result<ExecState> {
        if exec.args.is_empty() {
            return Err(LlbError::EmptyArgs);
        }
        // Shared with the state unless this exec adds variables: a copy
        // per RUN of a stage's whole environment was a large share of
        // compile time.
        let mut env = Arc::clone(self.env_shared());
        for (k, v) in &exec.env {
            let owned = Arc::make_mut(&mut env);
            match owned.iter_mut().find(|(ek, _)| ek == k) {
                Some(e) => e.1 = v.clone(),
                None => owned.push((k.clone(), v.clone())),
            }
        }
        let cwd = match &exec.cwd {
            Some(d) => normalize_path(self.get_dir(), d, false),
            None => self.get_dir().to_string(),
        };
        let user = exec
            .user
            .clone()
            .or_else(|| self.get_user().map(str::to_string))
            .unwrap_or_default();

        // The root is a bind mount of this state at "/". Regular mounts are
        // sorted by target as Go's llb does, which makes output indexes (and
        // so digests) independent of the order mounts were added in.
        let root = Mount::bind("/", self).readonly(exec.readonly_root);
        let (mut regular, special): (Vec<Mount>, Vec<Mount>) = std::iter::once(root)
            .chain(exec.mounts.iter().cloned())
            .partition(|m| !matches!(m.kind, MountKind::Secret(_) | MountKind::Ssh(_)));
        regular.sort_by(|a, b| a.dest.cmp(&b.dest));
        let (mut secrets, mut sshs): (Vec<Mount>, Vec<Mount>) = special
            .into_iter()
            .partition(|m| matches!(m.kind, MountKind::Secret(_)));
        for (i, m) in sshs.iter_mut().enumerate() {
            if m.dest.is_empty() {
                m.dest = format!("/run/buildkit/ssh_agent.{i}");
            }
        }
        if let Some(first) = sshs.first() {
            if !env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK") {
                Arc::make_mut(&mut env).push(("SSH_AUTH_SOCK".to_string(), first.dest.clone()));
            }
        }
        let all: Vec<Mount> = regular
            .into_iter()
            .chain(secrets.drain(..))
            .chain(sshs.drain(..))
            .collect();
        for (i, m) in all.iter().enumerate() {
            if all[..i].iter().any(|o| o.dest == m.dest) {
                return Err(LlbError::DuplicateMount(m.dest.clone()));
            }
        }

        let mut caps = vec!["exec.meta.base"];
        if exec.proxy_env.is_some() {
            caps.push("exec.meta.proxyenv");
        }
        if !env.iter().any(|(k, _)| k == "PATH") {
            // Tells the daemon to supply the default PATH itself.
            caps.push("exec.meta.setsdefaultpath");
        }
        if exec.network != NetMode::Sandbox {
            caps.push("exec.meta.network");
        }
        if exec.security != SecurityMode::Sandbox {
            caps.push("exec.meta.security");
        }
        if !exec.secret_env.is_empty() {
            caps.push("exec.secretenv");
        }
        if exec.valid_exit_codes.is_some() {
            caps.push("exec.validexitcode");
        }
        if !exec.ulimits.is_empty() {
            caps.push("exec.meta.ulimit");
        }

        let mut specs = Vec::with_capacity(all.len());
        let mut outputs: Vec<(String, Option<i64>, &'static str, Option<State>)> = Vec::new();
        let mut next_output = 0i64;
        for m in &all {
            let mut pm = pb::Mount {
                input: -1,
                selector: m.selector.clone().unwrap_or_default(),
                dest: m.dest.clone(),
                output: -1,
                readonly: m.readonly,
                ..Default::default()
            };
            if m.selector.is_some() {
                caps.push("exec.mount.selector");
            }
            let source = match &m.kind {
                MountKind::Bind(s) => {
                    if !s.is_scratch() {
                        caps.push("exec.mount.bind");
                    }
                    if m.no_output && !m.readonly {
                        caps.push("exec.mount.bind.readwrite-nooutput");
                    } else if !m.readonly {
                        pm.output = next_output;
                        next_output += 1;
                    }
                    s.output().cloned()
                }
                MountKind::Cache { id, sharing, from } => {
                    caps.extend(["exec.mount.cache", "exec.mount.cache.sharing"]);
                    pm.mount_type = pb::MountType::Cache as i32;
                    let sharing = match sharing {
                        CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                        CacheSharing::Private => pb::CacheSharingOpt::Private,
                        CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                    };
                    pm.cache_opt = Some(pb::CacheOpt {
                        id: id.clone(),
                        sharing: sharing as i32,
                    });
                    from.output().cloned()
                }
                MountKind::Tmpfs { size } => {
                    caps.push("exec.mount.tmpfs");
                    if *size > 0 {
                        caps.push("exec.mount.tmpfs.size");
                    }
                    pm.mount_type = pb::MountType::Tmpfs as i32;
                    pm.tmpfs_opt = Some(pb::TmpfsOpt { size: *size });
                    None
                }
                MountKind::Secret(s) => {
                    caps.push("exec.mount.secret");
                    pm.mount_type = pb::MountType::Secret as i32;
                    pm.secret_opt = Some(pb::SecretOpt {
                        id: s.id.clone(),
                        uid: s.uid,
                        gid: s.gid,
                        mode: s.mode,
                        optional: s.optional,
                    });
                    None
                }
                MountKind::Ssh(s) => {
                    caps.push("exec.mount.ssh");
                    pm.mount_type = pb::MountType::Ssh as i32;
                    pm.ssh_opt = Some(pb::SshOpt {
                        id: s.id.clone(),
                        uid: s.uid,
                        gid: s.gid,
                        mode: s.mode,
                        optional: s.optional,
                    });
                    None
                }
            };
            let readonly_source = match &m.kind {
                MountKind::Bind(s) if m.readonly => Some(s.clone()),
                _ => None,
            };
            let out = (pm.output >= 0).then_some(pm.output);
            outputs.push((m.dest.clone(), out, m.kind_name(), readonly_source));
            specs.push(MountSpec { source, mount: pm });
        }
        caps.sort_unstable();
        caps.dedup();

        let meta = pb::Meta {
            args: exec.args.clone(),
            cwd,
            user,
            hostname: exec.hostname.clone().unwrap_or_default(),
            extra_hosts: exec
                .extra_hosts
                .iter()
                .map(|(host, ip)| pb::HostIp {
                    host: host.clone(),
                    ip: ip.clone(),
                })
                .collect(),
            ulimit: exec.ulimits.iter().map(Ulimit::to_pb).collect(),
            proxy_env: exec.proxy_env.clone(),
            remove_mount_stubs_recursive: true,
            valid_exit_codes: exec.valid_exit_codes.clone().unwrap_or_default(),
            ..Default::default()
        };
        let network = match exec.network {
            NetMode::Sandbox => pb::NetMode::Unset,
            NetMode::Host => pb::NetMode::Host,
            NetMode::None => pb::NetMode::None,
        };
        let security = match exec.security {
            SecurityMode::Sandbox => pb::SecurityMode::Sandbox,
            SecurityMode::Insecure => pb::SecurityMode::Insecure,
        };
        let op = pb::ExecOp {
            meta: Some(meta),
            mounts: Vec::new(),
            network: network as i32,
            security: security as i32,
            secretenv: exec.secret_env.clone(),
            cdi_devices: Vec::new(),
        };
        let op_platform = exec.constraints.platform.clone();
        let spec = ExecSpec {
            exec: op,
            env,
            mounts: specs,
            caps,
            platform: self.get_platform().cloned(),
        };
        let node = Arc::new(Node {
            spec: OpSpec::Exec(Box::new(spec)),
            constraints: exec.constraints,
        });
        let out_platform = op_platform.or_else(|| self.get_platform().cloned());

        let mut root = self.clone();
        let mut mounts = Vec::new();
        for (dest, index, kind, readonly_source) in outputs {
            let result = match (index, readonly_source) {
                (Some(index), _) => {
                    let output = Output {
                        node: node.clone(),
                        index,
                    };
                    if dest == "/" {
                        root = self.with_output(output.clone());
                        if let Some(p) = &out_platform {
                            root = root.platform(p);
                        }
                    }
                    MountResult::State(State::from_output(output, out_platform.clone()))
                }
                (None, Some(source)) => MountResult::State(source),
                (None, None) => MountResult::NoOutput(kind),
            };
            mounts.push((dest, result));
        }
        Ok(ExecState { root, mounts })
    }
}
