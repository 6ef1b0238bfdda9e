//! `--cache-from`/`--cache-to` entries with buildx's syntax (buildx
//! `util/buildflags/cache.go`, `build/cache.go`), and the `cache-imports`
//! frontend attribute BuildKit's client derives from them.

use std::collections::{BTreeMap, HashMap};

use bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry;
use serde::Serialize;

use super::build_options::{csv, invalid, BuildOptionError};
use super::output::parse_go_bool;

/// One `--cache-from`/`--cache-to` entry (BuildKit's `CacheOptionsEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheEntry {
    /// `registry`, `local`, `inline`, `gha`, `s3`, `azblob`, ...
    #[serde(rename = "Type")]
    pub ty: String,
    /// Backend attributes, e.g. `ref`, `src`, `dest`, `mode`.
    #[serde(rename = "Attrs", skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

impl CacheEntry {
    /// The protobuf entry for `SolveRequest.cache`.
    pub fn to_pb(&self) -> CacheOptionsEntry {
        CacheOptionsEntry {
            r#type: self.ty.clone(),
            attrs: self.attrs.clone().into_iter().collect::<HashMap<_, _>>(),
        }
    }
}

/// Parses `--cache-from`/`--cache-to` values: `type=...,key=value` or, for a
/// value without `=`, one registry ref per CSV field. `gha` entries get
/// their token and URL from the GitHub Actions environment and are dropped
/// when none is available (buildx does the same, so one command line works
/// inside and outside Actions).
pub fn parse_cache_entries(
    values: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CacheEntry>, BuildOptionError> {
    const FLAG: &str = "--cache-from/--cache-to";
    let mut entries = Vec::new();
    for value in values.iter().filter(|v| !v.is_empty()) {
        let fields = csv(FLAG, value)?;
        if !value.contains('=') {
            for field in fields.into_iter().filter(|f| !f.is_empty()) {
                entries.push(CacheEntry {
                    ty: "registry".to_string(),
                    attrs: BTreeMap::from([("ref".to_string(), field)]),
                });
            }
            continue;
        }
        let mut entry = CacheEntry {
            ty: String::new(),
            attrs: BTreeMap::new(),
        };
        for field in fields {
            let Some((key, v)) = field.split_once('=') else {
                return Err(invalid(FLAG, &field, "expected key=value"));
            };
            match key.to_lowercase().as_str() {
                "type" => entry.ty = v.to_string(),
                k => {
                    entry.attrs.insert(k.to_string(), v.to_string());
                }
            }
        }
        if entry.ty.is_empty() {
            return Err(invalid(FLAG, value, "type is required"));
        }
        if entry.ty == "gha" && !fill_github_cache_env(&mut entry, env) {
            continue;
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Fills a `gha` entry from the Actions runtime environment; false when it
/// still lacks a token or URL.
fn fill_github_cache_env(entry: &mut CacheEntry, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let a = &mut entry.attrs;
    let v2 = a.get("version").map(String::as_str) == Some("2")
        || (!a.contains_key("version")
            && env("ACTIONS_CACHE_SERVICE_V2").is_some_and(|v| parse_go_bool(&v) == Some(true)));
    if !a.contains_key("token") {
        if let Some(t) = env("ACTIONS_RUNTIME_TOKEN") {
            a.insert("token".to_string(), t);
        }
    }
    if v2 && !a.contains_key("url_v2") {
        if let Some(u) = env("ACTIONS_RESULTS_URL") {
            a.insert("url_v2".to_string(), u);
        }
    }
    if !a.contains_key("url") {
        if let Some(u) = env("ACTIONS_CACHE_URL").or_else(|| env("ACTIONS_RESULTS_URL")) {
            a.insert("url".to_string(), u);
        }
    }
    let nonempty = |k: &str| a.get(k).is_some_and(|v| !v.is_empty());
    nonempty("token") && (nonempty("url") || nonempty("url_v2"))
}

/// The `cache-imports` frontend attribute (JSON list of `{Type, Attrs}`),
/// which lets the frontend resolve cached image configs; `None` when empty.
pub fn cache_imports_attr(imports: &[CacheEntry]) -> Option<String> {
    if imports.is_empty() {
        return None;
    }
    serde_json::to_string(imports).ok()
}
