//! `COPY` and `ADD`: sources from the context, another stage, an image, a
//! named context, an HTTP URL, a git repository or a heredoc, into a
//! destination relative to `WORKDIR` — BuildKit's `dispatchCopy`.

use crate::dockerfile::instructions::{AddInstruction, Command, CopyInstruction, SourcesAndDest};
use crate::dockerfile::shell::Lexer;
use crate::llb::{self, Constrained};

use super::config;
use super::dispatch::clean;
use super::names::{expand_for_display, uppercase_cmd};
use super::stage::StageBuild;
use super::{ConvertError, Result};

/// What `COPY` and `ADD` have in common.
pub(super) struct CopySpec<'a> {
    is_add: bool,
    paths: &'a SourcesAndDest,
    from: Option<&'a str>,
    chown: Option<&'a str>,
    chmod: Option<&'a str>,
    link: bool,
    parents: bool,
    excludes: &'a [String],
    checksum: Option<&'a str>,
    unpack: Option<bool>,
    keep_git_dir: bool,
}

impl<'a> CopySpec<'a> {
    /// From a `COPY`.
    pub fn from_copy(c: &'a CopyInstruction) -> Self {
        CopySpec {
            is_add: false,
            paths: &c.paths,
            from: c.from.as_deref(),
            chown: c.chown.as_deref(),
            chmod: c.chmod.as_deref(),
            link: c.link,
            parents: c.parents,
            excludes: &c.excludes,
            checksum: None,
            unpack: None,
            keep_git_dir: false,
        }
    }

    /// From an `ADD`.
    pub fn from_add(a: &'a AddInstruction) -> Self {
        CopySpec {
            is_add: true,
            paths: &a.paths,
            from: None,
            chown: a.chown.as_deref(),
            chmod: a.chmod.as_deref(),
            link: a.link,
            parents: false,
            excludes: &a.excludes,
            checksum: a.checksum.as_deref(),
            unpack: a.unpack,
            keep_git_dir: a.keep_git_dir,
        }
    }
}

/// The permission bits of `--chmod`.
enum Chmod {
    Octal(u32),
    Symbolic(String),
}

