//! `crossbuild workers`: the daemon's workers and the platforms they build for.

use crossbuild::client::{self, workers, Lookup};

use super::Format;

/// Lists the workers of the daemon `lookup` finds.
pub async fn run(lookup: &Lookup, format: Format) -> Result<(), String> {
    let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
    let workers = workers::list_workers(&daemon)
        .await
        .map_err(|e| e.to_string())?;
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&workers).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => {
            outln!(
                "daemon: {} ({}, via {})",
                daemon.address,
                daemon.kind,
                daemon.origin
            );
            for worker in &workers {
                outln!("worker {}", worker.id);
                outln!("  platforms: {}", worker.platforms.join(", "));
                for (name, value) in &worker.labels {
                    outln!("  {name}={value}");
                }
            }
        }
    }
    Ok(())
}
