//! `--cache-from`/`--cache-to` entries with buildx's syntax (buildx
//! `util/buildflags/cache.go`, `build/cache.go`), the `cache-imports`
//! frontend attribute BuildKit's client derives from them, and the content
//! stores `type=local` entries are served through (BuildKit
//! `client/solve.go` `parseCacheOptions`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry;
use serde::Serialize;

use super::build_options::{csv, invalid, BuildOptionError};
use super::output::parse_go_bool;
use super::session::content_store::ContentStoreDir;
use crate::image::layout::Layout;

/// The prefix of the store id BuildKit asks for a local cache directory
/// under: `local:` followed by the `dest`/`src` attribute as given.
pub const LOCAL_CACHE_STORE_PREFIX: &str = "local:";

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

/// What `type=local` cache entries need from the session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LocalCache {
    /// Content stores by id (`local:<dir>`): exports writable, imports
    /// read-only.
    pub stores: BTreeMap<String, ContentStoreDir>,
    /// Imports that were skipped, said the way buildx warns about them.
    pub warnings: Vec<String>,
}

/// Checks `type=local` cache entries and completes the imports as
/// BuildKit's client does: the digest of the cache to import comes from
/// the directory's `index.json` (by `tag`, default `latest`) unless given
/// as `digest=`. A source directory that does not exist yet is skipped
/// with a warning, as in buildx (the first CI run has no cache); one that
/// exists but holds no such cache is an error, where BuildKit only warns,
/// because that is a mistake rather than a cold start.
pub fn prepare_local_cache(
    imports: &mut Vec<CacheEntry>,
    exports: &[CacheEntry],
) -> Result<LocalCache, BuildOptionError> {
    let mut local = LocalCache::default();
    for export in exports.iter().filter(|e| e.ty == "local") {
        let dest = local_dir(export, "dest", "--cache-to")?;
        if export
            .attrs
            .get("reset")
            .is_some_and(|v| parse_go_bool(v) != Some(false))
        {
            return Err(BuildOptionError::LocalCache(
                "--cache-to type=local: reset is not supported".to_string(),
            ));
        }
        if Path::new(dest).exists() && !Path::new(dest).is_dir() {
            return Err(BuildOptionError::LocalCache(format!(
                "--cache-to type=local: dest {dest} is not a directory"
            )));
        }
        local.stores.insert(
            format!("{LOCAL_CACHE_STORE_PREFIX}{dest}"),
            ContentStoreDir {
                path: PathBuf::from(dest),
                writable: true,
            },
        );
    }
    let mut kept = Vec::new();
    for mut import in std::mem::take(imports) {
        if import.ty != "local" {
            kept.push(import);
            continue;
        }
        let src = local_dir(&import, "src", "--cache-from")?.to_string();
        if !Path::new(&src).exists() {
            local.warnings.push(format!(
                "local cache import at {src} not found; building without it"
            ));
            continue;
        }
        let digest = local_import_digest(&import, &src)
            .map_err(|e| BuildOptionError::LocalCache(format!("--cache-from type=local: {e}")))?;
        import.attrs.insert("digest".to_string(), digest);
        local
            .stores
            .entry(format!("{LOCAL_CACHE_STORE_PREFIX}{src}"))
            .or_insert(ContentStoreDir {
                path: PathBuf::from(&src),
                writable: false,
            });
        kept.push(import);
    }
    *imports = kept;
    Ok(local)
}

fn local_dir<'a>(
    entry: &'a CacheEntry,
    key: &str,
    flag: &str,
) -> Result<&'a str, BuildOptionError> {
    entry
        .attrs
        .get(key)
        .map(String::as_str)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| BuildOptionError::LocalCache(format!("{flag} type=local needs {key}=DIR")))
}

