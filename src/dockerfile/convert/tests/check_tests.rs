//! Build checks: which rules fire where, reported by the first target
//! platform only, skipped by `# check=`.

use super::*;
use crate::dockerfile::lint::Linter;

/// The short forms of the warnings for `df` built for `targets`.
fn warnings(df: &str, targets: &[&str]) -> Vec<String> {
    let dockerfile = parse(df.as_bytes()).expect("parse");
    let o = opts(targets);
    let linter = Linter::new(lint_config(&dockerfile, &o).expect("check options"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(convert_with_linter(
        &dockerfile,
        &o,
        &FakeResolver::default(),
        &linter,
    ))
    .expect("convert");
    linter.warnings().iter().map(|w| w.short()).collect()
}

#[test]
fn rules_fire_once_with_their_lines() {
    let w = warnings(
        "FROM alpine as Build\nMAINTAINER me\nENV key value\nWORKDIR rel\nCMD a\nCMD b\nCOPY x /$DEST\n",
        &["linux/amd64", "linux/arm64"],
    );
    for expected in [
        "StageNameCasing: Stage name 'Build' should be lowercase (line 1)",
        "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
        "MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)",
        "LegacyKeyValueFormat: \"ENV key=value\" should be used instead of legacy \"ENV key value\" format (line 3)",
        "SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV \"key\") (line 3)",
        "WorkdirRelativePath: Relative workdir \"rel\" can have unexpected results if the base image changes (line 4)",
        "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 5)",
        "MultipleInstructionsDisallowed: Multiple CMD instructions should not be used in the same stage because only the last one will be used (line 5)",
        "UndefinedVar: Usage of undefined variable '$DEST' (line 7)",
    ] {
        assert_eq!(
            w.iter().filter(|s| *s == expected).count(),
            1,
            "{expected}\nin {w:#?}"
        );
    }
}

#[test]
fn unreachable_stages_get_only_the_whole_file_checks() {
    let w = warnings(
        "FROM alpine AS a\nENV k v\nFROM alpine AS Unused\nENV k2 v\nFROM a\n",
        &["linux/amd64"],
    );
    assert!(w.iter().any(|s| s.starts_with("StageNameCasing")), "{w:#?}");
    assert!(w.iter().any(|s| s.ends_with("(line 2)")), "{w:#?}");
    assert!(!w.iter().any(|s| s.ends_with("(line 4)")), "{w:#?}");
}

#[test]
fn from_lines_and_skips() {
    let w = warnings(
        "ARG TAG\nFROM --platform=$TARGETPLATFORM alpine:${TAG:-3} AS a\nFROM --platform=linux/arm64 alpine$VERSION AS b\n",
        &["linux/amd64"],
    );
    assert!(w.contains(&"RedundantTargetPlatform: Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior (line 2)".to_string()), "{w:#?}");
    assert!(w.contains(&"FromPlatformFlagConstDisallowed: FROM --platform flag should not use constant value \"linux/arm64\" (line 3)".to_string()), "{w:#?}");
    assert!(
        w.contains(
            &"UndefinedArgInFrom: FROM argument 'VERSION' is not declared (line 3)".to_string()
        ),
        "{w:#?}"
    );
    let skipped = warnings(
        "# check=skip=UndefinedArgInFrom,FromPlatformFlagConstDisallowed\nFROM --platform=linux/arm64 alpine$VERSION AS b\n",
        &["linux/amd64"],
    );
    assert!(skipped.is_empty(), "{skipped:#?}");
}
