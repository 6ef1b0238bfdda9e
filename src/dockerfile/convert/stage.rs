//! One stage being dispatched: the per-instruction conversion of the
//! metadata instructions (BuildKit's `dispatchEnv`, `dispatchLabel`,
//! `dispatchWorkdir`, ...) and the helpers `RUN`, `COPY` and `ADD` share.

use crate::dockerfile::instructions::{Command, Instruction};
use crate::image::ImageConfig;
use crate::llb::{self, Constrained};
use crate::platform::Platform;

use super::args::{self, EnvList, StageArg};
use super::config::{self, add_env};
use super::dispatch::{normalize_workdir, Dispatched, PlatformContext};
use super::names::StepCounter;
use super::stages::StageGraph;
use super::{ConvertError, Result};

/// One stage being dispatched.
pub(super) struct StageBuild<'a> {
    pub ctx: &'a PlatformContext<'a>,
    pub graph: &'a StageGraph<'a>,
    pub done: &'a [Option<Dispatched>],
    pub global: &'a EnvList,
    pub state: llb::State,
    pub image: ImageConfig,
    pub platform: Platform,
    pub args: Vec<StageArg>,
    pub steps: StepCounter,
    pub ignore_cache: bool,
    pub cmd_set: bool,
    pub stage_index: usize,
    /// State of the build checks that look back within the stage.
    pub checks: super::checks::StageChecks,
}

