//! Unit tests of the session's registry auth: config parsing, host matching, credential helpers.

use super::*;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn service(json: &str) -> AuthService {
    let config = DockerConfig::from_json(json).expect("test config parses");
    // No helper may run unless a test sets one up.
    AuthService::with_helper(config, Arc::new(ProcessHelper::in_dir("/nonexistent")))
}

async fn creds(service: &AuthService, host: &str) -> Credentials {
    service
        .credentials_for(host)
        .await
        .expect("lookup succeeds")
}

fn user(username: &str, secret: &str) -> Credentials {
    Credentials {
        username: username.into(),
        secret: secret.into(),
    }
}

#[tokio::test]
async fn auth_field_username_password_and_identity_token() {
    let json = format!(
        r#"{{"auths": {{
            "localhost:5000": {{"auth": "{}"}},
            "plain.example": {{"username": "u", "password": "p"}},
            "tok.example": {{"auth": "{}", "identitytoken": "idtok"}},
            "colon.example": {{"auth": "{}"}}
        }}}}"#,
        b64("alice:s3cret"),
        b64("bob:pw"),
        b64("carol:pa:ss\0"),
    );
    let service = service(&json);
    assert_eq!(
        creds(&service, "localhost:5000").await,
        user("alice", "s3cret")
    );
    assert_eq!(creds(&service, "plain.example").await, user("u", "p"));
    assert_eq!(creds(&service, "tok.example").await, user("", "idtok"));
    assert_eq!(
        creds(&service, "colon.example").await,
        user("carol", "pa:ss")
    );
}

#[tokio::test]
async fn docker_hub_is_asked_for_as_registry_1() {
    let json = format!(
        r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
        b64("hubuser:hubpw")
    );
    let service = service(&json);
    assert_eq!(
        creds(&service, "registry-1.docker.io").await,
        user("hubuser", "hubpw")
    );
    assert_eq!(creds(&service, "ghcr.io").await, Credentials::default());
}

#[tokio::test]
async fn keys_with_scheme_or_path_match_their_host_only() {
    let json = format!(
        r#"{{"auths": {{
            "https://ghcr.io": {{"auth": "{}"}},
            "http://localhost:5000": {{"auth": "{}"}},
            "registry.example:8443/v1/": {{"auth": "{}"}}
        }}}}"#,
        b64("g:1"),
        b64("l:2"),
        b64("r:3")
    );
    let service = service(&json);
    assert_eq!(creds(&service, "ghcr.io").await, user("g", "1"));
    assert_eq!(creds(&service, "localhost:5000").await, user("l", "2"));
    assert_eq!(
        creds(&service, "registry.example:8443").await,
        user("r", "3")
    );
    assert_eq!(
        creds(&service, "registry.example").await,
        Credentials::default()
    );
}

#[tokio::test]
async fn credentials_never_go_to_another_host() {
    let json = format!(
        r#"{{"auths": {{"localhost:5000": {{"auth": "{}"}}}}}}"#,
        b64("alice:s3cret")
    );
    let service = service(&json);
    for other in [
        "localhost:5001",
        "localhost",
        "example.com",
        "localhost:50000",
        "evil.localhost:5000",
        "registry-1.docker.io",
        "",
    ] {
        assert_eq!(
            creds(&service, other).await,
            Credentials::default(),
            "{other}"
        );
    }
}

#[tokio::test]
async fn empty_config_is_anonymous_and_bad_auth_is_an_error() {
    assert_eq!(
        creds(&service("{}"), "ghcr.io").await,
        Credentials::default()
    );
    let json = format!(
        r#"{{"auths": {{"a.example": {{"auth": "not base64!"}}, "b.example": {{"auth": "{}"}}}}}}"#,
        b64("nocolon")
    );
    let service = service(&json);
    for host in ["a.example", "b.example"] {
        let err = service.credentials_for(host).await.unwrap_err();
        assert!(matches!(err, AuthError::BadAuthField { .. }), "{err}");
    }
}

