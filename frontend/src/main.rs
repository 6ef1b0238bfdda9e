//! Entrypoint of crossbuild's `# syntax=` frontend image.
//!
//! The frontend protocol (LLBBridge over stdio) is not wired yet; until it is,
//! this binary only reports its version so the image can be built and checked.

fn main() {
    eprintln!(
        "crossbuild-frontend {}: the stdio frontend protocol is not implemented yet",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(1);
}
