//! `RUN`: the command (shell or exec form, heredoc scripts), its mounts
//! (`bind`, `cache`, `tmpfs`, `secret`, `ssh`), network and security mode,
//! the step name and the history entry — BuildKit's `dispatchRun`,
//! `dispatchRunMounts`, `dispatchSecret` and `dispatchSSH`.

use crate::dockerfile::instructions::{
    parse_mount, CacheSharing, Command, Mount, MountType, NetworkMode, RunInstruction, SecurityMode,
};
use crate::dockerfile::parser::parse_heredoc;
use crate::dockerfile::shell::Lexer;
use crate::llb::{self, Constrained};

use super::args::run_history_args;
use super::config;
use super::dispatch::{clean, DF_CMD_KEY};
use super::names::{summarize_heredoc, uppercase_cmd};
use super::stage::StageBuild;
use super::{ConvertError, Result};

/// Where the `shm-size` option mounts its sized tmpfs.
const SHM_DIR: &str = "/dev/shm";

/// Where a `#!` heredoc script is mounted.
const PIPES_DIR: &str = "/dev/pipes/";

impl StageBuild<'_> {
    /// Converts one `RUN`.
    pub(super) fn dispatch_run(&mut self, cmd: &Command, run: &RunInstruction) -> Result<()> {
        let line = cmd.span.start;
        let err = |m: String| ConvertError::new(line, m);
        let mut custom_name = cmd.source.clone();
        let mut args = run.command.args.clone();
        let mut exec_mounts = Vec::new();

        if let Some(first) = run.files.first() {
            if args.len() != 1 || !run.command.shell_form {
                return Err(err(format!(
                    "parsing produced an invalid run command: {}",
                    config::go_list(&args)
                )));
            }
            if parse_heredoc(&args[0]).is_some() {
                let data = first.chomped_content();
                if self.image.os != "windows" && data.starts_with("#!") {
                    // A script with its own interpreter: write it to a file
                    // and execute that, like BuildKit.
                    let script = llb::State::scratch().file(
                        llb::FileOp::new(llb::Mkfile::new(&first.name, 0o755, data.as_bytes()))
                            .custom_name("[internal] preparing inline document"),
                    );
                    exec_mounts.push(
                        llb::Mount::bind(PIPES_DIR, &script)
                            .selector("/")
                            .readonly(true),
                    );
                    args = vec![format!("{PIPES_DIR}{}", first.name)];
                } else {
                    // Run the content with the shell: a heredoc even for
                    // shells that have none.
                    args = vec![data];
                }
                custom_name.push_str(&format!(" ({})", summarize_heredoc(&first.content)));
            } else {
                // `RUN python3 <<EOF`: hand the shell the whole heredoc.
                let mut script = args[0].clone();
                for file in &run.files {
                    script.push('\n');
                    script.push_str(&file.content);
                    script.push_str(&file.name);
                }
                args = vec![script];
            }
        }
        let args = self.with_shell(&args, run.command.shell_form);
        let state = self.state.clone();
        let env = state.env();

        let mut exec = llb::Exec::new(args.clone());
        for m in exec_mounts {
            exec = exec.mount(m);
        }
        for raw in &run.mounts {
            exec = self.add_mount(exec, raw, line)?;
        }
        exec = match run.network {
            Some(NetworkMode::None) => exec.network(llb::NetMode::None),
            Some(NetworkMode::Host) => exec.network(llb::NetMode::Host),
            // BuildKit's frontend sets the forced mode on the stage state;
            // only a RUN's own none or host replaces it.
            Some(NetworkMode::Default) | None => match self.ctx.opts.run.network {
                Some(mode) => exec.network(mode),
                None => exec,
            },
        };
        if run.security == Some(SecurityMode::Insecure) {
            exec = exec.security(llb::SecurityMode::Insecure);
        }
        if let Some(proxy) = proxy_env(&self.ctx.opts.build_args) {
            exec = exec.proxy_env(proxy);
        }
        exec = apply_run_options(exec, &self.ctx.opts.run);

        // BuildKit names RUN steps with quotes kept and unknown variables
        // left as written.
        let display_lexer = Lexer {
            raw_quotes: true,
            skip_unset_env: true,
            ..self.ctx.lexer
        };
        let shown = display_lexer
            .process_word(&custom_name, &env)
            .map(|e| e.value)
            .unwrap_or(custom_name);
        let name = self.steps.name(
            &uppercase_cmd(&shown),
            self.ctx.multi_platform,
            &self.platform,
            env,
        );
        exec = exec
            .custom_name(name)
            .description(DF_CMD_KEY, cmd.source.clone())
            .location(self.location(cmd))
            .ignore_cache(self.ignore_cache);
        self.state = self.state.run(exec).map_err(|e| err(e.to_string()))?.root();

        let mut words = run_history_args(&self.args, env);
        words.extend(args);
        config::commit(
            &mut self.image,
            format!("RUN {}", words.join(" ")),
            true,
            true,
        );
        Ok(())
    }

    /// Parses one `--mount` (values expanded with the stage env) and adds
    /// it to `exec`.
    fn add_mount(&self, exec: llb::Exec, raw: &str, line: usize) -> Result<llb::Exec> {
        let err = |m: String| ConvertError::new(line, m);
        let mut expand = |v: &str| {
            self.ctx
                .lexer
                .process_word(v, &self.state.env())
                .map(|e| e.value)
                .map_err(|e| e.to_string())
        };
        let mut m = parse_mount(raw, &mut expand).map_err(|e| err(e.to_string()))?;
        match m.kind {
            MountType::Secret => return self.add_secret(exec, &m, line),
            MountType::Ssh => return add_ssh(exec, &m, line),
            _ => {}
        }
        if m.from.is_empty() && m.kind == MountType::Cache {
            m.from = "scratch".to_string();
        }
        let implicit_scratch = m.from == "scratch" && self.graph.lookup_from("scratch").is_none();
        let mut source = if m.kind == MountType::Tmpfs || implicit_scratch {
            llb::State::scratch()
        } else if m.from.is_empty() {
            self.ctx.opts.context.clone()
        } else {
            self.source_state(&m.from, line)?
        };

        let target = if m.target.starts_with('/') {
            clean(&m.target)
        } else {
            clean(&format!("/{}/{}", self.state.get_dir(), m.target))
        };
        if target == "/" {
            return Err(err(format!("invalid mount target {target:?}")));
        }
        let src = clean(&format!("/{}", m.source));
        let mut selector = (src != "/").then_some(src);
        if selector.is_none() && (m.uid.is_some() || m.gid.is_some() || m.mode.is_some()) {
            // BuildKit prepares an owned directory and mounts that.
            let mkdir = llb::Mkdir::new("/cache", m.mode.unwrap_or(0o755))
                .chown(llb::Chown::ids(m.uid.unwrap_or(0), m.gid.unwrap_or(0)));
            source = source.file(
                llb::FileOp::new(mkdir).custom_name("[internal] settings cache mount permissions"),
            );
            selector = Some("/cache".to_string());
        }

        let mut mount = match m.kind {
            MountType::Tmpfs => {
                let mut t = llb::Mount::tmpfs(&target);
                if let Some(size) = m.size_limit {
                    t = t.size(size);
                }
                t
            }
            MountType::Cache => {
                let id = if m.id.is_empty() {
                    clean_relative(&m.target)
                } else {
                    m.id.clone()
                };
                let sharing = match m.sharing {
                    Some(CacheSharing::Private) => llb::CacheSharing::Private,
                    Some(CacheSharing::Locked) => llb::CacheSharing::Locked,
                    Some(CacheSharing::Shared) | None => llb::CacheSharing::Shared,
                };
                llb::Mount::cache(&target, &format!("/{id}"))
                    .sharing(sharing)
                    .from(&source)
            }
            _ => llb::Mount::bind(&target, &source).no_output(!m.read_only),
        };
        if m.read_only {
            mount = mount.readonly(true);
        }
        if let Some(sel) = selector {
            mount = mount.selector(&sel);
        }
        Ok(exec.mount(mount))
    }

    /// `--mount=type=secret`: a file under `/run/secrets/` unless placed
    /// elsewhere, and/or an environment variable.
    fn add_secret(&self, mut exec: llb::Exec, m: &Mount, line: usize) -> Result<llb::Exec> {
        let mut id = if m.source.is_empty() {
            m.id.clone()
        } else {
            m.source.clone()
        };
        if id.is_empty() {
            if m.target.is_empty() {
                return Err(ConvertError::new(line, "one of source, target required"));
            }
            id = base_name(&m.target);
        }
        let mut target = m.target.clone();
        if target.is_empty() && m.env.is_none() {
            target = format!("/run/secrets/{}", base_name(&id));
        }
        let optional = !m.required;
        if !target.is_empty() {
            let mut mount = llb::Mount::secret(&target, &id).optional(optional);
            if m.uid.is_some() || m.gid.is_some() || m.mode.is_some() {
                mount = mount
                    .uid(m.uid.unwrap_or(0))
                    .gid(m.gid.unwrap_or(0))
                    .mode(m.mode.unwrap_or(0o400));
            }
            exec = exec.mount(mount);
        }
        if let Some(env) = &m.env {
            exec = exec.secret_env(&id, env, optional);
        }
        Ok(exec)
    }
}

