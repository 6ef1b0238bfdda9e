//! The subcommands of the `crossbuild` CLI, one module each.

/// `println!` for the CLI's listings: a reader that went away
/// (`crossbuild du | head -1`) ends the program quietly instead of a
/// panic. crossbuild keeps Rust's ignored SIGPIPE, because the default
/// disposition would also kill it, silently, when the daemon closes a unix
/// socket it is writing to.
macro_rules! outln {
    () => {
        $crate::cli::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

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

/// Writes to stdout for [`outln!`]: exits quietly (status 0, like ripgrep)
/// when the reader closed the pipe, with an error line on any other
/// failure.
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {err}");
        std::process::exit(1);
    }
}
