//! Frontend subrequests (opt `requestid`): questions a client asks the
//! frontend instead of a build, such as `docker buildx build --call
//! targets`. The answers are result metadata in the shapes BuildKit's
//! `frontend/subrequests` packages define: `result.json` for programs,
//! `result.txt` for people, and `version`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use serde::Serialize;

use crate::bridge::Bridge;
use crate::dockerfile::{self, Stage};
use crate::frontend::{self, FrontendError};

/// Lists the subrequests this frontend answers.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// Lists the stages a build can target.
pub const TARGETS: &str = "frontend.targets";

/// Why a subrequest got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SubrequestError {
    /// This frontend does not answer that request (BuildKit's own
    /// frontend's wording, so clients recognise it).
    #[error("unsupported request {0}")]
    Unsupported(String),
    /// Reading or parsing the Dockerfile failed.
    #[error(transparent)]
    Frontend(#[from] FrontendError),
}

/// One entry of the describe list (BuildKit's `subrequests.Request`).
#[derive(Debug, Serialize)]
struct RequestDescription {
    name: &'static str,
    version: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    description: &'static str,
    opts: Vec<Named>,
    inputs: Vec<Named>,
    metadata: Vec<Named>,
    refs: Vec<Named>,
}

#[derive(Debug, Serialize)]
struct Named {
    name: &'static str,
    description: &'static str,
}

fn supported() -> Vec<RequestDescription> {
    let metadata = |names: &[&'static str]| {
        names
            .iter()
            .map(|name| Named {
                name,
                description: "",
            })
            .collect()
    };
    vec![
        RequestDescription {
            name: TARGETS,
            version: "1.0.0",
            kind: "rpc",
            description: "List all targets current build supports",
            opts: Vec::new(),
            inputs: Vec::new(),
            metadata: metadata(&["result.json", "result.txt"]),
            refs: Vec::new(),
        },
        RequestDescription {
            name: DESCRIBE,
            version: "1.0.0",
            kind: "rpc",
            description: "List available subrequest types",
            opts: Vec::new(),
            inputs: Vec::new(),
            metadata: metadata(&["result.json", "result.txt"]),
            refs: Vec::new(),
        },
    ]
}

/// Answers the subrequest `request`, reading the Dockerfile through
/// `bridge` when the answer needs it.
pub async fn answer(
    bridge: &dyn Bridge,
    request: &str,
    attrs: &BTreeMap<String, String>,
) -> Result<gw::Result, SubrequestError> {
    match request {
        DESCRIBE => Ok(describe()),
        TARGETS => {
            let options = frontend::FrontendOptions::from_attrs(attrs)?;
            let source = frontend::read_dockerfile(bridge, &options.filename).await?;
            Ok(targets(&options.filename, &source.dockerfile)?)
        }
        other => Err(SubrequestError::Unsupported(other.to_string())),
    }
}

/// The `frontend.subrequests.describe` answer.
pub fn describe() -> gw::Result {
    let list = supported();
    let mut text = String::from("NAME\tVERSION\tDESCRIPTION\n");
    for request in &list {
        let _ = writeln!(
            text,
            "{}\t{}\t{}",
            request.name.trim_start_matches("frontend."),
            request.version,
            request.description
        );
    }
    metadata_result(
        serde_json::to_vec_pretty(&list).unwrap_or_default(),
        text,
        "1.0.0",
    )
}

/// One stage in the `frontend.targets` answer (BuildKit's
/// `targets.Target`; `Location` is a `pb.Location` in its JSON form).
#[derive(Debug, Serialize)]
struct Target {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    default: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    base: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    platform: String,
    #[serde(rename = "Location")]
    location: serde_json::Value,
}

#[derive(Debug, Serialize)]
struct TargetList {
    #[serde(rename = "Targets")]
    targets: Vec<Target>,
    /// The Dockerfile itself, base64 (Go's `[]byte`), which `Location`
    /// indexes into.
    #[serde(rename = "Sources")]
    sources: Vec<String>,
}

