//! The build checks (see [`crate::dockerfile::lint`]) that need more than
//! the text: stage names and keyword casing over the whole Dockerfile,
//! `FROM` lines expanded with the global args, and per instruction while a
//! reachable stage is converted, as BuildKit's `dockerfile2llb` runs them
//! (`validateStageNames`, `validateCommandCasing`, `reportUnusedFromArgs`,
//! `dispatchEnv`'s checks, ...). Only the first target platform reports,
//! as in BuildKit.

use std::collections::BTreeSet;

use crate::dockerfile::instructions::{suggest, Command, Instruction, Stages};
use crate::dockerfile::lint::{self, Linter, Rule};
use crate::dockerfile::parser::Dockerfile;
use crate::dockerfile::shell::Lexer;
use crate::llb;
use crate::platform::Platform;

use super::args::EnvList;
use super::stage::StageBuild;

/// Per-stage state of the checks that look back (BuildKit's
/// `instructionTracker`s and `workdirSet`).
#[derive(Debug, Clone, Default)]
pub(super) struct StageChecks {
    /// Lines of the last CMD, ENTRYPOINT and HEALTHCHECK of this stage.
    cmd: Option<(usize, usize)>,
    entrypoint: Option<(usize, usize)>,
    healthcheck: Option<(usize, usize)>,
    /// A WORKDIR was set in this build (inherited from the base stage).
    pub workdir_set: bool,
}

impl StageChecks {
    /// A new stage's state: only `workdir_set` carries over from its base.
    pub fn inheriting(workdir_set: bool) -> StageChecks {
        StageChecks {
            workdir_set,
            ..StageChecks::default()
        }
    }
}

/// BuildKit's `suggest.Search`: the option within edit distance 2 of
/// `value` (the first of the closest), none when one equals it.
pub(super) fn search<'a>(
    value: &str,
    options: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best = None;
    let mut min = 3;
    for option in options {
        if option == value {
            return None;
        }
        let distance = suggest::levenshtein(value, option);
        if distance < min {
            min = distance;
            best = Some(option);
        }
    }
    best
}

/// The keyword as written: the first word of an instruction's source.
fn keyword(source: &str) -> &str {
    source.split_whitespace().next().unwrap_or_default()
}

fn is_self_consistent(word: &str) -> bool {
    word == word.to_lowercase() || word == word.to_uppercase()
}

/// The checks over every stage, reachable or not: empty continuation
/// lines, stage names, `FROM ... AS` casing, keyword casing, MAINTAINER.
pub(super) fn check_dockerfile(dockerfile: &Dockerfile, stages: &Stages, linter: &Linter) {
    for warning in &dockerfile.warnings {
        linter.report(
            &lint::NO_EMPTY_CONTINUATION,
            warning.line,
            warning.line,
            "Empty continuation line".to_string(),
        );
    }
    let mut names = BTreeSet::new();
    for node in dockerfile
        .nodes
        .iter()
        .filter(|n| n.keyword.eq_ignore_ascii_case("from"))
    {
        let (line, end) = (node.span.start, node.span.end);
        let [_, as_word, name] = node.words() else {
            continue;
        };
        if *name != name.to_lowercase() {
            let message = format!("Stage name '{name}' should be lowercase");
            linter.report(&lint::STAGE_NAME_CASING, line, end, message);
        }
        // An inconsistently cased FROM is ConsistentInstructionCasing's.
        let from = node.keyword.as_str();
        let mismatch = if from == from.to_lowercase() {
            *as_word != as_word.to_lowercase()
        } else if from == from.to_uppercase() {
            *as_word != as_word.to_uppercase()
        } else {
            false
        };
        if mismatch {
            let message = format!("'{as_word}' and '{from}' keywords' casing do not match");
            linter.report(&lint::FROM_AS_CASING, line, end, message);
        }
        let lower = name.to_lowercase();
        if matches!(lower.as_str(), "context" | "scratch") {
            let message =
                format!("Stage name should not use the same name as reserved stage {lower:?}");
            linter.report(&lint::RESERVED_STAGE_NAME, line, end, message);
        }
        if !names.insert(lower.clone()) {
            let message = format!("Duplicate stage name {lower:?}, stage names should be unique");
            linter.report(&lint::DUPLICATE_STAGE_NAME, line, end, message);
        }
    }
    for stage in &stages.stages {
        for cmd in &stage.commands {
            if let Instruction::Maintainer(_) = cmd.instruction {
                linter.report(
                    &lint::MAINTAINER_DEPRECATED,
                    cmd.span.start,
                    cmd.span.end,
                    "Maintainer instruction is deprecated in favor of using label".to_string(),
                );
            }
        }
    }
    check_casing(stages, linter);
}

