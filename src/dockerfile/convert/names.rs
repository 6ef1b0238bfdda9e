//! Step names for progress output (`llb.customname`), formatted like
//! BuildKit's `prefixCommand`: `[linux/arm64 build 3/7] RUN make`.

use crate::dockerfile::shell::{Env, Lexer};
use crate::platform::Platform;

/// Numbers the steps of one stage as they are named.
#[derive(Debug, Clone, Default)]
pub(super) struct StepCounter {
    /// The stage name shown, empty when the Dockerfile has one stage.
    pub stage: String,
    /// Steps that get a number (FROM image, RUN, COPY, ADD, WORKDIR and
    /// ONBUILD triggers).
    pub total: usize,
    /// The last number handed out.
    pub index: usize,
    /// Whether the current instruction comes from an ONBUILD trigger.
    pub onbuild: bool,
    /// The platform part of the last name, and what it was made from.
    platform_prefix: PlatformPrefix,
}

/// `linux/amd64->arm64`, kept between steps: it changes only with the
/// `TARGET*` variables, and formatting and parsing platforms for every
/// step of every stage was a good part of naming them.
#[derive(Debug, Clone, Default)]
struct PlatformPrefix {
    platform: Option<Platform>,
    /// The `TARGET*` variables of the environment, in its order.
    vars: Vec<(String, String)>,
    text: String,
}

impl PlatformPrefix {
    fn get(&mut self, platform: &Platform, env: &[(String, String)]) -> &str {
        let same = self.platform.as_ref() == Some(platform)
            && target_vars(env).eq(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !same {
            self.text = format!("{platform}{}", format_target_platform(platform, env));
            self.platform = Some(platform.clone());
            self.vars = target_vars(env)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        &self.text
    }
}

/// The variables [`format_target_platform`] reads.
fn target_vars(env: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    env.iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "TARGETPLATFORM" | "TARGETOS" | "TARGETARCH" | "TARGETVARIANT"
            )
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

impl StepCounter {
    /// A counter for a stage shown as `stage` with `total` numbered steps.
    pub fn new(stage: String, total: usize) -> Self {
        StepCounter {
            stage,
            total,
            ..Default::default()
        }
    }

    /// The next step's name. `platform` is shown only for multi-platform
    /// builds, with `->arch` when the stage declared a different
    /// `TARGET*` platform (a cross-compiling stage).
    pub fn name(
        &mut self,
        text: &str,
        multi_platform: bool,
        platform: &Platform,
        env: &[(String, String)],
    ) -> String {
        use std::fmt::Write;

        if self.total == 0 {
            return text.to_string();
        }
        let mut out = String::with_capacity(64 + self.stage.len() + text.len());
        out.push('[');
        if multi_platform {
            out.push_str(self.platform_prefix.get(platform, env));
            out.push(' ');
        }
        if !self.stage.is_empty() {
            out.push_str(&self.stage);
            out.push(' ');
        }
        self.index += 1;
        let width = digits(self.total);
        // Writing to a String cannot fail.
        let _ = write!(out, "{:>width$}/{}] ", self.index, self.total);
        if self.onbuild {
            out.push_str("ONBUILD ");
        }
        out.push_str(text);
        out
    }
}

/// Go's `int(1+math.Log10(float64(n)))` for n ≥ 1.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// BuildKit's `formatTargetPlatform` with `platformFromEnv`.
fn format_target_platform(base: &Platform, env: &[(String, String)]) -> String {
    let mut os = None;
    let mut arch = None;
    let mut variant = None;
    let mut set = false;
    for (key, value) in env {
        match key.as_str() {
            "TARGETPLATFORM" => {
                if let Ok(p) = value.parse::<Platform>() {
                    return describe_target(base, &p);
                }
            }
            "TARGETOS" => (os, set) = (Some(value.clone()), true),
            "TARGETARCH" => (arch, set) = (Some(value.clone()), true),
            "TARGETVARIANT" => (variant, set) = (Some(value.clone()), true),
            _ => {}
        }
    }
    if !set {
        return String::new();
    }
    let os = os
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| base.os.clone());
    let arch = arch
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| base.architecture.clone());
    let variant = variant.filter(|s| !s.is_empty());
    let target = Platform::new(&os, &arch, variant.as_deref());
    match target {
        Ok(p) => describe_target(base, &p),
        Err(_) => String::new(),
    }
}