#[test]
fn helpers_take_precedence_in_docker_order() {
    let json = r#"{
        "auths": {"ghcr.io": {}, "localhost:5000": {}},
        "credsStore": "desktop",
        "credHelpers": {"ghcr.io": "gh", "https://index.docker.io/v1/": "hub"}
    }"#;
    let config = DockerConfig::from_json(json).unwrap();
    assert_eq!(
        config.source_for("ghcr.io"),
        CredentialSource::Helper {
            helper: "gh",
            server_url: "ghcr.io".into()
        }
    );
    assert_eq!(
        config.source_for("registry-1.docker.io"),
        CredentialSource::Helper {
            helper: "hub",
            server_url: DOCKER_HUB_CONFIG_KEY.into()
        }
    );
    // credsStore covers every other host, stored entries or not.
    assert_eq!(
        config.source_for("localhost:5000"),
        CredentialSource::Helper {
            helper: "desktop",
            server_url: "localhost:5000".into()
        }
    );
    let without_store = DockerConfig::from_json(r#"{"auths": {"localhost:5000": {}}}"#).unwrap();
    assert_eq!(
        without_store.source_for("localhost:5000"),
        CredentialSource::Stored("localhost:5000")
    );
}

#[test]
fn config_paths_and_loading() {
    let env = |k: &str| match k {
        "DOCKER_CONFIG" => Some("/cfg".to_string()),
        "HOME" => Some("/home/u".to_string()),
        _ => None,
    };
    assert_eq!(
        DockerConfig::default_path(&env),
        Some(PathBuf::from("/cfg/config.json"))
    );
    let home_only = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
    assert_eq!(
        DockerConfig::default_path(&home_only),
        Some(PathBuf::from("/home/u/.docker/config.json"))
    );
    assert_eq!(DockerConfig::default_path(&|_| None), None);

    let dir = tempfile::tempdir().unwrap();
    let missing = DockerConfig::load(&dir.path().join("config.json")).unwrap();
    assert!(missing.auths.is_empty());
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{not json").unwrap();
    assert!(matches!(
        DockerConfig::load(&path),
        Err(AuthError::ParseConfig { .. })
    ));
}

#[test]
fn debug_output_hides_secrets() {
    let json = format!(
        r#"{{"auths": {{"localhost:5000": {{"auth": "{}", "password": "pw-value"}}}}}}"#,
        b64("alice:s3cret")
    );
    let config = DockerConfig::from_json(&json).unwrap();
    let shown = format!("{config:?} {:?}", user("alice", "s3cret"));
    assert!(!shown.contains("s3cret") && !shown.contains("pw-value"));
    assert!(!shown.contains(&b64("alice:s3cret")));
}

/// Writes an executable `docker-credential-<name>` shell script.
fn write_helper(dir: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn credential_helpers_run_as_processes() {
    let dir = tempfile::tempdir().unwrap();
    // Answers only for the server URL it reads on stdin, like a real
    // helper; records how often it ran.
    write_helper(
        dir.path(),
        "fake",
        &format!(
            r#"[ "$1" = get ] || exit 2
read -r url || true
echo run >> {log}
case "$url" in
  localhost:5000) echo '{{"ServerURL":"localhost:5000","Username":"helperuser","Secret":"helperpw"}}' ;;
  https://index.docker.io/v1/) echo '{{"ServerURL":"x","Username":"<token>","Secret":"hubtoken"}}' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac"#,
            log = dir.path().join("runs").display()
        ),
    );
    write_helper(dir.path(), "broken", "echo 'keychain locked'; exit 1");
    let json = r#"{"credsStore": "fake", "credHelpers": {"broken.example": "broken", "missing.example": "absent"}}"#;
    let service = AuthService::with_helper(
        DockerConfig::from_json(json).unwrap(),
        Arc::new(ProcessHelper::in_dir(dir.path())),
    );
    assert_eq!(
        creds(&service, "localhost:5000").await,
        user("helperuser", "helperpw")
    );
    assert_eq!(
        creds(&service, "registry-1.docker.io").await,
        user("", "hubtoken")
    );
    assert_eq!(
        creds(&service, "localhost:5001").await,
        Credentials::default()
    );
    // Cached: asking again does not run the helper again.
    assert_eq!(
        creds(&service, "localhost:5000").await,
        user("helperuser", "helperpw")
    );
    let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 3);

    let err = service.credentials_for("broken.example").await.unwrap_err();
    assert!(err.to_string().contains("keychain locked"), "{err}");
    let err = service
        .credentials_for("missing.example")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("docker-credential-absent"),
        "{err}"
    );
}

#[tokio::test]
async fn served_over_grpc_as_the_daemon_sees_it() {
    let json = format!(
        r#"{{"auths": {{"localhost:5000": {{"auth": "{}"}}}}}}"#,
        b64("alice:s3cret")
    );
    let service = service(&json);
    let answer = service
        .credentials(Request::new(CredentialsRequest {
            host: "localhost:5000".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (answer.username.as_str(), answer.secret.as_str()),
        ("alice", "s3cret")
    );
    let err = service
        .get_token_authority(Request::new(GetTokenAuthorityRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}