/// The digest of the cache manifest to import from `src`.
fn local_import_digest(import: &CacheEntry, src: &str) -> Result<String, String> {
    let layout = Layout::new(src);
    let digest = match import.attrs.get("digest").filter(|d| !d.is_empty()) {
        Some(digest) => digest.clone(),
        None => {
            let tag = import.attrs.get("tag").map_or("latest", String::as_str);
            if tag.is_empty() {
                return Err("an empty tag names no cache; give tag=NAME or digest=...".into());
            }
            layout
                .find(tag)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{src}/index.json has no cache tagged {tag:?}"))?
                .digest
        }
    };
    layout.check_blob(&digest).map_err(|e| e.to_string())?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layout::LayoutName;
    use crate::image::Descriptor;

    fn entry(ty: &str, attrs: &[(&str, &str)]) -> CacheEntry {
        CacheEntry {
            ty: ty.to_string(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A cache directory with one blob tagged `latest`; returns its digest.
    fn cache_dir(dir: &Path) -> String {
        use sha2::Digest;
        let blob = b"{}";
        let hex = hex::encode(sha2::Sha256::digest(blob));
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(&hex), blob).unwrap();
        let descriptor = Descriptor {
            digest: format!("sha256:{hex}"),
            size: 2,
            ..Default::default()
        };
        Layout::new(dir)
            .put(&descriptor, &[LayoutName::Tag("latest".into())])
            .unwrap();
        descriptor.digest
    }

    #[test]
    fn local_entries_become_stores_and_imports_get_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("cache");
        let digest = cache_dir(&src);
        let src = src.to_string_lossy().into_owned();
        let dest = dir.path().join("out").to_string_lossy().into_owned();
        let mut imports = vec![
            entry("local", &[("src", &src)]),
            entry("registry", &[("ref", "r/c")]),
        ];
        let exports = vec![entry("local", &[("dest", &dest), ("mode", "max")])];
        let local = prepare_local_cache(&mut imports, &exports).unwrap();
        assert_eq!(imports[0].attrs["digest"], digest);
        assert_eq!(imports.len(), 2);
        assert!(local.warnings.is_empty());
        assert_eq!(
            local.stores[&format!("local:{src}")],
            ContentStoreDir {
                path: PathBuf::from(&src),
                writable: false
            }
        );
        assert!(local.stores[&format!("local:{dest}")].writable);
    }

    #[test]
    fn the_same_directory_for_import_and_export_is_writable() {
        let dir = tempfile::tempdir().unwrap();
        cache_dir(dir.path());
        let path = dir.path().to_string_lossy().into_owned();
        let mut imports = vec![entry("local", &[("src", &path)])];
        let exports = vec![entry("local", &[("dest", &path)])];
        let local = prepare_local_cache(&mut imports, &exports).unwrap();
        assert_eq!(local.stores.len(), 1);
        assert!(local.stores[&format!("local:{path}")].writable);
    }

    #[test]
    fn a_missing_source_directory_is_skipped_with_a_warning() {
        let mut imports = vec![entry("local", &[("src", "/nonexistent/cache")])];
        let local = prepare_local_cache(&mut imports, &[]).unwrap();
        assert!(imports.is_empty());
        assert!(local.stores.is_empty());
        assert_eq!(local.warnings.len(), 1);
    }

    #[test]
    fn bad_local_entries_are_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().to_string_lossy().into_owned();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let file = file.to_string_lossy().into_owned();
        let cache = dir.path().join("cache");
        cache_dir(&cache);
        let cache = cache.to_string_lossy().into_owned();
        let unknown = format!("sha256:{}", "0".repeat(64));
        let cases: Vec<(Vec<CacheEntry>, Vec<CacheEntry>, &str)> = vec![
            (vec![], vec![entry("local", &[])], "needs dest=DIR"),
            (
                vec![entry("local", &[("src", "")])],
                vec![],
                "needs src=DIR",
            ),
            (
                vec![],
                vec![entry("local", &[("dest", &file)])],
                "not a directory",
            ),
            (
                vec![],
                vec![entry("local", &[("dest", &empty), ("reset", "true")])],
                "reset",
            ),
            (
                vec![entry("local", &[("src", &empty)])],
                vec![],
                "cannot read index.json",
            ),
            (
                vec![entry("local", &[("src", &cache), ("tag", "v2")])],
                vec![],
                "no cache tagged \"v2\"",
            ),
            (
                vec![entry("local", &[("src", &cache), ("digest", &unknown)])],
                vec![],
                "is not in",
            ),
            (
                vec![entry("local", &[("src", &cache), ("digest", "sha256:zz")])],
                vec![],
                "invalid digest",
            ),
        ];
        for (mut imports, exports, expected) in cases {
            let err = prepare_local_cache(&mut imports, &exports).unwrap_err();
            assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        }
    }
}
