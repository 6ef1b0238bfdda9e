//! A typed, immutable builder for BuildKit's LLB graphs, marshalled into a
//! `pb::Definition` with stable digests.
//!
//! Modelled on BuildKit's Go `client/llb`: a [`State`] is a cheap-to-clone
//! value naming one output of one op plus the environment later ops inherit
//! (working directory, env, user, platform). Builder methods return new
//! values and nothing touches the wire until [`marshal`]. Keeping the graph
//! as plain values is what lets the Dockerfile compiler build one graph per
//! target platform and still get identical digests for the ops that do not
//! depend on the platform, so BuildKit solves them once.

mod constraints;
mod dump;
mod exec;
mod file;
mod git;
mod image_ref;
mod marshal;
mod mount;
mod source;
mod source_map;
mod state;
mod ulimit;

#[cfg(test)]
mod tests;

pub use constraints::{Constrained, Constraints, ProgressGroup};
pub use dump::{dump_json, Graph};
pub use exec::{Exec, ExecState, NetMode, SecurityMode};
pub use file::{Chown, Copy, FileAction, FileOp, Mkdir, Mkfile, Rm, Symlink, UserSpec};
pub use git::Git;
pub use image_ref::normalize_image_ref;
pub use marshal::{digest_of, marshal, marshal_with, MarshalOptions};
pub use mount::{CacheSharing, Mount};
pub use source::{Differ, Http, Image, Local, OciLayout, ResolveMode};
pub use source_map::{SourceFile, SourceLocation};
pub(crate) use state::is_clean_path;
pub use state::{diff, merge, State};
pub use ulimit::{Ulimit, UlimitError};

use thiserror::Error;

/// Everything that can go wrong while building, marshalling or decoding LLB.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LlbError {
    /// An image reference that is not a valid `[domain/]path[:tag][@digest]`.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidImageRef {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A source identifier that would be rejected by BuildKit.
    #[error("invalid {kind} source {value:?}: {reason}")]
    InvalidSource {
        /// `git`, `http`, `oci-layout`, `local`.
        kind: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `run` without a command.
    #[error("exec needs at least one argument")]
    EmptyArgs,
    /// Two mounts on the same target in one exec.
    #[error("two mounts target {0:?} in the same exec")]
    DuplicateMount(String),
    /// `get_mount` for a target the exec has no mount on.
    #[error("exec has no mount at {0:?}")]
    NoSuchMount(String),
    /// `get_mount` for a mount whose changes are not an output.
    #[error("{kind} mount at {dest:?} has no output that later steps can use")]
    MountHasNoOutput {
        /// Mount type (`cache`, `tmpfs`, `secret`, `ssh`).
        kind: &'static str,
        /// Mount target.
        dest: String,
    },
    /// A nested build whose definition file would come from scratch.
    #[error("a nested build needs a non-empty state holding the definition file")]
    BuildFromScratch,
    /// A `Definition` op that does not decode as `pb::Op`.
    #[error("op #{index} of the definition does not decode: {reason}")]
    Decode {
        /// Position in `Definition::def`.
        index: usize,
        /// The protobuf error.
        reason: String,
    },
    /// An op refers to an input digest the definition does not contain.
    #[error("op {op} refers to missing input {input}")]
    MissingInput {
        /// Digest of the referring op.
        op: String,
        /// The missing digest.
        input: String,
    },
    /// The last op is not a terminal op with exactly one input.
    #[error("the last op of the definition must be a terminal op with one input")]
    BadTerminal,
}

/// Result alias for this module.
pub type Result<T, E = LlbError> = std::result::Result<T, E>;
