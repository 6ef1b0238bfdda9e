//! Build checks: the non-fatal problems BuildKit's Dockerfile frontend
//! reports as warnings (its `linter` package), with the same rule names,
//! messages and `# check=skip=...;error=true` configuration, so a
//! Dockerfile warns the same with either frontend.
//!
//! The rules themselves run where the information is: the parse-level
//! ones over the parsed stages, the others while stages are converted
//! (see `convert::checks`). This module holds the rule table, the
//! configuration and the collector.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// One check, as BuildKit names and documents it.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name (`StageNameCasing`), used by `# check=skip=`.
    pub name: &'static str,
    /// One sentence on what the rule wants.
    pub description: &'static str,
    /// Where the rule is documented; empty when BuildKit has no page.
    pub url: &'static str,
}

macro_rules! rules {
    ($($ident:ident = $name:literal, $description:literal, $url:literal;)*) => {
        $(
            #[doc = $description]
            pub const $ident: Rule = Rule {
                name: $name,
                description: $description,
                url: $url,
            };
        )*
        /// Every rule crossbuild checks.
        pub const RULES: &[&Rule] = &[$(&$ident),*];
    };
}

rules! {
    STAGE_NAME_CASING = "StageNameCasing", "Stage names should be lowercase",
        "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/";
    FROM_AS_CASING = "FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword",
        "https://docs.docker.com/go/dockerfile/rule/from-as-casing/";
    NO_EMPTY_CONTINUATION = "NoEmptyContinuation", "Empty continuation lines will become errors in a future release",
        "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/";
    CONSISTENT_INSTRUCTION_CASING = "ConsistentInstructionCasing", "All commands within the Dockerfile should use the same casing (either upper or lower)",
        "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/";
    DUPLICATE_STAGE_NAME = "DuplicateStageName", "Stage names should be unique",
        "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/";
    RESERVED_STAGE_NAME = "ReservedStageName", "Reserved words should not be used as stage names",
        "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/";
    JSON_ARGS_RECOMMENDED = "JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
        "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/";
    MAINTAINER_DEPRECATED = "MaintainerDeprecated", "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
        "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/";
    UNDEFINED_ARG_IN_FROM = "UndefinedArgInFrom", "FROM command must use declared ARGs",
        "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/";
    WORKDIR_RELATIVE_PATH = "WorkdirRelativePath", "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
        "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/";
    UNDEFINED_VAR = "UndefinedVar", "Variables should be defined before their use",
        "https://docs.docker.com/go/dockerfile/rule/undefined-var/";
    MULTIPLE_INSTRUCTIONS_DISALLOWED = "MultipleInstructionsDisallowed", "Multiple instructions of the same type should not be used in the same stage",
        "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/";
    LEGACY_KEY_VALUE_FORMAT = "LegacyKeyValueFormat", "Legacy key/value format with whitespace separator should not be used",
        "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/";
    INVALID_BASE_IMAGE_PLATFORM = "InvalidBaseImagePlatform", "Base image platform does not match expected target platform",
        "";
    REDUNDANT_TARGET_PLATFORM = "RedundantTargetPlatform", "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/";
    SECRETS_USED_IN_ARG_OR_ENV = "SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands",
        "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/";
    INVALID_DEFAULT_ARG_IN_FROM = "InvalidDefaultArgInFrom", "Default value for global ARG results in an empty or invalid base image name",
        "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/";
    FROM_PLATFORM_FLAG_CONST_DISALLOWED = "FromPlatformFlagConstDisallowed", "FROM --platform flag should not use a constant value",
        "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/";
}

/// One warning: a rule that fired, where, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// The rule.
    pub rule: &'static Rule,
    /// The message (`Stage name 'Build' should be lowercase`).
    pub message: String,
    /// The first line of the instruction it is about (1-based).
    pub line: usize,
    /// Its last line.
    pub end_line: usize,
}

impl LintWarning {
    /// The one-line form BuildKit shows (`linter.LintFormatShort`):
    /// `StageNameCasing: Stage name 'Build' should be lowercase (line 2)`.
    pub fn short(&self) -> String {
        if self.line > 0 {
            format!("{}: {} (line {})", self.rule.name, self.message, self.line)
        } else {
            format!("{}: {}", self.rule.name, self.message)
        }
    }
}

