//! The BuildKit client: connection, session, solve, export and progress.

pub mod filesync;
