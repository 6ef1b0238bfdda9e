//! Reading images from a registry (Docker Registry HTTP API v2), enough to
//! inspect what a multi-platform build pushed: the index, each platform's
//! manifest and config, and BuildKit's attestation manifests; and storing
//! one index manifest, which is how builds on several nodes
//! (`build --node`) are joined into one image.
//!
//! A small client on hyper, which is already in the tree, rather than a
//! registry crate: inspecting needs three GETs and the token dance, joining
//! nodes one PUT of a manifest whose blobs are all pushed already, and the
//! layers themselves go through BuildKit. A crate such as oci-client would
//! bring reqwest and a second TLS stack for those few requests. Only plain HTTP is
//! spoken, and only to loopback registries (`localhost`, `127.0.0.1`,
//! `[::1]`) — what Docker also treats as insecure by default. HTTPS is not
//! supported yet: there is no TLS client in the tree, and every other host
//! gets a clear error instead of a silent downgrade to plain HTTP.
//!
//! Credentials come from the Docker config through
//! [`AuthService::credentials_for`], for the registry host only; they are
//! sent as Basic auth or exchanged for a Bearer token when the registry
//! asks (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`).

use std::collections::BTreeMap;

use base64::Engine;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::Serialize;

use super::{
    is_index_media_type, Descriptor, Index, Manifest, ANNOTATION_REFERENCE_DIGEST,
    ANNOTATION_REFERENCE_TYPE,
};
use crate::client::session::{AuthService, Credentials, DockerConfig};
use crate::llb::normalize_image_ref;

/// Everything a manifest GET accepts (`super::MEDIA_TYPE_*`): BuildKit
/// pushes OCI, older tools Docker's schema 2.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Not an image reference.
    #[error("{0}")]
    Reference(String),
    /// The registry is not one this client can reach.
    #[error("registry {host}: only loopback registries over plain HTTP are supported so far (HTTPS is not yet); {host} is not one")]
    Unsupported {
        /// The registry host.
        host: String,
    },
    /// The registry has no such image.
    #[error("image {image} not found in the registry ({detail})")]
    NotFound {
        /// The reference asked for.
        image: String,
        /// The registry's own words.
        detail: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error(
        "registry {host} refused access to {image} ({status}); log in with `docker login {host}`"
    )]
    Unauthorized {
        /// The registry host.
        host: String,
        /// The reference asked for.
        image: String,
        /// The HTTP status.
        status: u16,
    },
    /// The connection or the HTTP exchange failed.
    #[error("registry {host}: {message}")]
    Http {
        /// The registry host.
        host: String,
        /// What failed.
        message: String,
    },
    /// The registry answered something that is not a manifest.
    #[error("registry {host} sent an unreadable {what}: {message}")]
    Invalid {
        /// The registry host.
        host: String,
        /// What was being read.
        what: String,
        /// Why it does not parse.
        message: String,
    },
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host with port, e.g. `localhost:5000`.
    pub host: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag or digest to fetch.
    pub reference: String,
    /// The normalised form, for messages.
    pub normalized: String,
}

impl ImageRef {
    /// Parses `image` the way `docker` does (`busybox` is
    /// `docker.io/library/busybox:latest`); a digest wins over a tag.
    pub fn parse(image: &str) -> Result<ImageRef, RegistryError> {
        let normalized =
            normalize_image_ref(image).map_err(|e| RegistryError::Reference(e.to_string()))?;
        let (name_tag, digest) = match normalized.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (normalized.as_str(), None),
        };
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i..].contains('/') => (&name_tag[..i], Some(&name_tag[i + 1..])),
            _ => (name_tag, None),
        };
        let (domain, repository) = name
            .split_once('/')
            .ok_or_else(|| RegistryError::Reference(format!("{image}: no repository")))?;
        // Docker Hub's API lives on another host than its name.
        let host = if domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            domain
        };
        Ok(ImageRef {
            host: host.to_string(),
            repository: repository.to_string(),
            reference: digest.or(tag).unwrap_or("latest").to_string(),
            normalized: normalized.clone(),
        })
    }

    fn is_loopback(&self) -> bool {
        let host = match self.host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => self.host.as_str(),
        };
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

/// One entry of an image's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformEntry {
    /// `os/arch[/variant]`, or `unknown/unknown` for attestations.
    pub platform: String,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// Size of the manifest itself.
    pub manifest_size: i64,
    /// Size of what the manifest points at (config and layers, compressed
    /// as stored): what a pull of this platform downloads.
    pub size: i64,
    /// For an attestation manifest, the image manifest it describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attests: Option<String>,
}

