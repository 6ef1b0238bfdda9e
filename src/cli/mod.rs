//! The subcommands of the `crossbuild` CLI, one module each.

pub mod build;
pub mod build_nodes;
pub mod cache;
pub mod debug;
pub mod inspect;
pub mod plan;
pub mod test;
pub mod workers;

/// How a listing is printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Table,
    /// For tools.
    Json,
}
