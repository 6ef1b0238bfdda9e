//! `crossbuild inspect IMAGE`: the platforms (and attestations) of an image
//! in a registry, as pushed.

use crossbuild::client::build_options::process_env;
use crossbuild::client::session::DockerConfig;
use crossbuild::image::registry::{ImageSummary, RegistryClient};

use super::Format;

/// Prints `image`'s index: per platform digest, size, os/arch/variant; and
/// its attestation manifests.
pub async fn run(image: &str, format: Format) -> Result<(), String> {
    let config = match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string())?,
        None => DockerConfig::default(),
    };
    let summary = RegistryClient::new(config)
        .inspect(image)
        .await
        .map_err(|e| e.to_string())?;
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => print_table(&summary),
    }
    Ok(())
}

fn print_table(summary: &ImageSummary) {
    outln!("name:       {}", summary.name);
    outln!("media type: {}", summary.media_type);
    outln!("digest:     {}", summary.digest);
    outln!();
    outln!("{:<16} {:<71} {:>10}", "PLATFORM", "DIGEST", "SIZE");
    for entry in &summary.platforms {
        outln!(
            "{:<16} {:<71} {:>10}",
            entry.platform,
            entry.digest,
            human_size(entry.size)
        );
    }
    if !summary.attestations.is_empty() {
        outln!();
        outln!("{:<71} {:>10}  FOR", "ATTESTATION", "SIZE");
        for entry in &summary.attestations {
            let target = entry.attests.as_deref().unwrap_or("-");
            let platform = summary
                .platforms
                .iter()
                .find(|p| Some(p.digest.as_str()) == entry.attests.as_deref())
                .map(|p| p.platform.as_str())
                .unwrap_or(target);
            outln!(
                "{:<71} {:>10}  {platform}",
                entry.digest,
                human_size(entry.size)
            );
        }
    }
}

/// Sizes the way `docker images` shows them (decimal units).
fn human_size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", units[unit])
    }
}