/// What `crossbuild inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// The normalised reference.
    pub name: String,
    /// Media type of the top-level manifest.
    pub media_type: String,
    /// Digest of the top-level manifest (index or single manifest).
    pub digest: String,
    /// The images, one per platform.
    pub platforms: Vec<PlatformEntry>,
    /// BuildKit's attestation manifests (SBOM, provenance).
    pub attestations: Vec<PlatformEntry>,
}

/// A registry client with the user's credentials.
pub struct RegistryClient {
    auth: AuthService,
}

struct Fetched {
    media_type: String,
    digest: String,
    body: Bytes,
}

impl RegistryClient {
    /// A client using the credentials of `config`.
    pub fn new(config: DockerConfig) -> Self {
        RegistryClient {
            auth: AuthService::new(config),
        }
    }

    /// Reads `image`'s index (or single manifest) and each platform's
    /// manifest.
    pub async fn inspect(&self, image: &str) -> Result<ImageSummary, RegistryError> {
        let image = ImageRef::parse(image)?;
        if !image.is_loopback() {
            return Err(RegistryError::Unsupported { host: image.host });
        }
        let mut session = Session::new(self, &image).await;
        let top = session.get_manifest(&image.reference).await?;
        let mut summary = ImageSummary {
            name: image.normalized.clone(),
            media_type: top.media_type.clone(),
            digest: top.digest.clone(),
            platforms: Vec::new(),
            attestations: Vec::new(),
        };
        if !is_index_media_type(&top.media_type) {
            let manifest = parse_manifest(&image, &top.body)?;
            let config = session.get_blob(&manifest.config.digest).await?;
            let platform = config_platform(&config);
            summary.platforms.push(PlatformEntry {
                platform,
                digest: top.digest,
                media_type: top.media_type,
                manifest_size: top.body.len() as i64,
                size: manifest_content_size(&manifest),
                attests: None,
            });
            return Ok(summary);
        }
        let index = Index::from_json(&top.body).map_err(|e| invalid(&image, "index", e))?;
        for descriptor in &index.manifests {
            let fetched = session.get_manifest(&descriptor.digest).await?;
            let manifest = parse_manifest(&image, &fetched.body)?;
            let (entry, is_attestation) = index_entry(descriptor, &manifest);
            if is_attestation {
                summary.attestations.push(entry);
            } else {
                summary.platforms.push(entry);
            }
        }
        Ok(summary)
    }
}

/// A manifest or index as the registry stored it.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its media type (the registry's `Content-Type`).
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// The exact bytes, which the digest is of.
    pub body: Bytes,
}

impl RegistryClient {
    /// Reads the manifest or index `reference` (a tag or digest) of
    /// `image`'s repository.
    pub async fn get_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<StoredManifest, RegistryError> {
        check_reachable(image)?;
        let mut session = Session::new(self, image).await;
        let fetched = session.get_manifest(reference).await?;
        let digest = crate::llb::digest_of(&fetched.body);
        // The registry's word is checked, not trusted: what we read is
        // what we will point an index at.
        if reference.starts_with("sha256:") && digest != reference {
            return Err(invalid(
                image,
                "manifest",
                format!("asked for {reference}, got bytes of {digest}"),
            ));
        }
        Ok(StoredManifest {
            media_type: fetched.media_type,
            digest,
            body: fetched.body,
        })
    }

    /// Reads the blob `digest` (an image config) of `image`'s repository.
    pub async fn get_blob(&self, image: &ImageRef, digest: &str) -> Result<Bytes, RegistryError> {
        check_reachable(image)?;
        let mut session = Session::new(self, image).await;
        let body = session.get_blob(digest).await?;
        if crate::llb::digest_of(&body) != digest {
            return Err(invalid(
                image,
                "blob",
                format!("{digest} does not match its bytes"),
            ));
        }
        Ok(body)
    }

    /// Whether the repository of `image` holds the manifest `reference`
    /// (a HEAD request).
    pub async fn has_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<bool, RegistryError> {
        check_reachable(image)?;
        let mut session = Session::new(self, image).await;
        let path = format!("/v2/{}/manifests/{reference}", image.repository);
        let response = session
            .exchange(Method::HEAD, &path, MANIFEST_ACCEPT, None, Bytes::new())
            .await?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(session.status_error("HEAD", &path, &response)),
        }
    }

    /// Stores `body` (a manifest or index of `media_type`) under
    /// `reference` (a tag) in the repository of `image`; returns its digest.
    pub async fn put_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, RegistryError> {
        check_reachable(image)?;
        let mut session = Session::new(self, image).await;
        let digest = crate::llb::digest_of(&body);
        let path = format!("/v2/{}/manifests/{reference}", image.repository);
        let response = session
            .exchange(Method::PUT, &path, "*/*", Some(media_type), body)
            .await?;
        match response.status {
            200..=202 => Ok(digest),
            _ => Err(session.status_error("PUT", &path, &response)),
        }
    }
}

