//! The BuildKit client: connection, session, solve, export and progress.

pub mod address;
pub mod build;
pub mod build_cache;
pub mod build_options;
pub mod cache_options;
pub mod connect;
pub mod container;
pub(crate) mod csv_fields;
pub mod docker_context;
pub mod engine;
pub mod entitlements;
pub mod filesync;
pub mod gateway;
pub mod nodes;
pub mod output;
pub mod progress;
pub mod session;
pub mod tls;
pub mod workers;

pub use address::{Address, Lookup};
pub use connect::{connect, Daemon, DaemonKind};
