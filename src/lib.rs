//! crossbuild: multi-platform container image builds that speak BuildKit's
//! gRPC API directly.
//!
//! The library holds everything the `crossbuild` CLI and the `# syntax=`
//! frontend image share: the platform model, the LLB builder, the Dockerfile
//! compiler and the BuildKit client. The CLI in `main.rs` only parses flags,
//! calls into these modules and renders their errors.

pub mod bridge;
pub mod client;
pub mod dockerfile;
pub mod elf;
pub mod errdefs;
pub mod frontend;
pub mod image;
pub mod llb;
mod parallel;
pub mod plan;
pub mod platform;
pub mod smoke;