impl StageBuild<'_> {
    /// Converts one `COPY` or `ADD`.
    pub(super) fn dispatch_copy(&mut self, cmd: &Command, spec: &CopySpec<'_>) -> Result<()> {
        let line = cmd.span.start;
        let err = |m: &str| ConvertError::new(line, m);
        let opt_expand = |s: Option<&str>| -> Result<Option<String>> {
            s.map(|v| self.expand(v, line)).transpose()
        };
        let chown = opt_expand(spec.chown)?.filter(|s| !s.is_empty());
        let chmod_text = opt_expand(spec.chmod)?.filter(|s| !s.is_empty());
        let checksum = opt_expand(spec.checksum)?.filter(|s| !s.is_empty());
        let mut excludes = Vec::with_capacity(spec.excludes.len());
        for e in spec.excludes {
            excludes.push(self.expand(e, line)?);
        }
        let mut sources = Vec::with_capacity(spec.paths.sources.len());
        for s in &spec.paths.sources {
            sources.push(self.expand(s, line)?);
        }
        let dest_raw = self.expand(&spec.paths.dest, line)?;
        let dest = relative_to_workdir(self.state.get_dir(), &dest_raw);

        let chmod = match &chmod_text {
            None => None,
            Some(text) => Some(parse_chmod(text).map_err(|m| err(&m))?),
        };
        if checksum.is_some() {
            if !spec.is_add {
                return Err(err("checksum can't be specified for COPY"));
            }
            if sources.len() != 1 {
                return Err(err("checksum can't be specified for multiple sources"));
            }
            if !is_http(&sources[0]) && !is_git(&sources[0]) {
                return Err(err("checksum requires HTTP(S) or Git sources"));
            }
        }
        let source = match spec.from {
            Some(from) => self.source_state(from, line)?,
            None => self.ctx.opts.context.clone(),
        };

        let mut msg = String::from(if spec.is_add { "ADD" } else { "COPY" });
        if spec.parents {
            msg.push_str(" --parents");
        }
        if let Some(c) = &chown {
            msg.push_str(&format!(" --chown={c}"));
        }
        if let Some(c) = &chmod_text {
            msg.push_str(&format!(" --chmod={c}"));
        }

        let state = self.state.clone();
        let env = state.env();
        let name = uppercase_cmd(&expand_for_display(&self.ctx.lexer, &cmd.source, &env));
        let step = self
            .steps
            .name(&name, self.ctx.multi_platform, &self.platform, env);

        let finish = |mut c: llb::Copy| -> llb::Copy {
            c = c.create_dest_path(true);
            match &chmod {
                Some(Chmod::Octal(m)) => c = c.chmod(*m),
                Some(Chmod::Symbolic(s)) => c = c.chmod_str(s),
                None => {}
            }
            if let Some(owner) = &chown {
                c = c.chown(llb::Chown::parse(owner));
            }
            if !excludes.is_empty() {
                c = c.exclude_patterns(&excludes);
            }
            c
        };

        let mut copies: Vec<llb::Copy> = Vec::new();
        for src in &sources {
            msg.push_str(&format!(" {src}"));
            if is_git(src) {
                if !spec.is_add {
                    return Err(err("source can't be a git ref for COPY"));
                }
                let git = llb::Git::new(src)
                    .map_err(|e| err(&e.to_string()))?
                    .keep_git_dir(spec.keep_git_dir)
                    .custom_name(step.clone())
                    .location(self.location(cmd));
                copies.push(finish(llb::Copy::new(&git.into_state(), "/", &dest)));
            } else if is_http(src) {
                if !spec.is_add {
                    return Err(err("source can't be a URL for COPY"));
                }
                let file = url_file_name(src);
                let mut http = llb::Http::new(src)
                    .map_err(|e| err(&e.to_string()))?
                    .filename(&file)
                    .custom_name(step.clone())
                    .location(self.location(cmd));
                if let Some(sum) = &checksum {
                    http = http.checksum(sum);
                }
                let c = llb::Copy::new(&http.into_state(), &file, &dest)
                    .attempt_unpack(spec.unpack.unwrap_or(false));
                copies.push(finish(c));
            } else {
                let (src, patterns) = if spec.parents {
                    let (parent, pattern) = match src.split_once("/./") {
                        Some((p, pat)) => (p.to_string(), pat.to_string()),
                        None => ("/".to_string(), src.clone()),
                    };
                    let pattern = clean(&format!("/{pattern}"));
                    (parent, vec![pattern.trim_start_matches('/').to_string()])
                } else {
                    (src.clone(), Vec::new())
                };
                let src = clean(&format!("/{src}"));
                let mut c = llb::Copy::new(&source, &src, &dest)
                    .follow_symlinks(true)
                    .dir_contents_only(true)
                    .attempt_unpack(spec.unpack.unwrap_or(spec.is_add))
                    .allow_wildcard(true)
                    .allow_empty_wildcard(true);
                if !patterns.is_empty() {
                    c = c.include_patterns(&patterns);
                }
                copies.push(finish(c));
            }
        }
        for content in &spec.paths.contents {
            msg.push_str(&format!(" <<{}", content.path));
            let data = if content.expand {
                let raw = Lexer {
                    skip_process_quotes: true,
                    ..Lexer::new('\\')
                };
                raw.process_word(&content.data, &self.state.env())
                    .map_err(|e| err(&e.to_string()))?
                    .value
            } else {
                content.data.clone()
            };
            let doc = llb::State::scratch().file(
                llb::FileOp::new(llb::Mkfile::new(&content.path, 0o644, data.into_bytes()))
                    .custom_name("[internal] preparing inline document"),
            );
            let src = clean(&format!("/{}", content.path));
            copies.push(finish(llb::Copy::new(&doc, &src, &dest)));
        }
        msg.push_str(&format!(" {dest_raw}"));

        let mut actions = copies.into_iter();
        let Some(first) = actions.next() else {
            return Err(err("no source files were specified"));
        };
        let mut op = llb::FileOp::new(first);
        for a in actions {
            op = op.then(a);
        }
        let op = op
            .ignore_cache(self.ignore_cache)
            .location(self.location(cmd));

        if spec.link && chmod.is_none() {
            // `--link`: copy onto an empty layer and merge it, so the layer
            // does not depend on what is below it.
            let group = format!("{}:{line}", self.steps.stage);
            self.steps.index -= 1;
            let copy_name = self
                .steps
                .name(&name, self.ctx.multi_platform, &self.platform, env);
            self.steps.index -= 1;
            let link_name = self.steps.name(
                &format!("LINK {name}"),
                self.ctx.multi_platform,
                &self.platform,
                env,
            );
            let layer =
                llb::State::scratch().file(op.custom_name(copy_name.clone()).progress_group(
                    group.clone(),
                    copy_name.clone(),
                    true,
                ));
            let merged = llb::merge(
                &[self.state.clone(), layer],
                llb::Constraints::new()
                    .custom_name(link_name)
                    .location(self.location(cmd))
                    .progress_group(group, copy_name, false)
                    .ignore_cache(self.ignore_cache),
            );
            if let Some(out) = merged.output() {
                self.state = self.state.with_output(out.clone());
            }
        } else {
            self.state = self.state.file(op.custom_name(step));
        }
        config::commit(&mut self.image, msg, true, true);
        Ok(())
    }
}

