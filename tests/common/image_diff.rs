//! Comparing two images the way the conformance tests need: the image
//! configs without what changes from build to build (timestamps, layer
//! digests), the final file trees entry by entry, then each layer's
//! entries, each difference
//! printed on one line, with the exclusions a test names left out and
//! listed.

use std::collections::BTreeMap;

use super::oci::{self, Image};

/// A part of the images deliberately not compared, and why.
#[derive(Debug, Clone, Copy)]
pub struct Exclusion {
    /// A config key (flattened, e.g. `config.Healthcheck` or `history[3]`)
    /// or a file path (no leading slash); it and everything below it are
    /// skipped.
    pub prefix: &'static str,
    /// Why: a pointer to the README's list of known differences.
    pub reason: &'static str,
}

/// The config as compared: no `created` times, and the layer count in
/// place of the layer digests (the file trees are compared on their own).
pub fn comparable_config(config: &serde_json::Value) -> BTreeMap<String, String> {
    let mut config = config.clone();
    if let Some(object) = config.as_object_mut() {
        object.remove("created");
        if let Some(rootfs) = object.remove("rootfs") {
            let layers = rootfs["diff_ids"].as_array().map_or(0, Vec::len);
            object.insert("rootfs.layers".to_string(), layers.into());
        }
    }
    if let Some(history) = config["history"].as_array_mut() {
        for entry in history {
            if let Some(entry) = entry.as_object_mut() {
                entry.remove("created");
            }
        }
    }
    let mut flat = BTreeMap::new();
    flatten("", &config, &mut flat);
    flat
}

/// Objects become dotted keys and arrays of objects indexed keys; arrays
/// of strings stay whole, since their order is what matters (`Env`, `Cmd`).
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i:02}]"), item, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn excluded<'a>(key: &str, exclusions: &'a [Exclusion]) -> Option<&'a Exclusion> {
    exclusions.iter().find(|e| {
        key == e.prefix
            || key
                .strip_prefix(e.prefix)
                .is_some_and(|rest| rest.starts_with(['.', '/', '[']))
    })
}

/// The differences between two maps, one line each, skipping excluded keys.
fn diff_maps<V: PartialEq + std::fmt::Display>(
    reference: &BTreeMap<String, V>,
    crossbuild: &BTreeMap<String, V>,
    exclusions: &[Exclusion],
) -> Vec<String> {
    let mut lines = Vec::new();
    let keys: std::collections::BTreeSet<&String> =
        reference.keys().chain(crossbuild.keys()).collect();
    for key in keys {
        if excluded(key, exclusions).is_some() {
            continue;
        }
        match (reference.get(key), crossbuild.get(key)) {
            (Some(r), Some(c)) if r == c => {}
            (Some(r), Some(c)) => lines.push(format!(
                "{key}:\n      reference:  {r}\n      crossbuild: {c}"
            )),
            (Some(r), None) => lines.push(format!("{key}: only in reference: {r}")),
            (None, Some(c)) => lines.push(format!("{key}: only in crossbuild: {c}")),
            (None, None) => {}
        }
    }
    lines
}

/// Every difference between the reference's images and crossbuild's,
/// per platform, as a report; empty when they agree.
pub fn diff_images(
    reference: &BTreeMap<String, Image>,
    crossbuild: &BTreeMap<String, Image>,
    config_exclusions: &[Exclusion],
    path_exclusions: &[Exclusion],
) -> Vec<String> {
    let mut report = Vec::new();
    let reference_platforms: Vec<&String> = reference.keys().collect();
    let crossbuild_platforms: Vec<&String> = crossbuild.keys().collect();
    if reference_platforms != crossbuild_platforms {
        report.push(format!(
            "platforms: reference {reference_platforms:?}, crossbuild {crossbuild_platforms:?}"
        ));
    }
    for (platform, r) in reference {
        let Some(c) = crossbuild.get(platform) else {
            continue;
        };
        let config = diff_maps(
            &comparable_config(&r.config),
            &comparable_config(&c.config),
            config_exclusions,
        );
        if !config.is_empty() {
            report.push(format!("{platform} image config:"));
            report.extend(config.into_iter().map(|l| format!("  {l}")));
        }
        let files = diff_maps(
            &oci::file_tree(&r.layers),
            &oci::file_tree(&c.layers),
            path_exclusions,
        );
        let files_agree = files.is_empty();
        if !files.is_empty() {
            report.push(format!("{platform} files:"));
            report.extend(files.into_iter().map(|l| format!("  {l}")));
        }
        // Layer by layer only when the trees agree: otherwise the tree
        // diff already says what matters, and the layers repeat it.
        if files_agree && r.layers.len() == c.layers.len() {
            for (i, (rl, cl)) in r.layers.iter().zip(&c.layers).enumerate() {
                let layer = diff_maps(
                    &oci::layer_entries(rl),
                    &oci::layer_entries(cl),
                    path_exclusions,
                );
                if !layer.is_empty() {
                    report.push(format!("{platform} layer {i}:"));
                    report.extend(layer.into_iter().map(|l| format!("  {l}")));
                }
            }
        }
    }
    report
}

/// The times that `SOURCE_DATE_EPOCH` pins, compared: the config's
/// `created`, each history entry's `created`, and (exported with
/// `rewrite-timestamp=true`) every layer entry's modification time.
/// Empty when they agree.
pub fn diff_times(
    reference: &BTreeMap<String, Image>,
    crossbuild: &BTreeMap<String, Image>,
) -> Vec<String> {
    let mut report = Vec::new();
    for (platform, r) in reference {
        let Some(c) = crossbuild.get(platform) else {
            continue;
        };
        let mut times = diff_maps(&config_times(&r.config), &config_times(&c.config), &[]);
        if r.layers.len() == c.layers.len() {
            for (i, (rl, cl)) in r.layers.iter().zip(&c.layers).enumerate() {
                let layer = diff_maps(&layer_times(rl), &layer_times(cl), &[]);
                times.extend(layer.into_iter().map(|l| format!("layer {i} {l}")));
            }
        }
        if !times.is_empty() {
            report.push(format!("{platform} times:"));
            report.extend(times.into_iter().map(|l| format!("  {l}")));
        }
    }
    report
}

fn config_times(config: &serde_json::Value) -> BTreeMap<String, String> {
    let mut times = BTreeMap::new();
    times.insert("created".to_string(), config["created"].to_string());
    for (i, entry) in config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        times.insert(
            format!("history[{i:02}].created"),
            entry["created"].to_string(),
        );
    }
    times
}

fn layer_times(layer: &[u8]) -> BTreeMap<String, u64> {
    oci::layer_mtimes(layer)
}
