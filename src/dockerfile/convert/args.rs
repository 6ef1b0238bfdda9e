//! Build arguments: the automatic platform args, the global (meta) args
//! before the first `FROM`, and `ARG` inside a stage, with BuildKit's
//! precedence (`--build-arg` > default > inherited global value).
//!
//! Besides BuildKit's platform args, crossbuild offers cross toolchain
//! names (`TARGET_GNU_TRIPLE`, ...) the same way; see [`toolchain`].

mod toolchain;

use std::collections::BTreeMap;

use crate::dockerfile::instructions::{ArgDefinition, MetaArg};
use crate::dockerfile::shell::Lexer;
use crate::platform::Platform;

use super::{ConvertError, Result};

/// An ordered list of variables where setting a key again replaces it in
/// place (Go's `llb.EnvList.AddOrReplace`).
pub(super) type EnvList = Vec<(String, String)>;

/// Sets `key` in `env`, replacing an existing value in place.
pub(super) fn set_env(env: &mut EnvList, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

/// BuildKit's `defaultArgs`: the platform args every `FROM` can use and
/// every stage can import with a bare `ARG NAME`, followed by crossbuild's
/// toolchain args for the target and build platforms. A `--build-arg` of
/// the same name overrides the computed value.
pub(super) fn platform_args(
    build: &Platform,
    target: &Platform,
    target_stage: &str,
    overrides: &BTreeMap<String, String>,
) -> EnvList {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let pairs = [
        ("BUILDPLATFORM", format_platform(build)),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", opt(&build.os_version)),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", opt(&build.variant)),
        ("TARGETPLATFORM", target.to_string()),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", opt(&target.os_version)),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", opt(&target.variant)),
        ("TARGETSTAGE", target_stage.to_string()),
    ];
    let pairs = pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .chain(toolchain::toolchain_args("TARGET", target))
        .chain(toolchain::toolchain_args("BUILD", build));
    let mut env = EnvList::new();
    for (key, value) in pairs {
        let value = overrides.get(&key).cloned().unwrap_or(value);
        set_env(&mut env, &key, &value);
    }
    env
}

/// containerd's `platforms.Format` (no OS version), used for
/// `BUILDPLATFORM`; `TARGETPLATFORM` uses `FormatAll` (our `Display`).
fn format_platform(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// BuildKit's `buildMetaArgs`: each global `ARG` takes its `--build-arg`
/// value, or its default expanded with the args before it; an `ARG` with
/// neither stays undefined.
pub(super) fn meta_args(
    mut env: EnvList,
    lexer: &Lexer,
    meta: &[MetaArg],
    build_args: &BTreeMap<String, String>,
) -> Result<EnvList> {
    for cmd in meta {
        for arg in &cmd.args {
            let value = match (build_args.get(&arg.key), &arg.value) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => Some(
                    lexer
                        .process_word(default, &env)
                        .map_err(|e| ConvertError::new(cmd.span.start, e.to_string()))?
                        .value,
                ),
                (None, None) => None,
            };
            if let Some(v) = value {
                set_env(&mut env, &arg.key, &v);
            }
        }
    }
    Ok(env)
}

/// One `ARG` inside a stage after BuildKit's `dispatchArg` rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StageArg {
    /// The name.
    pub key: String,
    /// The value, when it has one (then it is also in the stage env).
    pub value: Option<String>,
}

/// Resolves one stage `ARG`: `--build-arg` wins; then the default (expanded
/// with the stage env); a bare `ARG` imports the global value (meta args and
/// platform args).
pub(super) fn stage_arg(
    arg: &ArgDefinition,
    build_args: &BTreeMap<String, String>,
    global: &EnvList,
    stage_env: &[(String, String)],
    lexer: &Lexer,
    line: usize,
) -> Result<StageArg> {
    let value = if let Some(v) = build_args.get(&arg.key) {
        Some(v.clone())
    } else if let Some(default) = &arg.value {
        let expanded = lexer
            .process_word(default, &stage_env)
            .map_err(|e| ConvertError::new(line, e.to_string()))?;
        Some(expanded.value)
    } else {
        global
            .iter()
            .find(|(k, _)| k == &arg.key)
            .map(|(_, v)| v.clone())
    };
    Ok(StageArg {
        key: arg.key.clone(),
        value,
    })
}

/// The `|N K=V ...` prefix BuildKit writes before a `RUN` command in the
/// image history (`runCommandString`): every declared arg with its current
/// value, later declarations replacing earlier ones in place.
pub(super) fn run_history_args(args: &[StageArg], env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for arg in args {
        let v = env
            .iter()
            .find(|(k, _)| k == &arg.key)
            .map(|(_, v)| v.clone())
            .or_else(|| arg.value.clone())
            .unwrap_or_default();
        match out.iter_mut().find(|(k, _)| k == &arg.key) {
            Some(e) => e.1 = v,
            None => out.push((arg.key.clone(), v)),
        }
    }
    if out.is_empty() {
        return Vec::new();
    }
    let mut words = vec![format!("|{}", out.len())];
    words.extend(out.into_iter().map(|(k, v)| format!("{k}={v}")));
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().expect("platform")
    }

    #[test]
    fn platform_args_per_target() {
        let env = platform_args(&p("linux/amd64"), &p("linux/arm/v7"), "", &BTreeMap::new());
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(get("TARGETARCH"), Some("arm"));
        assert_eq!(get("TARGETVARIANT"), Some("v7"));
        assert_eq!(get("BUILDVARIANT"), Some(""));
        let over = BTreeMap::from([("TARGETARCH".to_string(), "x".to_string())]);
        let env = platform_args(&p("linux/amd64"), &p("linux/arm64"), "", &over);
        assert!(env.contains(&("TARGETARCH".into(), "x".into())));
    }

    #[test]
    fn history_args_replace_in_place() {
        let args = vec![
            StageArg {
                key: "A".into(),
                value: Some("1".into()),
            },
            StageArg {
                key: "B".into(),
                value: None,
            },
            StageArg {
                key: "A".into(),
                value: Some("2".into()),
            },
        ];
        let env = vec![("A".to_string(), "2".to_string())];
        assert_eq!(run_history_args(&args, &env), ["|2", "A=2", "B="]);
        assert!(run_history_args(&[], &env).is_empty());
    }
}