/// BuildKit's `pathRelativeToWorkingDir` + `system.NormalizePath` with
/// `keepSlash`: absolute, cleaned, and a trailing `/` (or `/.`) kept because
/// it means "into this directory".
fn relative_to_workdir(dir: &str, p: &str) -> String {
    let p = if p.is_empty() || p == "." { "./" } else { p };
    let mut out = if p.starts_with('/') {
        clean(p)
    } else {
        clean(&format!("/{dir}/{p}"))
    };
    if p.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    } else if p.ends_with("/.") {
        if out != "/" {
            out.push('/');
        }
        out.push('.');
    }
    out
}

fn is_http(src: &str) -> bool {
    (src.starts_with("http://") || src.starts_with("https://")) && !is_git(src)
}

/// A git URL the way BuildKit's `dfgitutil` tells one from a plain URL or
/// path: `git://`, `git@host:`, `ssh://`, or http(s) ending in `.git`
/// (before any `#ref`).
fn is_git(src: &str) -> bool {
    let remote = src.split('#').next().unwrap_or(src);
    src.starts_with("git://")
        || src.starts_with("git@")
        || src.starts_with("ssh://")
        || ((src.starts_with("http://") || src.starts_with("https://"))
            && remote.trim_end_matches('/').ends_with(".git"))
}

/// The file name an `ADD <url>` download gets: the last path segment, or
/// `__unnamed__`.
fn url_file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." && !path.ends_with('/') => base.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// `--chmod`: octal up to 07777, or a symbolic mode (`u+x,go-w`).
fn parse_chmod(text: &str) -> Result<Chmod, String> {
    let non_octal = || {
        format!(
            "invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777"
        )
    };
    if let Ok(m) = u32::from_str_radix(text, 8) {
        return if m > 0o7777 {
            Err(non_octal())
        } else {
            Ok(Chmod::Octal(m))
        };
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(non_octal());
    }
    let valid = text.split(',').all(|clause| {
        let ops = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        !ops.is_empty()
            && ops.starts_with(['+', '-', '='])
            && ops.chars().all(|c| "+-=rwxXstugo".contains(c))
    });
    if valid {
        Ok(Chmod::Symbolic(text.to_string()))
    } else {
        Err(format!("invalid chmod parameter: '{text}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(relative_to_workdir("/app", "."), "/app/");
        assert_eq!(relative_to_workdir("/app", "bin/"), "/app/bin/");
        assert_eq!(relative_to_workdir("/app", "bin"), "/app/bin");
        assert_eq!(relative_to_workdir("/app", "/usr/bin/"), "/usr/bin/");
        assert_eq!(relative_to_workdir("/", "x/."), "/x/.");
    }

    #[test]
    fn url_names() {
        assert_eq!(url_file_name("https://e.com/a/b.tgz?x=1"), "b.tgz");
        assert_eq!(url_file_name("https://e.com/"), "__unnamed__");
        assert_eq!(url_file_name("https://e.com"), "__unnamed__");
        assert!(is_git("https://github.com/moby/buildkit.git#v0.12"));
        assert!(is_git("git@github.com:moby/buildkit.git"));
        assert!(!is_git("https://e.com/x.tar.gz"));
    }

    #[test]
    fn chmod_forms() {
        assert!(matches!(parse_chmod("755"), Ok(Chmod::Octal(0o755))));
        assert!(matches!(parse_chmod("u+x,go-w"), Ok(Chmod::Symbolic(_))));
        assert!(parse_chmod("17777").is_err());
        assert!(parse_chmod("8").is_err());
        assert!(parse_chmod("u+q").is_err());
    }
}
