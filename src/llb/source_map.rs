//! Source maps: which lines of which file (a Dockerfile) each op came
//! from, carried in `pb::Definition::source` next to the ops.
//!
//! Locations are not part of an op's digest, so they never change caching.
//! BuildKit attaches the location of a failing op to the error it returns
//! (`errdefs.Source`), which is how a failed `RUN` can point at its lines
//! in the Dockerfile, for crossbuild's own client and for buildx alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use bollard_buildkit_proto::pb;

/// A source file ops can point into, shared by every op of one build.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The name a user knows the file by (`Dockerfile`, `build/app.Dockerfile`).
    pub filename: String,
    /// The language, as BuildKit's frontends name it (`Dockerfile`).
    pub language: String,
    /// The file's whole text, as read.
    pub data: Vec<u8>,
}

/// Lines `start..=end` (1-based) of a [`SourceFile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file.
    pub file: Arc<SourceFile>,
    /// The first line.
    pub start: u32,
    /// The last line (the same as `start` for a one-line instruction).
    pub end: u32,
}

impl SourceLocation {
    /// Lines `start..=end` of `file`.
    pub fn new(file: &Arc<SourceFile>, start: usize, end: usize) -> Self {
        let line = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        SourceLocation {
            file: file.clone(),
            start: line(start),
            end: line(end.max(start)),
        }
    }

    fn range(&self) -> pb::Range {
        let position = |line: u32| pb::Position {
            line: i32::try_from(line).unwrap_or(i32::MAX),
            character: 0,
        };
        pb::Range {
            start: Some(position(self.start)),
            end: Some(position(self.end)),
        }
    }
}

/// Collects the locations of the ops of one definition while it is
/// marshalled.
#[derive(Default)]
pub(crate) struct SourceMapBuilder {
    files: Vec<Arc<SourceFile>>,
    locations: BTreeMap<String, pb::Locations>,
}

impl SourceMapBuilder {
    /// Records that the op `digest` came from `location`. An op built from
    /// several places (the same step in two stages) keeps them all.
    pub fn add(&mut self, digest: &str, location: &SourceLocation) {
        let index = match self
            .files
            .iter()
            .position(|f| Arc::ptr_eq(f, &location.file))
        {
            Some(index) => index,
            None => {
                self.files.push(location.file.clone());
                self.files.len() - 1
            }
        };
        let entry = pb::Location {
            source_index: i32::try_from(index).unwrap_or(i32::MAX),
            ranges: vec![location.range()],
        };
        let locations = &mut self
            .locations
            .entry(digest.to_string())
            .or_default()
            .locations;
        if !locations.contains(&entry) {
            locations.push(entry);
        }
    }

    /// The `pb::Source` of the definition, or `None` if no op has a location.
    pub fn finish(self) -> Option<pb::Source> {
        if self.locations.is_empty() {
            return None;
        }
        Some(pb::Source {
            locations: self.locations,
            infos: self
                .files
                .iter()
                .map(|f| pb::SourceInfo {
                    filename: f.filename.clone(),
                    data: f.data.clone(),
                    definition: None,
                    language: f.language.clone(),
                })
                .collect(),
        })
    }
}
