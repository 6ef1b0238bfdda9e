//! `crossbuild du` and `crossbuild prune`: the daemon's build cache.

use crossbuild::client::build_cache::{self, human_size, CacheRecord};
use crossbuild::client::{self, Lookup};

use super::Format;

/// Prints the cache records and their total size.
pub async fn du(lookup: &Lookup, format: Format) -> Result<(), String> {
    let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
    let records = build_cache::disk_usage(&daemon)
        .await
        .map_err(|e| e.to_string())?;
    print_records(&records, format)
}

/// Removes unused cache records and prints what went.
pub async fn prune(
    lookup: &Lookup,
    all: bool,
    filters: &[String],
    format: Format,
) -> Result<(), String> {
    let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
    let removed = build_cache::prune(&daemon, all, filters)
        .await
        .map_err(|e| e.to_string())?;
    print_records(&removed, format)
}

fn print_records(records: &[CacheRecord], format: Format) -> Result<(), String> {
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(records).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => {
            outln!("{:<28} {:>10} {:<6} DESCRIPTION", "ID", "SIZE", "IN USE");
            for r in records {
                let id: String = r.id.chars().take(25).collect();
                outln!(
                    "{:<28} {:>10} {:<6} {}",
                    id,
                    human_size(r.size),
                    if r.in_use { "yes" } else { "" },
                    r.description
                );
            }
            let total: i64 = records.iter().map(|r| r.size).sum();
            outln!("Total: {}", human_size(total));
        }
    }
    Ok(())
}
