//! The `crossbuild` command line: parses flags, calls the library, renders
//! errors. Nothing here knows BuildKit's protocol.

#[macro_use]
mod cli;

/// mimalloc instead of glibc's malloc: compiling a Dockerfile allocates
/// many small strings (environments, digests, op metadata), and glibc's
/// free-list consolidation showed up as a fifth of the compile time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::Format;
use crossbuild::client::tls::TlsOptions;
use crossbuild::client::Lookup;

/// Build multi-platform container images with BuildKit.
#[derive(Parser)]
#[command(name = "crossbuild", version, about)]
struct Cli {
    /// BuildKit daemon address (unix:///path or tcp://host:port). Without it,
    /// crossbuild uses BUILDKIT_HOST, then the rootless and rootful buildkitd
    /// sockets, then the Docker engine (DOCKER_HOST or /var/run/docker.sock).
    #[arg(long, global = true)]
    addr: Option<String>,

    /// CA certificate that signed a tcp:// daemon's certificate (TLS is verified).
    #[arg(long, global = true, value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// Client certificate for a daemon that requires mutual TLS.
    #[arg(long, global = true, value_name = "FILE")]
    tlscert: Option<PathBuf>,
    /// Client key for --tlscert.
    #[arg(long, global = true, value_name = "FILE")]
    tlskey: Option<PathBuf>,
    /// Server name to verify in the daemon's certificate (default: the address's host).
    #[arg(long, global = true, value_name = "NAME")]
    tlsservername: Option<String>,
    /// Directory with ca.pem, cert.pem and key.pem (instead of the three flags).
    #[arg(long, global = true, value_name = "DIR")]
    tlsdir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from a Dockerfile, for one or more platforms.
    Build(Box<cli::build::BuildArgs>),
    /// Show where each RUN step of each target platform would run (native,
    /// cross, emulated, impossible) without building; takes build's flags.
    Plan(Box<cli::plan::PlanArgs>),
    /// Run a command in every platform's image (emulated where the daemon is
    /// not native) and check that its ELF binaries are built for that
    /// platform; fails if any platform fails.
    #[command(mut_arg("path", |a| a
        .value_name("IMAGE|CONTEXT")
        .help("The image to test, or with --from-build the build context")))]
    Test(Box<cli::test::TestArgs>),
    /// Show an image's index in a registry or an OCI layout: per platform
    /// digest, size and attestations (registries: plain HTTP to localhost
    /// only, for now).
    Inspect {
        /// The image reference, e.g. localhost:5000/app:1, or an OCI layout
        /// directory or tar: oci-layout://PATH[:TAG][@DIGEST].
        image: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List the daemon's workers: the platforms they build for and their labels.
    Workers {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show the daemon's build cache records and their size.
    Du {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Remove build cache records that no build uses.
    Prune {
        /// Remove everything not in use, not only what is old.
        #[arg(long)]
        all: bool,
        /// Only records matching this filter (BuildKit's syntax, e.g. description~=RUN make); repeatable.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Tools for looking inside builds.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Print a marshalled LLB definition (a file, or stdin) as JSON, one entry per op.
    Llb {
        /// The definition file; stdin when absent or `-`.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for stray tasks (a session the daemon still holds open).
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut lookup = Lookup::from_env(cli.addr);
    lookup.tls = TlsOptions::from_flags(
        cli.tlsdir.as_deref(),
        cli.tlscacert,
        cli.tlscert,
        cli.tlskey,
        cli.tlsservername,
    )
    .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Build(args) => cli::build::run(&lookup, *args).await,
        Command::Plan(args) => cli::plan::run(&lookup, *args).await,
        Command::Test(args) => cli::test::run(&lookup, *args).await,
        Command::Inspect { image, format } => cli::inspect::run(&image, format).await,
        Command::Workers { format } => cli::workers::run(&lookup, format).await,
        Command::Du { format } => cli::cache::du(&lookup, format).await,
        Command::Prune {
            all,
            filters,
            format,
        } => cli::cache::prune(&lookup, all, &filters, format).await,
        Command::Debug(DebugCommand::Llb { file }) => cli::debug::dump_llb(file.as_deref()),
    }
}
