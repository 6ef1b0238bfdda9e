//! Entrypoint of crossbuild's `# syntax=` frontend image.
//!
//! BuildKit runs this binary with LLBBridge served on its stdin/stdout and
//! its options in the environment; everything else lives in the library
//! (`crossbuild::bridge::stdio`) so that it can be tested there. stdout
//! belongs to the HTTP/2 connection: logs go to stderr (the daemon's log).

use crossbuild::bridge::stdio::{self, FrontendEnvironment, JoinedStream, StdioBridge};

/// The same allocator as the `crossbuild` CLI (see its main.rs: the
/// Dockerfile compile is allocation-heavy).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("crossbuild=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    // One thread is plenty: the work happens in the daemon, and the image
    // runs with whatever CPU share the build gives it.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("crossbuild-frontend: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(serve());
    // Exit at once: tokio's stdin reader sits in a blocking read that
    // would otherwise keep the runtime from shutting down.
    std::process::exit(code);
}

async fn serve() -> i32 {
    let environment = FrontendEnvironment::from_process();
    let channel = match stdio::connect(JoinedStream::stdio()).await {
        Ok(channel) => channel,
        Err(err) => {
            eprintln!("crossbuild-frontend: {err}");
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                eprintln!("crossbuild-frontend: this is a BuildKit frontend image; use it with `# syntax=<image>` in a Dockerfile");
            }
            return 1;
        }
    };
    let bridge = StdioBridge::new(channel, environment.session_id.clone());
    let outcome = stdio::run(&bridge, &environment).await;
    if let Err(status) = &outcome {
        tracing::error!(message = %status.message, "build failed");
    }
    match bridge.finish(outcome).await {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("crossbuild-frontend: {err}");
            1
        }
    }
}
