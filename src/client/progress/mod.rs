//! Build progress display: turns BuildKit's `Control.Status` stream into the
//! output users know from buildx (`tty`, `plain`, `rawjson` or nothing).

mod format;
pub mod plain;
pub mod rawjson;
pub mod state;
pub mod tty;

#[cfg(test)]
mod fixtures;

pub use plain::PlainRenderer;
pub use state::{
    LogLine, LogStream, ProgressState, StatusState, Time, VertexChanges, VertexState, Warning,
};