impl StageBuild<'_> {
    /// Expands one word with the stage environment.
    pub fn expand(&self, word: &str, line: usize) -> Result<String> {
        self.ctx
            .lexer
            .process_word(word, &self.state.env())
            .map(|e| e.value)
            .map_err(|e| ConvertError::new(line, e.to_string()))
    }

    /// Where `cmd` is in the Dockerfile, for the source map.
    pub fn location(&self, cmd: &Command) -> Option<llb::SourceLocation> {
        self.ctx.location(cmd.span.start, cmd.span.end)
    }

    /// The next step name for `text` (the source line, variables expanded
    /// for display, keyword upper-cased).
    pub fn step_name(&mut self, text: &str) -> String {
        let state = self.state.clone();
        let env = state.env();
        let shown = super::names::uppercase_cmd(&super::names::expand_for_display(
            &self.ctx.lexer,
            text,
            &env,
        ));
        self.steps
            .name(&shown, self.ctx.multi_platform, &self.platform, env)
    }

    /// Applies one instruction.
    pub(super) fn dispatch(&mut self, cmd: &Command) -> Result<()> {
        self.check_command(cmd);
        let line = cmd.span.start;
        let err = |m: String| ConvertError::new(line, m);
        match &cmd.instruction {
            Instruction::Env(pairs) => {
                let mut msg = String::from("ENV");
                // Every pair is expanded with the environment from before
                // the instruction (`ENV A=1 B=$A` sees the old A).
                let mut expanded = Vec::with_capacity(pairs.len());
                for kv in pairs {
                    expanded.push((self.expand(&kv.key, line)?, self.expand(&kv.value, line)?));
                }
                for (key, value) in expanded {
                    msg.push_str(&format!(" {key}={value}"));
                    self.state = self.state.add_env(&key, &value);
                    add_env(&mut self.image.config.env, &key, &value);
                }
                config::commit(&mut self.image, msg, false, false);
            }
            Instruction::Label(pairs) => {
                let mut msg = String::from("LABEL");
                for kv in pairs {
                    let key = self.expand(&kv.key, line)?;
                    let value = self.expand(&kv.value, line)?;
                    msg.push_str(&format!(" {key}={value}"));
                    self.image.config.labels.insert(key, value);
                }
                config::commit(&mut self.image, msg, false, false);
            }
            Instruction::Arg(defs) => {
                let mut parts = Vec::with_capacity(defs.len());
                for def in defs {
                    let state = self.state.clone();
                    let env = state.env();
                    let arg = args::stage_arg(
                        def,
                        &self.ctx.opts.build_args,
                        self.global,
                        env,
                        &self.ctx.lexer,
                        line,
                    )?;
                    match &arg.value {
                        Some(v) => {
                            self.state = self.state.add_env(&arg.key, v);
                            parts.push(format!("{}={v}", arg.key));
                        }
                        None => parts.push(arg.key.clone()),
                    }
                    self.args.push(arg);
                }
                config::commit(
                    &mut self.image,
                    format!("ARG {}", parts.join(" ")),
                    false,
                    false,
                );
            }
            Instruction::Workdir(path) => {
                let path = self.expand(path, line)?;
                if path.is_empty() {
                    return Err(err("normalizing workdir: cannot normalize nothing".into()));
                }
                let wd = normalize_workdir(&self.image.config.working_dir, &path);
                self.image.config.working_dir = wd.clone();
                self.state = self.state.dir(&wd);
                let with_layer = wd != "/";
                if with_layer {
                    let mut mkdir = llb::Mkdir::new(&wd, 0o755).make_parents(true);
                    if !self.image.config.user.is_empty() {
                        mkdir = mkdir.chown(llb::Chown::parse(&self.image.config.user));
                    }
                    if let Some(epoch) = self.ctx.opts.source_date_epoch {
                        mkdir = mkdir.timestamp(config::system_time(epoch));
                    }
                    let name = self.step_name(&cmd.source);
                    let op = llb::FileOp::new(mkdir)
                        .custom_name(name)
                        .location(self.location(cmd))
                        .ignore_cache(self.ignore_cache);
                    self.state = self.state.file(op);
                }
                config::commit(&mut self.image, format!("WORKDIR {wd}"), with_layer, false);
            }
            Instruction::User(user) => {
                let user = self.expand(user, line)?;
                self.state = self.state.user(&user);
                self.image.config.user = user.clone();
                config::commit(&mut self.image, format!("USER {user}"), false, false);
            }
            Instruction::Expose(ports) => {
                // The history lists the ports in the order of the (sorted,
                // unexpanded) words, duplicates included, as BuildKit's
                // `parsePortSpecs` returns them.
                let mut exposed = Vec::new();
                for p in ports {
                    let words = self
                        .ctx
                        .lexer
                        .process_words(p, &self.state.env())
                        .map_err(|e| err(e.to_string()))?;
                    for w in words {
                        exposed.extend(config::parse_ports(&w).map_err(&err)?);
                    }
                }
                self.image
                    .config
                    .exposed_ports
                    .extend(exposed.iter().cloned());
                config::commit(
                    &mut self.image,
                    format!("EXPOSE {}", config::go_list(&exposed)),
                    false,
                    false,
                );
            }
            Instruction::Volume(vols) => {
                let mut expanded = Vec::with_capacity(vols.len());
                for v in vols {
                    let v = self.expand(v, line)?;
                    if v.is_empty() {
                        return Err(err("VOLUME specified can not be an empty string".into()));
                    }
                    self.image.config.volumes.insert(v.clone());
                    expanded.push(v);
                }
                config::commit(
                    &mut self.image,
                    format!("VOLUME {}", config::go_list(&expanded)),
                    false,
                    false,
                );
            }
            Instruction::StopSignal(sig) => {
                let sig = self.expand(sig, line)?;
                config::check_signal(&sig).map_err(&err)?;
                self.image.config.stop_signal = sig.clone();
                config::commit(&mut self.image, format!("STOPSIGNAL {sig}"), false, false);
            }
            Instruction::Shell(shell) => {
                self.image.config.shell = shell.clone();
                config::commit(
                    &mut self.image,
                    format!("SHELL {}", config::go_list(shell)),
                    false,
                    false,
                );
            }
            Instruction::Cmd(c) => {
                let args = self.with_shell(&c.args, c.shell_form);
                self.image.config.cmd = args.clone();
                self.image.config.args_escaped = true;
                self.cmd_set = true;
                config::commit(
                    &mut self.image,
                    format!("CMD {}", config::go_quote_list(&args)),
                    false,
                    false,
                );
            }
            Instruction::Entrypoint(c) => {
                let args = self.with_shell(&c.args, c.shell_form);
                self.image.config.entrypoint = args.clone();
                if !self.cmd_set {
                    self.image.config.cmd.clear();
                }
                self.image.config.args_escaped = true;
                config::commit(
                    &mut self.image,
                    format!("ENTRYPOINT {}", config::go_quote_list(&args)),
                    false,
                    false,
                );
            }
            Instruction::Healthcheck(h) => {
                let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
                let hc = crate::image::Healthcheck {
                    test: h.test.clone(),
                    interval: ns(h.interval),
                    timeout: ns(h.timeout),
                    start_period: ns(h.start_period),
                    start_interval: ns(h.start_interval),
                    retries: i64::from(h.retries),
                };
                let msg = format!("HEALTHCHECK {}", config::go_quote_healthcheck(&hc));
                self.image.config.healthcheck = Some(hc);
                config::commit(&mut self.image, msg, false, false);
            }
            Instruction::Maintainer(m) => {
                self.image.author = m.clone();
                config::commit(&mut self.image, format!("MAINTAINER {m}"), false, false);
            }
            Instruction::Onbuild(o) => {
                self.image.config.on_build.push(o.expression.clone());
            }
            Instruction::Run(r) => self.dispatch_run(cmd, r)?,
            Instruction::Copy(c) => {
                self.dispatch_copy(cmd, &super::copy::CopySpec::from_copy(c))?
            }
            Instruction::Add(a) => self.dispatch_copy(cmd, &super::copy::CopySpec::from_add(a))?,
        }
        Ok(())
    }

    /// BuildKit's `withShell`: shell form runs under the stage's `SHELL`
    /// (or `/bin/sh -c`), with the words joined by spaces.
    pub fn with_shell(&self, args: &[String], shell_form: bool) -> Vec<String> {
        if !shell_form {
            return args.to_vec();
        }
        let mut shell = if self.image.config.shell.is_empty() {
            default_shell(&self.image.os)
        } else {
            self.image.config.shell.clone()
        };
        shell.push(args.join(" "));
        shell
    }

    /// The state of a `--from` source, which must already be dispatched.
    pub fn source_state(&self, from: &str, line: usize) -> Result<llb::State> {
        let stage_name = self.graph.nodes[self.stage_index].display.clone();
        let missing = || {
            ConvertError::new(
                line,
                format!(
                    "cannot copy from stage {from:?}, it needs to be defined before current stage {stage_name:?}"
                ),
            )
        };
        let index = self.graph.lookup_from(from).ok_or_else(missing)?;
        self.done
            .get(index)
            .and_then(Option::as_ref)
            .map(|d| d.state.clone())
            .ok_or_else(missing)
    }
}

/// `defaultShell`: `/bin/sh -c`, or `cmd /S /C` on Windows.
fn default_shell(os: &str) -> Vec<String> {
    let shell: &[&str] = if os == "windows" {
        &["cmd", "/S", "/C"]
    } else {
        &["/bin/sh", "-c"]
    };
    shell.iter().map(|s| s.to_string()).collect()
}