fn describe_target(base: &Platform, p: &Platform) -> String {
    if p.os == base.os && p.architecture != base.architecture {
        match &p.variant {
            Some(v) => format!("->{}/{v}", p.architecture),
            None => format!("->{}", p.architecture),
        }
    } else if p.os != base.os {
        format!("->{p}")
    } else {
        String::new()
    }
}

/// BuildKit's `uppercaseCmd`: the instruction keyword in upper case.
pub(super) fn uppercase_cmd(s: &str) -> String {
    let (keyword, rest) = match s.split_once(' ') {
        Some((keyword, rest)) => (keyword, Some(rest)),
        None => (s, None),
    };
    let mut out = String::with_capacity(s.len());
    // Keywords are ASCII; the Unicode case mapping is only needed (and
    // only paid for) when one is not.
    if keyword.is_ascii() {
        out.extend(keyword.chars().map(|c| c.to_ascii_uppercase()));
    } else {
        out.push_str(&keyword.to_uppercase());
    }
    if let Some(rest) = rest {
        out.push(' ');
        out.push_str(rest);
    }
    out
}

/// BuildKit's `processCmdEnv`: the source line with variables expanded,
/// or as written when it does not expand.
pub(super) fn expand_for_display(lexer: &Lexer, text: &str, env: &dyn Env) -> String {
    lexer
        .process_word(text, env)
        .map(|e| e.value)
        .unwrap_or_else(|_| text.to_string())
}

/// BuildKit's `summarizeHeredoc`: the first line, `...` if there are more.
pub(super) fn summarize_heredoc(doc: &str) -> String {
    let doc = doc.trim().replace("\r\n", "\n");
    let mut lines = doc.split('\n');
    let first = lines.next().unwrap_or_default().to_string();
    if lines.next().is_some() {
        first + "..."
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().expect("platform")
    }

    #[test]
    fn prefix_formats() {
        let mut c = StepCounter {
            stage: "build".into(),
            total: 12,
            ..Default::default()
        };
        let env: Vec<(String, String)> = Vec::new();
        assert_eq!(
            c.name("RUN make", false, &p("linux/amd64"), &env),
            "[build  1/12] RUN make"
        );
        let env = vec![("TARGETARCH".to_string(), "arm64".to_string())];
        assert_eq!(
            c.name("RUN make", true, &p("linux/amd64"), &env),
            "[linux/amd64->arm64 build  2/12] RUN make"
        );
        let env = vec![("TARGETPLATFORM".to_string(), "linux/arm/v7".to_string())];
        assert_eq!(
            c.name("RUN x", true, &p("linux/amd64"), &env),
            "[linux/amd64->arm/v7 build  3/12] RUN x"
        );
        // The platform part is kept between steps: a new platform or new
        // TARGET* values must still change it, other variables not.
        let mut env = env;
        env.push(("OTHER".to_string(), "1".to_string()));
        assert_eq!(
            c.name("RUN y", true, &p("linux/arm64"), &env),
            "[linux/arm64->arm/v7 build  4/12] RUN y"
        );
        assert_eq!(
            c.name("RUN z", true, &p("linux/arm64"), &env[1..]),
            "[linux/arm64 build  5/12] RUN z"
        );
        env[0].1 = "linux/arm64".to_string();
        assert_eq!(
            c.name("RUN w", true, &p("linux/arm64"), &env),
            "[linux/arm64 build  6/12] RUN w"
        );
        env[0].1 = "linux/s390x".to_string();
        assert_eq!(
            c.name("RUN v", true, &p("linux/arm64"), &env),
            "[linux/arm64->s390x build  7/12] RUN v"
        );
        assert_eq!(
            [1, 9, 10, 99, 100, 1000].map(digits),
            [1, 1, 2, 2, 3, 4],
            "digits"
        );
        let mut none = StepCounter::default();
        assert_eq!(none.name("FROM x", true, &p("linux/amd64"), &env), "FROM x");
    }

    #[test]
    fn helpers() {
        assert_eq!(uppercase_cmd("run echo hi"), "RUN echo hi");
        assert_eq!(uppercase_cmd("workdir"), "WORKDIR");
        assert_eq!(uppercase_cmd("CoPy a b"), "COPY a b");
        assert_eq!(uppercase_cmd("straße x"), "STRASSE x");
        assert_eq!(summarize_heredoc("\n echo a\necho b\n"), "echo a...");
        assert_eq!(summarize_heredoc("echo a\n"), "echo a");
    }
}