/// `--mount=type=ssh`: an agent socket.
fn add_ssh(exec: llb::Exec, m: &Mount, line: usize) -> Result<llb::Exec> {
    if !m.source.is_empty() {
        return Err(ConvertError::new(line, "ssh does not support source"));
    }
    let mut mount = llb::Mount::ssh(&m.id).optional(!m.required);
    if !m.target.is_empty() {
        mount = mount.target(&m.target);
    }
    if m.uid.is_some() || m.gid.is_some() || m.mode.is_some() {
        mount = mount
            .uid(m.uid.unwrap_or(0))
            .gid(m.gid.unwrap_or(0))
            .mode(m.mode.unwrap_or(0o600));
    }
    Ok(exec.mount(mount))
}

/// Go's `path.Base`.
fn base_name(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Clean` for a path that may be relative (the default cache
/// id is the target as written, cleaned).
fn clean_relative(p: &str) -> String {
    if p.starts_with('/') {
        return clean(p);
    }
    let c = clean(&format!("/{p}"));
    match c.strip_prefix('/') {
        Some("") | None => ".".to_string(),
        Some(rest) => rest.to_string(),
    }
}

/// BuildKit hands proxy build args to every RUN, declared or not, as the
/// exec's proxy environment (outside the cache key and the history); either
/// spelling of each name counts, the upper-case one first.
fn proxy_env(
    build_args: &std::collections::BTreeMap<String, String>,
) -> Option<bollard_buildkit_proto::pb::ProxyEnv> {
    let get = |upper: &str, lower: &str| {
        build_args
            .get(upper)
            .or_else(|| build_args.get(lower))
            .cloned()
            .unwrap_or_default()
    };
    let proxy = bollard_buildkit_proto::pb::ProxyEnv {
        http_proxy: get("HTTP_PROXY", "http_proxy"),
        https_proxy: get("HTTPS_PROXY", "https_proxy"),
        ftp_proxy: get("FTP_PROXY", "ftp_proxy"),
        no_proxy: get("NO_PROXY", "no_proxy"),
        all_proxy: get("ALL_PROXY", "all_proxy"),
    };
    let empty = proxy.http_proxy.is_empty()
        && proxy.https_proxy.is_empty()
        && proxy.ftp_proxy.is_empty()
        && proxy.no_proxy.is_empty()
        && proxy.all_proxy.is_empty();
    (!empty).then_some(proxy)
}

/// Adds the frontend's options for every RUN (BuildKit `dispatchRun`:
/// extra hosts, ulimits, a sized tmpfs on `/dev/shm`; the hostname comes
/// from the stage state there, which every RUN of the stage inherits).
/// A RUN that mounts `/dev/shm` itself loses that mount to the sized
/// tmpfs: BuildKit adds its tmpfs after the RUN's mounts, so the daemon
/// mounts it over the RUN's and only the sized one is seen.
fn apply_run_options(mut exec: llb::Exec, run: &super::RunOptions) -> llb::Exec {
    for (host, ip) in &run.extra_hosts {
        exec = exec.extra_host(host, ip);
    }
    for limit in &run.ulimits {
        exec = exec.ulimit(limit.clone());
    }
    if run.shm_size > 0 {
        exec = exec
            .without_mount(SHM_DIR)
            .mount(llb::Mount::tmpfs(SHM_DIR).size(run.shm_size));
    }
    if let Some(hostname) = &run.hostname {
        exec = exec.hostname(hostname);
    }
    exec
}
