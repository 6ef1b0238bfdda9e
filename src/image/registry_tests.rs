//! Reference parsing, challenge parsing, and the registry client against a fake registry on loopback that demands a
//! Bearer token and serves an index with an attestation manifest, the way
//! BuildKit pushes one.

use std::collections::BTreeMap;
use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;

use super::*;
use crate::image::{MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST};

fn digest(body: &str) -> String {
    crate::llb::digest_of(body.as_bytes())
}

/// Serves `blobs` (path → body) once authorised with `Bearer t0k`, and the
/// token at `/token`. Returns the address.
async fn fake_registry(blobs: BTreeMap<String, (String, String)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let realm = format!("http://{addr}/token");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let blobs = blobs.clone();
            let realm = realm.clone();
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let blobs = blobs.clone();
                let realm = realm.clone();
                async move {
                    let path = req.uri().path().to_string();
                    let authorised = req
                        .headers()
                        .get("authorization")
                        .is_some_and(|v| v == "Bearer t0k");
                    let response = if path == "/token" {
                        let scope = req.uri().query().unwrap_or_default().to_string();
                        assert!(scope.contains("scope=repository:app:pull"), "{scope}");
                        http::Response::new(Full::new(Bytes::from(r#"{"token":"t0k"}"#)))
                    } else if !authorised {
                        let mut r = http::Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = http::StatusCode::UNAUTHORIZED;
                        let challenge = format!(
                            r#"Bearer realm="{realm}",service="fake",scope="repository:app:pull""#
                        );
                        r.headers_mut()
                            .insert("www-authenticate", challenge.parse().expect("header"));
                        r
                    } else if let Some((media_type, body)) = blobs.get(&path) {
                        let mut r = http::Response::new(Full::new(Bytes::from(body.clone())));
                        r.headers_mut()
                            .insert("content-type", media_type.parse().expect("header"));
                        r
                    } else {
                        let mut r = http::Response::new(Full::new(Bytes::from(
                            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                        )));
                        *r.status_mut() = http::StatusCode::NOT_FOUND;
                        r
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn index_with_an_attestation_behind_a_bearer_token() {
    let config = r#"{"os":"linux","architecture":"arm64"}"#;
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{}","size":1000}}]}}"#,
        digest(config),
        config.len(),
        "b".repeat(64)
    );
    let attestation = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":2}},"layers":[{{"mediaType":"application/vnd.in-toto+json","digest":"sha256:{}","size":300}}]}}"#,
        "c".repeat(64),
        "d".repeat(64)
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_INDEX}","manifests":[
            {{"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","digest":"{image_digest}","size":{image_size},"platform":{{"os":"linux","architecture":"arm64"}}}},
            {{"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","digest":"{att_digest}","size":{att_size},"platform":{{"os":"unknown","architecture":"unknown"}},
              "annotations":{{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"{image_digest}"}}}}]}}"#,
        image_digest = digest(&image),
        image_size = image.len(),
        att_digest = digest(&attestation),
        att_size = attestation.len(),
    );
    let blobs = BTreeMap::from([
        (
            "/v2/app/manifests/1".to_string(),
            (MEDIA_TYPE_OCI_INDEX.to_string(), index.clone()),
        ),
        (
            format!("/v2/app/manifests/{}", digest(&image)),
            (MEDIA_TYPE_OCI_MANIFEST.to_string(), image.clone()),
        ),
        (
            format!("/v2/app/manifests/{}", digest(&attestation)),
            (MEDIA_TYPE_OCI_MANIFEST.to_string(), attestation.clone()),
        ),
    ]);
    let addr = fake_registry(blobs).await;
    let client = RegistryClient::new(DockerConfig::default());
    let summary = client
        .inspect(&format!("{addr}/app:1"))
        .await
        .expect("inspect");
    assert_eq!(summary.digest, digest(&index));
    assert_eq!(summary.platforms.len(), 1);
    let arm64 = &summary.platforms[0];
    assert_eq!(arm64.platform, "linux/arm64");
    assert_eq!(arm64.size, config.len() as i64 + 1000);
    assert_eq!(summary.attestations.len(), 1);
    assert_eq!(summary.attestations[0].platform, "unknown/unknown");
    assert_eq!(summary.attestations[0].attests, Some(digest(&image)));

    let missing = client.inspect(&format!("{addr}/app:2")).await;
    assert!(
        matches!(missing, Err(RegistryError::NotFound { ref detail, .. }) if detail == "MANIFEST_UNKNOWN: manifest unknown"),
        "{missing:?}"
    );
}

#[test]
fn references_split_into_host_repository_and_reference() {
    let r = ImageRef::parse("localhost:5000/crossbuild/app:1").expect("ref");
    assert_eq!(
        (r.host.as_str(), r.repository.as_str(), r.reference.as_str()),
        ("localhost:5000", "crossbuild/app", "1")
    );
    assert!(r.is_loopback());
    let r = ImageRef::parse("busybox").expect("ref");
    assert_eq!(
        (r.host.as_str(), r.repository.as_str(), r.reference.as_str()),
        ("registry-1.docker.io", "library/busybox", "latest")
    );
    assert!(!r.is_loopback());
    let digest = format!("sha256:{}", "a".repeat(64));
    let r = ImageRef::parse(&format!("127.0.0.1:5000/x:tag@{digest}")).expect("ref");
    assert_eq!(r.reference, digest);
    assert!(ImageRef::parse("").is_err());
    assert!(ImageRef::parse("a b").is_err());
}

#[test]
fn bearer_challenges_parse_with_commas_in_quotes() {
    let p = parse_challenge(
        r#"realm="http://127.0.0.1:5001/token",service="registry",scope="repository:a/b:pull,push""#,
    );
    assert_eq!(p["realm"], "http://127.0.0.1:5001/token");
    assert_eq!(p["service"], "registry");
    assert_eq!(p["scope"], "repository:a/b:pull,push");
    assert_eq!(
        realm_host_and_path(&p["realm"]),
        Some(("127.0.0.1:5001".to_string(), "/token".to_string()))
    );
    assert_eq!(realm_host_and_path("https://auth.docker.io/token"), None);
    assert_eq!(
        percent_encode("repository:a/b:pull,push"),
        "repository:a/b:pull%2Cpush"
    );
}

#[test]
fn registry_errors_are_quoted() {
    let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
    assert_eq!(
        registry_error_text(body),
        "MANIFEST_UNKNOWN: manifest unknown"
    );
    assert_eq!(registry_error_text(b"plain text\n"), "plain text");
    assert_eq!(
        config_platform(br#"{"os":"linux","architecture":"arm","variant":"v7"}"#),
        "linux/arm/v7"
    );
}