fn check_reachable(image: &ImageRef) -> Result<(), RegistryError> {
    if image.is_loopback() {
        Ok(())
    } else {
        Err(RegistryError::Unsupported {
            host: image.host.clone(),
        })
    }
}

fn parse_manifest(image: &ImageRef, body: &[u8]) -> Result<Manifest, RegistryError> {
    Manifest::from_json(body).map_err(|e| invalid(image, "manifest", e))
}

fn invalid(image: &ImageRef, what: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Invalid {
        host: image.host.clone(),
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// The summary entry for one descriptor of an index whose manifest is
/// `manifest`, and whether it is an attestation manifest (BuildKit's
/// `vnd.docker.reference.type: attestation-manifest`) rather than an image.
pub(crate) fn index_entry(descriptor: &Descriptor, manifest: &Manifest) -> (PlatformEntry, bool) {
    let platform = descriptor
        .platform
        .as_ref()
        .map(|p| p.id())
        .unwrap_or_else(|| "unknown/unknown".to_string());
    let is_attestation = descriptor
        .annotations
        .get(ANNOTATION_REFERENCE_TYPE)
        .is_some_and(|t| t == "attestation-manifest");
    let entry = PlatformEntry {
        platform,
        digest: descriptor.digest.clone(),
        media_type: descriptor.media_type.clone(),
        manifest_size: descriptor.size,
        size: manifest_content_size(manifest),
        attests: descriptor
            .annotations
            .get(ANNOTATION_REFERENCE_DIGEST)
            .filter(|_| is_attestation)
            .cloned(),
    };
    (entry, is_attestation)
}

/// What a pull of the manifest's image downloads: config and layers.
pub(crate) fn manifest_content_size(manifest: &Manifest) -> i64 {
    manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<i64>()
}

/// `os/arch[/variant]` from an image config's JSON.
pub(crate) fn config_platform(config: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    let field = |k: &str| value[k].as_str().unwrap_or_default().to_string();
    let mut id = format!("{}/{}", field("os"), field("architecture"));
    if !field("variant").is_empty() {
        id = format!("{id}/{}", field("variant"));
    }
    id
}

/// Requests to one repository, carrying the authorization once found.
struct Session<'a> {
    image: &'a ImageRef,
    credentials: Credentials,
    authorization: Option<String>,
}

impl<'a> Session<'a> {
    async fn new(client: &RegistryClient, image: &'a ImageRef) -> Session<'a> {
        // Missing or failing credential helpers mean anonymous access,
        // which the registry then accepts or refuses.
        let credentials = client
            .auth
            .credentials_for(&image.host)
            .await
            .unwrap_or_default();
        Session {
            image,
            credentials,
            authorization: None,
        }
    }

    async fn get_manifest(&mut self, reference: &str) -> Result<Fetched, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", self.image.repository);
        self.get(&path, MANIFEST_ACCEPT).await
    }

    async fn get_blob(&mut self, digest: &str) -> Result<Bytes, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", self.image.repository);
        Ok(self.get(&path, "*/*").await?.body)
    }

    /// GETs `path`, answering one authentication challenge.
    async fn get(&mut self, path: &str, accept: &str) -> Result<Fetched, RegistryError> {
        let response = self
            .exchange(Method::GET, path, accept, None, Bytes::new())
            .await?;
        match response.status {
            200 => Ok(Fetched {
                media_type: response.content_type,
                digest: response.digest,
                body: response.body,
            }),
            _ => Err(self.status_error("GET", path, &response)),
        }
    }

    /// Sends one request, answering one authentication challenge: the
    /// first for the session, or a new one (a push asks for a wider scope
    /// than the pulls before it).
    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        accept: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response, RegistryError> {
        let mut response = self
            .send(method.clone(), path, accept, content_type, body.clone())
            .await?;
        if response.status == 401 && !response.challenge.is_empty() {
            let authorization = self.authorize(&response.challenge).await?;
            if authorization.is_some() && authorization != self.authorization {
                self.authorization = authorization;
                response = self.send(method, path, accept, content_type, body).await?;
            }
        }
        Ok(response)
    }

    /// The error for an unexpected answer.
    fn status_error(&self, method: &str, path: &str, response: &Response) -> RegistryError {
        match response.status {
            404 => RegistryError::NotFound {
                image: self.image.normalized.clone(),
                detail: registry_error_text(&response.body),
            },
            401 | 403 => RegistryError::Unauthorized {
                host: self.image.host.clone(),
                image: self.image.normalized.clone(),
                status: response.status,
            },
            status => self.http_error(format!(
                "{method} {path}: HTTP {status}: {}",
                registry_error_text(&response.body)
            )),
        }
    }

    /// The `Authorization` value a challenge asks for, if we can give one.
    async fn authorize(&self, challenge: &str) -> Result<Option<String>, RegistryError> {
        let basic = (!self.credentials.secret.is_empty()).then(|| {
            let pair = format!("{}:{}", self.credentials.username, self.credentials.secret);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Ok(basic);
        };
        let params = parse_challenge(params);
        let Some(realm) = params.get("realm") else {
            return Ok(basic);
        };
        let realm_ref = realm_host_and_path(realm).ok_or_else(|| RegistryError::Unsupported {
            host: realm.clone(),
        })?;
        let mut query = Vec::new();
        for key in ["service", "scope"] {
            if let Some(value) = params.get(key) {
                query.push(format!("{key}={}", percent_encode(value)));
            }
        }
        let path = if query.is_empty() {
            realm_ref.1.clone()
        } else {
            format!("{}?{}", realm_ref.1, query.join("&"))
        };
        let response = request(
            &realm_ref.0,
            Method::GET,
            &path,
            "application/json",
            basic.as_deref(),
            None,
            Bytes::new(),
        )
        .await
        .map_err(|m| self.http_error(m))?;
        if response.status != 200 {
            return Err(RegistryError::Unauthorized {
                host: self.image.host.clone(),
                image: self.image.normalized.clone(),
                status: response.status,
            });
        }
        let token: serde_json::Value =
            serde_json::from_slice(&response.body).map_err(|e| invalid(self.image, "token", e))?;
        let token = token["token"]
            .as_str()
            .or_else(|| token["access_token"].as_str())
            .ok_or_else(|| invalid(self.image, "token", "no token in the answer"))?;
        Ok(Some(format!("Bearer {token}")))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response, RegistryError> {
        request(
            &self.image.host,
            method,
            path,
            accept,
            self.authorization.as_deref(),
            content_type,
            body,
        )
        .await
        .map_err(|m| self.http_error(m))
    }

    fn http_error(&self, message: String) -> RegistryError {
        RegistryError::Http {
            host: self.image.host.clone(),
            message,
        }
    }
}

/// The registry's `{"errors":[{"message":...}]}` text, or the raw body.
fn registry_error_text(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let messages: Vec<String> = value["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["code"].as_str().unwrap_or("error"),
                        e["message"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() {
        String::from_utf8_lossy(body).trim().to_string()
    } else {
        messages.join("; ")
    }
}

/// `key="value",key2="v,2"` → map; values may be quoted and hold commas.
fn parse_challenge(params: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, n)) => (v, n),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

/// A token realm's host and path, when it is plain HTTP on loopback (the
/// only kind this client can reach).
fn realm_host_and_path(realm: &str) -> Option<(String, String)> {
    let rest = realm.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let probe = ImageRef {
        host: host.to_string(),
        repository: String::new(),
        reference: String::new(),
        normalized: String::new(),
    };
    probe
        .is_loopback()
        .then(|| (host.to_string(), path.to_string()))
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Response {
    status: u16,
    content_type: String,
    digest: String,
    challenge: String,
    body: Bytes,
}

/// One HTTP/1.1 request on a fresh connection.
async fn request(
    host: &str,
    method: Method,
    path: &str,
    accept: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Response, String> {
    let stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "registry connection ended");
        }
    });
    let verb = method.to_string();
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        .header(http::header::ACCEPT, accept)
        .header(http::header::USER_AGENT, "crossbuild");
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    if let Some(value) = content_type {
        builder = builder.header(http::header::CONTENT_TYPE, value);
    }
    let req = builder
        .body(Full::new(body))
        .map_err(|e| format!("{verb} {path}: {e}"))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{verb} {path}: {e}"))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let status = response.status().as_u16();
    let content_type = header("content-type");
    let digest = header("docker-content-digest");
    let challenge = header("www-authenticate");
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{verb} {path}: reading the body: {e}"))?
        .to_bytes();
    driver.abort();
    let digest = if digest.is_empty() {
        crate::llb::digest_of(&body)
    } else {
        digest
    };
    Ok(Response {
        status,
        content_type: content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        digest,
        challenge,
        body,
    })
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