/// `# check=` / `BUILDKIT_DOCKERFILE_CHECK`: which rules to skip and
/// whether warnings fail the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintConfig {
    /// Rules not to report (`skip=A,B`).
    pub skip: BTreeSet<String>,
    /// `skip=all`.
    pub skip_all: bool,
    /// `error=true`: any warning fails the build.
    pub error: bool,
}

impl LintConfig {
    /// Parses `skip=A,B;error=true` as BuildKit's `ParseLintOptions`
    /// does (at most two `;`-separated parts).
    pub fn parse(text: &str) -> Result<LintConfig, String> {
        let text = text.trim();
        let mut config = LintConfig::default();
        if text.is_empty() {
            return Ok(config);
        }
        for part in text.splitn(2, ';') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("invalid check option {part:?}"));
            };
            match key.trim() {
                "skip" => {
                    let value = value.trim();
                    if value == "all" {
                        config.skip_all = true;
                    } else {
                        config
                            .skip
                            .extend(value.split(',').map(|r| r.trim().to_string()));
                    }
                }
                "error" => {
                    config.error = parse_go_bool(value.trim()).ok_or_else(|| {
                        format!(
                            "failed to parse check option {part:?}: strconv.ParseBool: parsing {:?}: invalid syntax",
                            value.trim()
                        )
                    })?;
                }
                other => return Err(format!("invalid check option {other:?}")),
            }
        }
        Ok(config)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Collects the warnings of one conversion, honouring the configuration.
#[derive(Debug, Default)]
pub struct Linter {
    config: LintConfig,
    warnings: Mutex<Vec<LintWarning>>,
}

impl Linter {
    /// A collector with this configuration.
    pub fn new(config: LintConfig) -> Linter {
        Linter {
            config,
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Records that `rule` fired on lines `line..=end_line`, unless the
    /// configuration skips it.
    pub fn report(&self, rule: &'static Rule, line: usize, end_line: usize, message: String) {
        if self.config.skip_all || self.config.skip.contains(rule.name) {
            return;
        }
        self.lock().push(LintWarning {
            rule,
            message,
            line,
            end_line: end_line.max(line),
        });
    }

    /// The warnings so far, in the order they were found.
    pub fn warnings(&self) -> Vec<LintWarning> {
        self.lock().clone()
    }

    /// With `error=true`, the error that warnings turn into (BuildKit's
    /// wording, rules sorted).
    pub fn error(&self) -> Option<String> {
        if !self.config.error {
            return None;
        }
        let rules: BTreeSet<&str> = self.lock().iter().map(|w| w.rule.name).collect();
        if rules.is_empty() {
            return None;
        }
        Some(format!(
            "lint violation found for rules: {}",
            rules.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LintWarning>> {
        // A poisoned lock only means a panic mid-push; the list is intact.
        self.warnings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_options() {
        let c = LintConfig::parse("skip=StageNameCasing, FromAsCasing;error=true").unwrap();
        assert!(c.skip.contains("StageNameCasing") && c.skip.contains("FromAsCasing"));
        assert!(c.error && !c.skip_all);
        assert!(LintConfig::parse(" skip = all ").unwrap().skip_all);
        assert_eq!(LintConfig::parse("").unwrap(), LintConfig::default());
        assert_eq!(
            LintConfig::parse("nope").unwrap_err(),
            "invalid check option \"nope\""
        );
        assert_eq!(
            LintConfig::parse("colour=red").unwrap_err(),
            "invalid check option \"colour\""
        );
        assert!(LintConfig::parse("error=maybe").is_err());
    }

    #[test]
    fn skipped_rules_and_errors() {
        let linter = Linter::new(LintConfig::parse("skip=FromAsCasing;error=true").unwrap());
        linter.report(&FROM_AS_CASING, 1, 1, "skipped".into());
        assert!(linter.error().is_none());
        linter.report(
            &STAGE_NAME_CASING,
            2,
            2,
            "Stage name 'A' should be lowercase".into(),
        );
        linter.report(&MAINTAINER_DEPRECATED, 3, 3, "m".into());
        assert_eq!(
            linter.warnings()[0].short(),
            "StageNameCasing: Stage name 'A' should be lowercase (line 2)"
        );
        assert_eq!(
            linter.error().unwrap(),
            "lint violation found for rules: MaintainerDeprecated, StageNameCasing"
        );
        let quiet = Linter::new(LintConfig::parse("skip=all").unwrap());
        quiet.report(&STAGE_NAME_CASING, 1, 1, "x".into());
        assert!(quiet.warnings().is_empty());
    }
}
