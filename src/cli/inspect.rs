//! `crossbuild inspect IMAGE`: the platforms (and attestations) of an image
//! in a registry, as pushed, or in an OCI layout on disk
//! (`oci-layout://PATH[:TAG][@DIGEST]`, a directory or a tar archive).

use crossbuild::client::build_options::process_env;
use crossbuild::client::session::DockerConfig;
use crossbuild::image::layout_inspect::{inspect_layout, LayoutRef, OCI_LAYOUT_SCHEME};
use crossbuild::image::registry::{ImageSummary, RegistryClient};

use super::Format;

/// Prints `image`'s index: per platform digest, size, os/arch/variant; and
/// its attestation manifests.
pub async fn run(image: &str, format: Format) -> Result<(), String> {
    let summary = match LayoutRef::parse(image) {
        Some(reference) => inspect_layout(&reference, image).map_err(|e| e.to_string())?,
        None => inspect_registry(image).await?,
    };
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => print_table(&summary),
    }
    Ok(())
}

async fn inspect_registry(image: &str) -> Result<ImageSummary, String> {
    let config = match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string())?,
        None => DockerConfig::default(),
    };
    RegistryClient::new(config)
        .inspect(image)
        .await
        .map_err(|e| {
            // A plain argument is always a registry reference; a user who
            // meant a layout on disk gets told how to say so.
            if std::path::Path::new(image).join("index.json").is_file() {
                format!("{e}\nhint: {image} is an OCI layout directory; inspect it as {OCI_LAYOUT_SCHEME}{image}")
            } else {
                e.to_string()
            }
        })
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
