//! Per-op constraints and metadata: platform, worker filters, progress
//! naming, cache control and the API caps an op needs.
//!
//! They live apart from the op payloads because every op kind takes the same
//! set, just like Go's `llb.Constraints`.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;

use crate::platform::Platform;

use super::source_map::SourceLocation;

/// The description key BuildKit shows as a step's name in progress output.
pub(crate) const CUSTOM_NAME_KEY: &str = "llb.customname";

/// Groups vertices in progress output (e.g. all steps of one stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressGroup {
    /// Stable id shared by the grouped vertices.
    pub id: String,
    /// Human-readable group name.
    pub name: String,
    /// Weak groups only group vertices that run next to each other.
    pub weak: bool,
}

/// Constraints and metadata of one op.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Platform the op runs for; `None` inherits (State, then marshal default).
    pub platform: Option<Platform>,
    /// Worker label filters (`pb::WorkerConstraints::filter`).
    pub worker_constraints: Vec<String>,
    /// Free-form description; `llb.customname` names the step in progress output.
    pub description: BTreeMap<String, String>,
    /// Always re-run this op instead of using the cache.
    pub ignore_cache: bool,
    /// Progress grouping.
    pub progress_group: Option<ProgressGroup>,
    /// Extra API caps to require, on top of those the builder adds itself.
    pub caps: BTreeMap<String, bool>,
    /// Where in the user's source (the Dockerfile) the op comes from; goes
    /// to the definition's source map, not into the op's digest.
    pub location: Option<SourceLocation>,
}

impl Constraints {
    /// Empty constraints: inherit everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `pb::OpMetadata` for these constraints plus the caps the op's
    /// payload needs.
    pub(crate) fn metadata(&self, op_caps: &[&str]) -> pb::OpMetadata {
        let mut caps = self.caps.clone();
        for cap in op_caps {
            caps.insert((*cap).to_string(), true);
        }
        if self.ignore_cache {
            caps.insert("meta.ignorecache".to_string(), true);
        }
        if !self.description.is_empty() {
            caps.insert("meta.description".to_string(), true);
        }
        pb::OpMetadata {
            ignore_cache: self.ignore_cache,
            description: self.description.clone(),
            export_cache: None,
            caps,
            progress_group: self.progress_group.as_ref().map(|g| pb::ProgressGroup {
                id: g.id.clone(),
                name: g.name.clone(),
                weak: g.weak,
            }),
        }
    }
}

/// Fluent setters for anything that carries [`Constraints`] (every op
/// builder), so each builder gets the same vocabulary without repeating it.
pub trait Constrained: Sized {
    /// The constraints to modify.
    fn constraints_mut(&mut self) -> &mut Constraints;

    /// Replaces all constraints at once.
    fn constraints(mut self, c: Constraints) -> Self {
        *self.constraints_mut() = c;
        self
    }

    /// Pins the op to a platform (for images: which manifest to pull).
    /// File, merge and diff ops are platform independent and ignore it, so
    /// their digests stay shared across target platforms.
    fn platform(mut self, p: &Platform) -> Self {
        self.constraints_mut().platform = Some(p.clone());
        self
    }

    /// Names the step in progress output (`llb.customname`).
    fn custom_name(self, name: impl Into<String>) -> Self {
        self.description(CUSTOM_NAME_KEY, name)
    }

    /// Adds one description entry.
    fn description(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.constraints_mut()
            .description
            .insert(key.into(), value.into());
        self
    }

    /// Records where in the user's source the op comes from (`None`: nowhere
    /// in particular), so that the daemon's errors can point there.
    fn location(mut self, location: Option<SourceLocation>) -> Self {
        self.constraints_mut().location = location;
        self
    }

    /// Forces the op to run even when a cache record exists.
    fn ignore_cache(mut self, ignore: bool) -> Self {
        self.constraints_mut().ignore_cache = ignore;
        self
    }

    /// Groups the op in progress output.
    fn progress_group(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        weak: bool,
    ) -> Self {
        self.constraints_mut().progress_group = Some(ProgressGroup {
            id: id.into(),
            name: name.into(),
            weak,
        });
        self
    }

    /// Adds a worker label filter.
    fn worker_constraint(mut self, filter: impl Into<String>) -> Self {
        self.constraints_mut()
            .worker_constraints
            .push(filter.into());
        self
    }

    /// Requires an extra API cap.
    fn cap(mut self, cap: impl Into<String>) -> Self {
        self.constraints_mut().caps.insert(cap.into(), true);
        self
    }
}

impl Constrained for Constraints {
    fn constraints_mut(&mut self) -> &mut Constraints {
        self
    }
}
