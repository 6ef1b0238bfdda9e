//! The `crossbuild` command line: parses flags, calls the library, renders
//! errors.

fn main() {
    println!("crossbuild {}", env!("CARGO_PKG_VERSION"));
}
