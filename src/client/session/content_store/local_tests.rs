use super::*;

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn store(dir: &Path, writable: bool) -> Arc<LocalStore> {
    Arc::new(LocalStore::new(dir.to_path_buf(), writable))
}

#[test]
fn only_sha256_hex_digests_name_blobs() {
    let good = digest_of(b"x");
    assert!(digest_hex(&good).is_ok());
    for bad in [
        "sha256:../../etc/passwd",
        "sha256:ABCDEF",
        "sha512:00",
        "",
        &good.to_uppercase(),
        &format!("{good}/"),
    ] {
        assert!(
            matches!(digest_hex(bad), Err(StoreError::InvalidDigest(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_write_commits_into_blobs_and_leaves_no_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    let data = b"hello content store";
    let digest = digest_of(data);
    let mut writer = store
        .writer("ref-1", data.len() as i64, &digest)
        .await
        .unwrap();
    writer.write(&data[..5]).await.unwrap();
    writer.write(&data[5..]).await.unwrap();
    assert_eq!(writer.status().offset, data.len() as u64);
    assert_eq!(writer.digest(), digest);
    assert_eq!(
        writer.commit(data.len() as i64, &digest).await.unwrap(),
        digest
    );
    drop(writer);
    let blob = store.blob_path(&digest).unwrap();
    assert_eq!(std::fs::read(&blob).unwrap(), data);
    assert!(!dir.path().join("ingest").exists());
    let info = store.info(&digest).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(store.list().await.unwrap(), vec![info]);
    // A second write of the same blob is refused up front: the daemon
    // skips what the store already has.
    assert!(matches!(
        store.writer("ref-2", 0, &digest).await,
        Err(StoreError::AlreadyExists(_))
    ));
}

#[tokio::test]
async fn a_wrong_digest_or_size_is_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    let mut writer = store.writer("r", 0, "").await.unwrap();
    writer.write(b"abc").await.unwrap();
    let err = writer.commit(0, &digest_of(b"abd")).await.unwrap_err();
    assert!(
        err.to_string().contains("unexpected commit digest"),
        "{err}"
    );
    assert!(store.list().await.unwrap().is_empty());
    let mut writer = store.writer("s", 0, "").await.unwrap();
    writer.write(b"abc").await.unwrap();
    let err = writer.commit(4, "").await.unwrap_err();
    assert!(err.to_string().contains("unexpected commit size"), "{err}");
}

#[tokio::test]
async fn one_writer_per_ref_and_a_broken_write_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    let mut writer = store.writer("layer", 6, "").await.unwrap();
    assert!(matches!(
        store.writer("layer", 6, "").await,
        Err(StoreError::Locked(_))
    ));
    writer.write(b"abc").await.unwrap();
    drop(writer);
    let status = store.status("layer").await.unwrap();
    assert_eq!((status.offset, status.total), (3, 6));
    assert_eq!(store.statuses().await.unwrap(), vec![status]);
    let mut resumed = store.writer("layer", 0, "").await.unwrap();
    assert_eq!(resumed.status().offset, 3);
    assert_eq!(resumed.status().total, 6);
    resumed.write(b"def").await.unwrap();
    let digest = resumed.commit(6, &digest_of(b"abcdef")).await.unwrap();
    assert_eq!(
        std::fs::read(store.blob_path(&digest).unwrap()).unwrap(),
        b"abcdef"
    );
    assert!(matches!(
        store.status("layer").await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn truncate_starts_over_and_abort_drops_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    let mut writer = store.writer("t", 0, "").await.unwrap();
    writer.write(b"garbage").await.unwrap();
    writer.truncate().await.unwrap();
    writer.write(b"ok").await.unwrap();
    assert_eq!(writer.digest(), digest_of(b"ok"));
    drop(writer);
    store.abort("t").await.unwrap();
    assert!(!dir.path().join("ingest").exists());
    assert!(matches!(
        store.abort("t").await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_read_only_store_serves_reads_and_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let digest = digest_of(b"blob");
    store(dir.path(), true)
        .writer("w", 0, "")
        .await
        .unwrap()
        .write(b"blob")
        .await
        .unwrap();
    let writable = store(dir.path(), true);
    let mut w = writable.writer("w", 0, "").await.unwrap();
    w.commit(0, &digest).await.unwrap();
    drop(w);
    let read_only = store(dir.path(), false);
    let (_, size) = read_only.open(&digest).await.unwrap();
    assert_eq!(size, 4);
    assert!(matches!(
        read_only.writer("x", 0, "").await,
        Err(StoreError::ReadOnly(_))
    ));
    assert!(matches!(
        read_only.delete(&digest).await,
        Err(StoreError::ReadOnly(_))
    ));
    writable.delete(&digest).await.unwrap();
    assert!(matches!(
        read_only.info(&digest).await,
        Err(StoreError::NotFound(_))
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_blob_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"secret").unwrap();
    let digest = digest_of(b"secret");
    let blobs = dir.path().join("layout/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::os::unix::fs::symlink(&outside, blobs.join(digest_hex(&digest).unwrap())).unwrap();
    let store = store(&dir.path().join("layout"), false);
    assert!(matches!(
        store.info(&digest).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.open(&digest).await.is_err());
}