/// `ConsistentInstructionCasing`: every keyword in the case most of them
/// use (the global ARGs before the first FROM are not counted).
fn check_casing(stages: &Stages, linter: &Linter) {
    let keywords: Vec<(&str, usize, usize)> = stages
        .stages
        .iter()
        .flat_map(|stage| {
            std::iter::once((keyword(&stage.source), stage.span.start, stage.span.end)).chain(
                stage
                    .commands
                    .iter()
                    .map(|c| (keyword(&c.source), c.span.start, c.span.end)),
            )
        })
        .collect();
    let (mut lower, mut upper) = (0, 0);
    for (word, _, _) in &keywords {
        if is_self_consistent(word) {
            if *word == word.to_lowercase() {
                lower += 1;
            } else {
                upper += 1;
            }
        }
    }
    let majority_lower = lower > upper;
    for (word, line, end) in keywords {
        let casing = if majority_lower && word != word.to_lowercase() {
            "lowercase"
        } else if !majority_lower && word != word.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        let message =
            format!("Command '{word}' should match the case of the command majority ({casing})");
        linter.report(&lint::CONSISTENT_INSTRUCTION_CASING, line, end, message);
    }
}

/// The `FROM` checks (every stage): undeclared args, `$TARGETPLATFORM`
/// spelled out, constant platforms, and base names that the global args'
/// defaults alone leave empty or invalid. `global` holds the args the
/// build uses, `defaults` the same without `--build-arg` values, and
/// `declared` every global ARG name.
pub(super) fn check_from_lines(
    stages: &Stages,
    global: &EnvList,
    defaults: &EnvList,
    declared: &BTreeSet<String>,
    lexer: &Lexer,
    linter: &Linter,
) {
    let known: BTreeSet<&str> = global
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(declared.iter().map(String::as_str))
        .collect();
    let undeclared = |unmatched: &BTreeSet<String>, line: usize, end: usize| {
        for name in unmatched.iter().filter(|n| !known.contains(n.as_str())) {
            let mut message = format!("FROM argument '{name}' is not declared");
            if let Some(hint) = search(name, known.iter().copied()) {
                message.push_str(&format!(" (did you mean {hint}?)"));
            }
            linter.report(&lint::UNDEFINED_ARG_IN_FROM, line, end, message);
        }
    };
    for stage in &stages.stages {
        let (line, end) = (stage.span.start, stage.span.end);
        if let Ok(base) = lexer.process_word(&stage.base, global) {
            undeclared(&base.unmatched, line, end);
        }
        if let Some(raw) = &stage.platform {
            if let Ok(platform) = lexer.process_word(raw, global) {
                undeclared(&platform.unmatched, line, end);
                let only_target = platform.matched.len() == 1
                    && platform.unmatched.is_empty()
                    && platform.matched.contains("TARGETPLATFORM");
                let target = global
                    .iter()
                    .find(|(k, _)| k == "TARGETPLATFORM")
                    .map(|(_, v)| v.as_str());
                if only_target && target == Some(platform.value.as_str()) {
                    let message = format!(
                        "Setting platform to predefined {raw} in FROM is redundant as this is the default behavior"
                    );
                    linter.report(&lint::REDUNDANT_TARGET_PLATFORM, line, end, message);
                }
                let constant = platform.matched.is_empty() && platform.unmatched.is_empty();
                if let (true, Ok(p)) = (constant, platform.value.parse::<Platform>()) {
                    let name = stage.name.as_deref().unwrap_or_default();
                    if !name.contains(&p.os) && !name.contains(&p.architecture) {
                        let message = format!(
                            "FROM --platform flag should not use constant value {:?}",
                            platform.value
                        );
                        linter.report(
                            &lint::FROM_PLATFORM_FLAG_CONST_DISALLOWED,
                            line,
                            end,
                            message,
                        );
                    }
                }
            }
        }
        let Ok(with_defaults) = lexer.process_word(&stage.base, defaults) else {
            continue;
        };
        if with_defaults.value.is_empty() || llb::normalize_image_ref(&with_defaults.value).is_err()
        {
            let message = format!(
                "Default value for ARG {} results in empty or invalid base image name",
                stage.base
            );
            linter.report(&lint::INVALID_DEFAULT_ARG_IN_FROM, line, end, message);
        }
    }
}

