//! The BuildKit client: connection, session, solve, export and progress.

pub mod address;
pub mod connect;
pub mod engine;
pub mod filesync;
pub mod gateway;
pub mod progress;
pub mod session;
pub mod workers;

pub use address::{Address, Lookup};
pub use connect::{connect, Daemon, DaemonKind};
