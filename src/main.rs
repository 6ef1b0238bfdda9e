//! The `crossbuild` command line: parses flags, calls the library, renders
//! errors. Nothing here knows BuildKit's protocol.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use crossbuild::client::{self, workers, Lookup};

/// Build multi-platform container images with BuildKit.
#[derive(Parser)]
#[command(name = "crossbuild", version, about)]
struct Cli {
    /// BuildKit daemon address (unix:///path or tcp://host:port). Without it,
    /// crossbuild uses BUILDKIT_HOST, then the rootless and rootful buildkitd
    /// sockets, then the Docker engine (DOCKER_HOST or /var/run/docker.sock).
    #[arg(long, global = true)]
    addr: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the daemon's workers: the platforms they build for and their labels.
    Workers {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// How a listing is printed.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// For people.
    Table,
    /// For tools.
    Json,
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let lookup = Lookup::from_env(cli.addr);
    match cli.command {
        Command::Workers { format } => {
            let daemon = client::connect(&lookup).await.map_err(|e| e.to_string())?;
            let workers = workers::list_workers(&daemon)
                .await
                .map_err(|e| e.to_string())?;
            match format {
                Format::Json => {
                    let text = serde_json::to_string_pretty(&workers).map_err(|e| e.to_string())?;
                    println!("{text}");
                }
                Format::Table => {
                    println!(
                        "daemon: {} ({}, via {})",
                        daemon.address, daemon.kind, daemon.origin
                    );
                    for worker in &workers {
                        println!("worker {}", worker.id);
                        println!("  platforms: {}", worker.platforms.join(", "));
                        for (name, value) in &worker.labels {
                            println!("  {name}={value}");
                        }
                    }
                }
            }
            Ok(())
        }
    }
}