/// `InvalidBaseImagePlatform`: the image resolved for `expected` is of
/// another OS or architecture.
pub(super) fn check_base_platform(
    linter: &Linter,
    name: &str,
    expected: &Platform,
    os: &str,
    architecture: &str,
    variant: &str,
    line: usize,
) {
    if expected.os == os && expected.architecture == architecture {
        return;
    }
    let variant = (!variant.is_empty()).then_some(variant);
    let actual = Platform::new(os, architecture, variant)
        .map(|p| p.normalized_id())
        .unwrap_or_else(|_| format!("{os}/{architecture}"));
    let message = format!(
        "Base image {name} was pulled with platform {actual:?}, expected {:?} for current build",
        expected.normalized_id()
    );
    linter.report(&lint::INVALID_BASE_IMAGE_PLATFORM, line, line, message);
}

/// BuildKit's `validateNoSecretKey`: a name with a secret-like word
/// between underscores (`API_KEY`, `password`), unless it also has an
/// allowed one (`PUBLIC_KEY`, `TOKEN_FILE`).
fn looks_secret(key: &str) -> bool {
    const DENY: &[&str] = &[
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    const ALLOW: &[&str] = &["public", "file", "version"];
    let words: Vec<String> = key.split('_').map(str::to_lowercase).collect();
    words.iter().any(|w| DENY.contains(&w.as_str()))
        && !words.iter().any(|w| ALLOW.contains(&w.as_str()))
}

impl StageBuild<'_> {
    /// Runs the per-instruction checks for `cmd`, before it is applied.
    pub(super) fn check_command(&mut self, cmd: &Command) {
        let Some(linter) = self.ctx.lint else {
            return;
        };
        let (line, end) = (cmd.span.start, cmd.span.end);
        let name = keyword(&cmd.source).to_string();
        let report = |rule: &'static Rule, message: String| linter.report(rule, line, end, message);
        let mut words: Vec<&str> = Vec::new();
        match &cmd.instruction {
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                for kv in pairs {
                    if kv.legacy {
                        report(
                            &lint::LEGACY_KEY_VALUE_FORMAT,
                            format!("\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"),
                        );
                    }
                    words.push(&kv.key);
                    words.push(&kv.value);
                }
                if let Instruction::Env(pairs) = &cmd.instruction {
                    for kv in pairs {
                        let key = self
                            .expand(&kv.key, line)
                            .unwrap_or_else(|_| kv.key.clone());
                        if looks_secret(&key) {
                            report(
                                &lint::SECRETS_USED_IN_ARG_OR_ENV,
                                format!("Do not use ARG or ENV instructions for sensitive data (ENV {key:?})"),
                            );
                        }
                    }
                }
            }
            Instruction::Arg(defs) => {
                let state = self.state.clone();
                let env = state.env();
                let mut known: BTreeSet<&str> = self.args.iter().map(|a| a.key.as_str()).collect();
                for def in defs {
                    if looks_secret(&def.key) {
                        report(
                            &lint::SECRETS_USED_IN_ARG_OR_ENV,
                            format!(
                                "Do not use ARG or ENV instructions for sensitive data (ARG {:?})",
                                def.key
                            ),
                        );
                    }
                    let given = self.ctx.opts.build_args.contains_key(&def.key);
                    if let (Some(default), false) = (&def.value, given) {
                        self.report_undefined(linter, default, env, &known, line, end);
                    }
                    known.insert(&def.key);
                }
            }
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => {
                let tracker = if matches!(cmd.instruction, Instruction::Cmd(_)) {
                    &mut self.checks.cmd
                } else {
                    &mut self.checks.entrypoint
                };
                if let Some((l, e)) = tracker.replace((line, end)) {
                    linter.report(
                        &lint::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                        l,
                        e,
                        format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used"),
                    );
                }
                if c.shell_form && self.image.config.shell.is_empty() {
                    report(
                        &lint::JSON_ARGS_RECOMMENDED,
                        format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals"),
                    );
                }
            }
            Instruction::Healthcheck(_) => {
                if let Some((l, e)) = self.checks.healthcheck.replace((line, end)) {
                    linter.report(
                        &lint::MULTIPLE_INSTRUCTIONS_DISALLOWED,
                        l,
                        e,
                        format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used"),
                    );
                }
            }
            Instruction::Workdir(path) => {
                words.push(path);
                let expanded = self.expand(path, line).unwrap_or_else(|_| path.clone());
                if !self.checks.workdir_set && !expanded.starts_with('/') {
                    report(
                        &lint::WORKDIR_RELATIVE_PATH,
                        format!("Relative workdir {expanded:?} can have unexpected results if the base image changes"),
                    );
                }
                self.checks.workdir_set = true;
            }
            Instruction::User(user) | Instruction::StopSignal(user) => words.push(user),
            // EXPOSE expands its ports later, unchecked, in BuildKit too.
            Instruction::Volume(items) => words.extend(items.iter().map(String::as_str)),
            Instruction::Copy(c) => {
                words.extend(c.paths.sources.iter().map(String::as_str));
                words.push(&c.paths.dest);
                words.extend(c.chown.as_deref());
                words.extend(c.chmod.as_deref());
            }
            Instruction::Add(a) => {
                words.extend(a.paths.sources.iter().map(String::as_str));
                words.push(&a.paths.dest);
                words.extend(a.chown.as_deref());
                words.extend(a.chmod.as_deref());
            }
            _ => {}
        }
        if !words.is_empty() {
            let state = self.state.clone();
            let env = state.env();
            let known: BTreeSet<&str> = self.args.iter().map(|a| a.key.as_str()).collect();
            for word in words {
                self.report_undefined(linter, word, env, &known, line, end);
            }
        }
    }

    /// `UndefinedVar`: variables `word` uses that are neither set nor
    /// declared with ARG, with a close name as a hint.
    fn report_undefined(
        &self,
        linter: &Linter,
        word: &str,
        env: &[(String, String)],
        known: &BTreeSet<&str>,
        line: usize,
        end: usize,
    ) {
        let Ok(expansion) = self.ctx.lexer.process_word(word, &env) else {
            return;
        };
        for name in expansion
            .unmatched
            .iter()
            .filter(|n| !known.contains(n.as_str()))
        {
            let mut message = format!("Usage of undefined variable '${name}'");
            if let Some(hint) = search(name, env.iter().map(|(k, _)| k.as_str())) {
                message.push_str(&format!(" (did you mean ${hint}?)"));
            }
            linter.report(&lint::UNDEFINED_VAR, line, end, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_like_names() {
        for key in [
            "API_KEY",
            "password",
            "GITHUB_TOKEN",
            "secret_MESSAGE",
            "AUTH",
        ] {
            assert!(looks_secret(key), "{key}");
        }
        for key in [
            "PUBLIC_KEY",
            "TOKEN_FILE",
            "KEY_VERSION",
            "MONKEY",
            "my-key",
            "keys",
        ] {
            assert!(!looks_secret(key), "{key}");
        }
    }

    #[test]
    fn suggestions_like_buildkit() {
        assert_eq!(search("HOM", ["HOME", "PATH"]), Some("HOME"));
        assert_eq!(search("HOME", ["HOME", "HOMER"]), None);
        assert_eq!(search("XYZ", ["HOME", "PATH"]), None);
    }
}
