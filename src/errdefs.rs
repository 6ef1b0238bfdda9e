//! BuildKit's typed error details that point into the user's source
//! (`errdefs.Source`, solver/errdefs/errdefs.proto): carried in a gRPC
//! status's details, made by BuildKit for a failing op that has a source
//! location and by crossbuild's frontend for Dockerfile errors, and shown
//! to the user the way buildx shows them: the file name and line, then the
//! lines around it with `>>>` on the offending ones.

use bollard_buildkit_proto::google::protobuf::Any;
use bollard_buildkit_proto::google::rpc::Status as RpcStatus;
use bollard_buildkit_proto::pb;
use prost::Message;

/// The type URL BuildKit's `grpcerrors` encodes and decodes source details
/// with.
pub const SOURCE_TYPE_URL: &str = "type.googleapis.com/errdefs.Source";

/// BuildKit's `errdefs.Source`: not in the generated protos we use, and two
/// fields long.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorSource {
    /// The file (name, text and language).
    #[prost(message, optional, tag = "1")]
    pub info: Option<pb::SourceInfo>,
    /// The offending line ranges (1-based lines).
    #[prost(message, repeated, tag = "2")]
    pub ranges: Vec<pb::Range>,
}

impl ErrorSource {
    /// The detail lines `start..=end` of a file named `filename` with text
    /// `data`.
    pub fn lines(filename: &str, data: &[u8], start: usize, end: usize) -> Self {
        let position = |line: usize| pb::Position {
            line: i32::try_from(line).unwrap_or(i32::MAX),
            character: 0,
        };
        ErrorSource {
            info: Some(pb::SourceInfo {
                filename: filename.to_string(),
                data: data.to_vec(),
                definition: None,
                language: "Dockerfile".to_string(),
            }),
            ranges: vec![pb::Range {
                start: Some(position(start)),
                end: Some(position(end.max(start))),
            }],
        }
    }

    /// As a status detail.
    pub fn to_any(&self) -> Any {
        Any {
            type_url: SOURCE_TYPE_URL.to_string(),
            value: self.encode_to_vec(),
        }
    }

    /// The lines (first, last) the ranges cover, if any.
    fn span(&self) -> Option<(usize, usize)> {
        let line = |p: &Option<pb::Position>| p.map(|p| p.line).unwrap_or(0);
        self.ranges
            .iter()
            .map(|r| {
                let (start, end) = (line(&r.start), line(&r.end));
                (start, end.max(start))
            })
            .fold(None, |acc, (start, end)| match acc {
                None => Some((start, end)),
                Some((s, e)) => Some((s.min(start), e.max(end))),
            })
            .and_then(|(s, e)| Some((usize::try_from(s).ok()?, usize::try_from(e).ok()?)))
    }

    fn marks(&self, line: usize) -> bool {
        let line = i32::try_from(line).unwrap_or(i32::MAX);
        self.ranges.iter().any(|r| {
            let start = r.start.map(|p| p.line).unwrap_or(0);
            let end = r.end.map(|p| p.line).unwrap_or(0).max(start);
            (start..=end).contains(&line)
        })
    }

    /// The excerpt buildx prints for this source: `Dockerfile:3`, a rule,
    /// the offending lines marked `>>>` with up to two (four for a single
    /// line) lines of context in all, another rule. `None` when the detail
    /// carries no file or points outside it.
    pub fn render(&self) -> Option<String> {
        let info = self.info.as_ref()?;
        let text = String::from_utf8_lossy(&info.data);
        let lines: Vec<&str> = text.split('\n').collect();
        let (first, last) = self.span()?;
        if first < 1 || first > lines.len() {
            return None;
        }
        let (mut start, mut end) = (first, last.min(lines.len()));
        // Context lines, alternating before and after, as buildx counts
        // them.
        let pad = if start == end { 4 } else { 2 };
        let mut added = 0;
        while added < pad {
            if start > 1 {
                start -= 1;
                added += 1;
            }
            if end != lines.len() {
                end += 1;
                added += 1;
            }
            added += 1;
        }
        let rule = "-".repeat(20);
        let mut out = format!("{}:{first}\n{rule}\n", info.filename);
        for (number, line) in lines.iter().enumerate().take(end).skip(start - 1) {
            let number = number + 1;
            let marker = if self.marks(number) { ">>>" } else { "   " };
            out.push_str(&format!(" {number:>3} | {marker} {line}\n"));
        }
        out.push_str(&rule);
        Some(out)
    }
}

/// Where each step of a build comes from, by the name the progress
/// display shows for it (`llb.customname`), read from the definitions'
/// source maps. The daemon may place a failing step itself; when it cannot
/// (it names ops by digests it computed anew), the failing step's name is
/// enough.
#[derive(Debug, Default)]
pub struct StepLocations {
    /// The source files of each definition.
    files: Vec<Vec<pb::SourceInfo>>,
    /// Step name -> (definition, location).
    steps: std::collections::HashMap<String, (usize, pb::Location)>,
}