/// The `frontend.targets` answer for a Dockerfile: every stage, the last
/// one marked as the default, with the comment above its `FROM` when that
/// comment starts with the stage's name (BuildKit's convention).
pub fn targets(filename: &str, source: &[u8]) -> Result<gw::Result, FrontendError> {
    let error =
        |line: usize, source_line: Option<String>, message: String| FrontendError::Dockerfile {
            filename: filename.to_string(),
            line,
            source_line,
            message,
        };
    let parsed = dockerfile::parse(source)
        .map_err(|e| error(e.line, e.source_line.clone(), e.kind.to_string()))?;
    let stages = parsed.stages().map_err(|e| {
        error(
            e.span.start,
            Some(e.source_line.clone()),
            e.kind.to_string(),
        )
    })?;
    let last = stages.stages.len().saturating_sub(1);
    let targets: Vec<Target> = stages
        .stages
        .iter()
        .enumerate()
        .map(|(index, stage)| Target {
            name: stage.name.clone().unwrap_or_default(),
            default: index == last,
            description: stage_description(stage),
            base: stage.base.clone(),
            platform: stage.platform.clone().unwrap_or_default(),
            location: serde_json::json!({
                "ranges": [{
                    "start": { "line": stage.span.start },
                    "end": { "line": stage.span.end },
                }],
            }),
        })
        .collect();
    let mut text = String::from("TARGET\tDESCRIPTION\n");
    for target in &targets {
        let name = if target.name.is_empty() {
            "(unnamed)"
        } else {
            &target.name
        };
        let default = if target.default { " (default)" } else { "" };
        let _ = writeln!(text, "{name}{default}\t{}", target.description);
    }
    let list = TargetList {
        targets,
        sources: vec![base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            source,
        )],
    };
    Ok(metadata_result(
        serde_json::to_vec_pretty(&list).unwrap_or_default(),
        text,
        "1.0.0",
    ))
}

fn stage_description(stage: &Stage) -> String {
    let Some(name) = &stage.name else {
        return String::new();
    };
    let prefix = format!("{name} ");
    stage
        .comments
        .iter()
        .find_map(|c| c.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string()
}

fn metadata_result(json: Vec<u8>, text: String, version: &str) -> gw::Result {
    gw::Result {
        metadata: [
            ("result.json".to_string(), json),
            ("result.txt".to_string(), text.into_bytes()),
            ("version".to_string(), version.as_bytes().to_vec()),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(result: &gw::Result) -> serde_json::Value {
        serde_json::from_slice(&result.metadata["result.json"]).unwrap()
    }

    #[test]
    fn describe_lists_what_is_answered() {
        let result = describe();
        let list = json(&result);
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names, [TARGETS, DESCRIBE]);
        assert_eq!(list[0]["type"], "rpc");
        let text = String::from_utf8_lossy(&result.metadata["result.txt"]).into_owned();
        assert!(text.starts_with("NAME\tVERSION\tDESCRIPTION\n"), "{text}");
        assert!(text.contains("targets\t1.0.0\t"), "{text}");
    }

    #[test]
    fn targets_are_the_stages_with_their_comments() {
        let dockerfile = b"# syntax=localhost:5000/crossbuild-frontend\n\
            # build compiles the program\n\
            FROM --platform=$BUILDPLATFORM busybox AS build\n\
            RUN true\n\
            FROM busybox\n\
            COPY --from=build /x /x\n";
        let result = targets("Dockerfile", dockerfile).unwrap();
        let list = json(&result);
        let targets = list["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0]["name"], "build");
        assert_eq!(targets[0]["description"], "compiles the program");
        assert_eq!(targets[0]["platform"], "$BUILDPLATFORM");
        assert_eq!(targets[0]["Location"]["ranges"][0]["start"]["line"], 3);
        assert!(targets[0].get("default").is_none());
        assert_eq!(targets[1]["default"], true);
        assert_eq!(targets[1]["base"], "busybox");
        assert_eq!(list["Sources"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_bad_dockerfile_names_its_line() {
        let err = targets("Dockerfile", b"FROM busybox\nFORM x\n").unwrap_err();
        assert!(err.to_string().starts_with("Dockerfile:2:"), "{err}");
    }
}
