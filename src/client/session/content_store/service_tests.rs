//! The content service over a real HTTP/2 link, called the way BuildKit's
//! proxy store calls it: the store id in the metadata, one answer per
//! Write message, AlreadyExists for a blob the store has.

use super::*;
use sha2::Digest as _;
use tonic::client::Grpc;
use tonic::transport::Channel;

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

async fn connect(service: ContentStoreService) -> Grpc<Channel> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(service);
    let routes = routes.routes();
    tokio::spawn(async move {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(theirs), TowerToHyperService::new(routes))
            .await;
    });
    let slot = Arc::new(std::sync::Mutex::new(Some(ours)));
    let connector = tower::service_fn(move |_: http::Uri| {
        let io = slot.lock().ok().and_then(|mut s| s.take());
        async move {
            io.map(TokioIo::new)
                .ok_or_else(|| std::io::Error::other("the test link is used up"))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
        .unwrap();
    Grpc::new(channel)
}

fn path(method: &str) -> http::uri::PathAndQuery {
    format!("/{SERVICE}/{method}").parse().unwrap()
}

fn with_store<T>(message: T, store: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(STORE_ID_KEY, store.parse().unwrap());
    request
}

async fn unary<Req: Message, Resp: Message + Default>(
    client: &mut Grpc<Channel>,
    store: &str,
    method: &str,
    message: Req,
) -> Result<Resp, Status> {
    client.ready().await.unwrap();
    let answer = client
        .unary(with_store(encode(&message), store), path(method), RawCodec)
        .await?;
    Ok(decode(answer.into_inner()).unwrap())
}

fn stores(dir: &std::path::Path) -> ContentStoreService {
    ContentStoreService::new(BTreeMap::from([
        (
            "export".to_string(),
            ContentStoreDir {
                path: dir.join("out"),
                writable: true,
            },
        ),
        (
            "oci:ro".to_string(),
            ContentStoreDir {
                path: dir.join("out"),
                writable: false,
            },
        ),
    ]))
}

/// Writes `data` in one stream of Stat, Write, Commit messages and
/// returns the answers.
async fn write(
    client: &mut Grpc<Channel>,
    store: &str,
    data: &[u8],
) -> Result<Vec<WriteContentResponse>, Status> {
    let digest = digest_of(data);
    let messages = [
        WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: format!("ref-{digest}"),
            total: data.len() as i64,
            expected: digest.clone(),
            ..Default::default()
        },
        WriteContentRequest {
            action: WriteAction::Write as i32,
            data: data[..data.len() / 2].to_vec(),
            ..Default::default()
        },
        WriteContentRequest {
            action: WriteAction::Commit as i32,
            offset: (data.len() / 2) as i64,
            data: data[data.len() / 2..].to_vec(),
            total: data.len() as i64,
            expected: digest,
            ..Default::default()
        },
    ];
    client.ready().await.unwrap();
    let outbound = futures::stream::iter(messages.iter().map(encode).collect::<Vec<_>>());
    let mut answers = client
        .streaming(with_store(outbound, store), path("Write"), RawCodec)
        .await?
        .into_inner();
    let mut decoded = Vec::new();
    while let Some(answer) = answers.message().await? {
        decoded.push(decode::<WriteContentResponse>(answer).unwrap());
    }
    Ok(decoded)
}

#[tokio::test]
async fn write_then_read_back_through_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = connect(stores(dir.path())).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let digest = digest_of(&data);

    let answers = write(&mut client, "export", &data).await.unwrap();
    let offsets: Vec<i64> = answers.iter().map(|a| a.offset).collect();
    assert_eq!(offsets, [0, (data.len() / 2) as i64, data.len() as i64]);
    assert_eq!(answers[2].digest, digest);
    assert_eq!(answers[0].total, data.len() as i64);

    let info: InfoResponse = unary(
        &mut client,
        "oci:ro",
        "Info",
        InfoRequest {
            digest: digest.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(info.info.unwrap().size, data.len() as i64);

    client.ready().await.unwrap();
    let request = ReadContentRequest {
        digest: digest.clone(),
        offset: 10,
        size: 0,
    };
    let mut chunks = client
        .server_streaming(
            with_store(encode(&request), "oci:ro"),
            path("Read"),
            RawCodec,
        )
        .await
        .unwrap()
        .into_inner();
    let mut read = Vec::new();
    while let Some(chunk) = chunks.message().await.unwrap() {
        let chunk: ReadContentResponse = decode(chunk).unwrap();
        assert_eq!(chunk.offset, 10 + read.len() as i64);
        read.extend_from_slice(&chunk.data);
    }
    assert_eq!(read, data[10..]);

    client.ready().await.unwrap();
    let mut listed = client
        .server_streaming(
            with_store(encode(&ListContentRequest::default()), "export"),
            path("List"),
            RawCodec,
        )
        .await
        .unwrap()
        .into_inner();
    let block: ListContentResponse = decode(listed.message().await.unwrap().unwrap()).unwrap();
    assert_eq!(block.info.len(), 1);
    assert_eq!(block.info[0].digest, digest);
}

#[tokio::test]
async fn a_blob_the_store_has_answers_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = connect(stores(dir.path())).await;
    write(&mut client, "export", b"twice").await.unwrap();
    let status = write(&mut client, "export", b"twice").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
}

#[tokio::test]
async fn unknown_stores_missing_ids_and_read_only_stores_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = connect(stores(dir.path())).await;
    let request = InfoRequest {
        digest: digest_of(b"none"),
    };
    let status = unary::<_, InfoResponse>(&mut client, "local:/x", "Info", request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(status.message().contains("unknown store"), "{status:?}");

    client.ready().await.unwrap();
    let status = client
        .unary(
            tonic::Request::new(encode(&request)),
            path("Info"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let status = write(&mut client, "oci:ro", b"nope").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    let status = unary::<_, InfoResponse>(
        &mut client,
        "export",
        "Info",
        InfoRequest {
            digest: "sha256:../../x".to_string(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}