impl StepLocations {
    /// The steps of `definitions` that carry a location.
    pub fn new<'a>(definitions: impl IntoIterator<Item = &'a pb::Definition>) -> Self {
        let mut found = StepLocations::default();
        for definition in definitions {
            let Some(source) = &definition.source else {
                continue;
            };
            let index = found.files.len();
            found.files.push(source.infos.clone());
            for (digest, locations) in &source.locations {
                let name = definition
                    .metadata
                    .get(digest)
                    .and_then(|md| md.description.get("llb.customname"));
                if let (Some(name), Some(location)) = (name, locations.locations.first()) {
                    found
                        .steps
                        .entry(name.clone())
                        .or_insert_with(|| (index, location.clone()));
                }
            }
        }
        found
    }

    /// The source lines of the step shown as `name`.
    pub fn of(&self, name: &str) -> Option<ErrorSource> {
        let (index, location) = self.steps.get(name)?;
        let info = self
            .files
            .get(*index)?
            .get(usize::try_from(location.source_index).ok()?)?;
        Some(ErrorSource {
            info: Some(info.clone()),
            ranges: location.ranges.clone(),
        })
    }
}

/// The source details of a status's `google.rpc.Status` details, in order
/// (innermost first, as BuildKit adds them).
pub fn sources_in(details: &[Any]) -> Vec<ErrorSource> {
    details
        .iter()
        .filter(|d| d.type_url == SOURCE_TYPE_URL)
        .filter_map(|d| ErrorSource::decode(d.value.as_slice()).ok())
        .collect()
}

/// The typed details of a gRPC status as the daemon sent them (empty when
/// it sent none or they do not decode).
pub fn details_of(status: &tonic::Status) -> Vec<Any> {
    if status.details().is_empty() {
        return Vec::new();
    }
    RpcStatus::decode(status.details())
        .map(|s| s.details)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str =
        "FROM busybox\nRUN echo hi\nRUN echo one && \\\n  false\nCMD [\"sh\"]\n";

    #[test]
    fn a_multi_line_step_is_marked_with_two_lines_of_context() {
        let source = ErrorSource::lines("Dockerfile", DOCKERFILE.as_bytes(), 3, 4);
        assert_eq!(
            source.render().unwrap(),
            "Dockerfile:3\n\
             --------------------\n\
             \x20  2 |     RUN echo hi\n\
             \x20  3 | >>> RUN echo one && \\\n\
             \x20  4 | >>>   false\n\
             \x20  5 |     CMD [\"sh\"]\n\
             --------------------"
        );
    }

    #[test]
    fn a_single_line_gets_more_context_but_not_past_the_file_start() {
        let source = ErrorSource::lines("Dockerfile", DOCKERFILE.as_bytes(), 1, 1);
        let shown = source.render().unwrap();
        assert!(shown.starts_with("Dockerfile:1\n"), "{shown}");
        assert!(shown.contains("   1 | >>> FROM busybox\n"), "{shown}");
        // Two lines after it, none before line 1.
        assert!(shown.contains("   3 |     RUN echo one && \\\n"), "{shown}");
        assert!(!shown.contains("   4 |"), "{shown}");
    }

    #[test]
    fn lines_outside_the_file_or_no_file_show_nothing() {
        assert_eq!(
            ErrorSource::lines("Dockerfile", b"FROM a\n", 9, 9).render(),
            None
        );
        let no_file = ErrorSource {
            info: None,
            ranges: ErrorSource::lines("x", b"", 1, 1).ranges,
        };
        assert_eq!(no_file.render(), None);
    }

    #[test]
    fn steps_are_found_by_their_progress_name() {
        use std::collections::BTreeMap;
        let info = pb::SourceInfo {
            filename: "Dockerfile".to_string(),
            data: DOCKERFILE.as_bytes().to_vec(),
            definition: None,
            language: "Dockerfile".to_string(),
        };
        let location = pb::Location {
            source_index: 0,
            ranges: ErrorSource::lines("Dockerfile", b"", 3, 4).ranges,
        };
        let metadata = pb::OpMetadata {
            description: BTreeMap::from([(
                "llb.customname".to_string(),
                "[3/3] RUN echo one &&   false".to_string(),
            )]),
            ..Default::default()
        };
        let definition = pb::Definition {
            def: Vec::new(),
            metadata: BTreeMap::from([("sha256:run".to_string(), metadata)]),
            source: Some(pb::Source {
                locations: BTreeMap::from([(
                    "sha256:run".to_string(),
                    pb::Locations {
                        locations: vec![location],
                    },
                )]),
                infos: vec![info],
            }),
        };
        let steps = StepLocations::new([&definition]);
        let found = steps.of("[3/3] RUN echo one &&   false").unwrap();
        assert_eq!(
            found,
            ErrorSource::lines("Dockerfile", DOCKERFILE.as_bytes(), 3, 4)
        );
        assert_eq!(steps.of("[2/3] RUN echo hi"), None);
    }

    #[test]
    fn details_round_trip_through_a_status() {
        let source = ErrorSource::lines("Dockerfile", DOCKERFILE.as_bytes(), 2, 2);
        let other = Any {
            type_url: "type.googleapis.com/errdefs.Vertex".to_string(),
            value: vec![10, 3, b'a', b'b', b'c'],
        };
        let status = RpcStatus {
            code: 2,
            message: "failed".to_string(),
            details: vec![other, source.to_any()],
        };
        let grpc = tonic::Status::with_details(
            tonic::Code::Unknown,
            "failed",
            status.encode_to_vec().into(),
        );
        assert_eq!(sources_in(&details_of(&grpc)), vec![source]);
    }
}
