//! A content store in a client directory, laid out like containerd's local
//! store, which is also an OCI image layout: committed blobs in
//! `blobs/sha256/<hex>`, unfinished writes in `ingest/<sha256 of ref>/`
//! (`data`, `ref`, `total`, `startedat`), so a write the daemon broke off
//! can be resumed by ref. Like containerd's store it keeps no labels.

use std::collections::HashSet;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tonic::Status;

/// Why a store operation failed; each maps to the gRPC code containerd's
/// client turns back into its own error kinds.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such blob or write.
    #[error("{0}: not found")]
    NotFound(String),
    /// The blob is already there (the daemon then skips the copy).
    #[error("content {0}: already exists")]
    AlreadyExists(String),
    /// Another stream is writing this ref.
    #[error("ref {0} locked: unavailable")]
    Locked(String),
    /// The store only serves reads (cache sources, OCI layout contexts).
    #[error("content store {0} is read-only")]
    ReadOnly(PathBuf),
    /// Not a `sha256:<64 hex>` digest.
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    /// A request the store cannot honour in its state.
    #[error("{0}")]
    Precondition(String),
    /// A read or write outside the blob.
    #[error("{0}")]
    OutOfRange(String),
    /// The file system failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// What the file system said.
        source: std::io::Error,
    },
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Status {
        let message = error.to_string();
        match error {
            StoreError::NotFound(_) => Status::not_found(message),
            StoreError::AlreadyExists(_) => Status::already_exists(message),
            StoreError::Locked(_) => Status::unavailable(message),
            StoreError::ReadOnly(_) => Status::permission_denied(message),
            StoreError::InvalidDigest(_) => Status::invalid_argument(message),
            StoreError::Precondition(_) => Status::failed_precondition(message),
            StoreError::OutOfRange(_) => Status::out_of_range(message),
            StoreError::Io { .. } => Status::internal(message),
        }
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// A committed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// When it was committed (the file's modification time).
    pub committed: SystemTime,
}

/// An unfinished write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestStatus {
    /// The writer's ref.
    pub r#ref: String,
    /// Bytes written so far.
    pub offset: u64,
    /// Expected total size; 0 when unknown.
    pub total: i64,
    /// When the write began.
    pub started: SystemTime,
    /// When it last wrote.
    pub updated: SystemTime,
}

/// Checks a digest and returns its hex part; only sha256, the one
/// algorithm BuildKit writes, and only lower-case hex, so a digest can
/// never name a path outside `blobs/sha256`.
pub fn digest_hex(digest: &str) -> Result<&str, StoreError> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| StoreError::InvalidDigest(digest.to_string()))
}

/// One content store directory.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    writable: bool,
    /// Refs with an open writer: one writer per ref at a time.
    writers: Mutex<HashSet<String>>,
}

impl LocalStore {
    /// A store rooted at `root`; a read-only one refuses every change.
    pub fn new(root: PathBuf, writable: bool) -> Self {
        LocalStore {
            root,
            writable,
            writers: Mutex::new(HashSet::new()),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    fn ingest_path(&self, r#ref: &str) -> PathBuf {
        self.root
            .join("ingest")
            .join(hex::encode(Sha256::digest(r#ref.as_bytes())))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::ReadOnly(self.root.clone()))
        }
    }

    /// The blob's size and commit time. Only regular files count: a
    /// symlink in `blobs/` is not followed.
    pub async fn info(&self, digest: &str) -> Result<BlobInfo, StoreError> {
        let path = self.blob_path(digest)?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(BlobInfo {
                digest: digest.to_string(),
                size: meta.len(),
                committed: meta.modified().unwrap_or(UNIX_EPOCH),
            }),
            Ok(_) => Err(StoreError::NotFound(format!("content digest {digest}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(format!("content digest {digest}")))
            }
            Err(e) => Err(io_error(format!("reading {}", path.display()))(e)),
        }
    }

    /// Every committed blob.
    pub async fn list(&self) -> Result<Vec<BlobInfo>, StoreError> {
        let dir = self.root.join("blobs/sha256");
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(format!("listing {}", dir.display()))(e)),
        };
        let mut blobs = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(io_error(format!("listing {}", dir.display())))?
        {
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if digest_hex(&digest).is_ok() {
                if let Ok(info) = self.info(&digest).await {
                    blobs.push(info);
                }
            }
        }
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(blobs)
    }

    /// Removes a blob.
    pub async fn delete(&self, digest: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        self.info(digest).await?;
        let path = self.blob_path(digest)?;
        tokio::fs::remove_file(&path)
            .await
            .map_err(io_error(format!("removing {}", path.display())))
    }

    /// Opens a blob for reading; returns the file and its size.
    pub async fn open(&self, digest: &str) -> Result<(tokio::fs::File, u64), StoreError> {
        let info = self.info(digest).await?;
        let path = self.blob_path(digest)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(io_error(format!("opening {}", path.display())))?;
        Ok((file, info.size))
    }

    /// The state of an unfinished write.
    pub async fn status(&self, r#ref: &str) -> Result<IngestStatus, StoreError> {
        read_status(&self.ingest_path(r#ref), r#ref).await
    }

    /// Every unfinished write.
    pub async fn statuses(&self) -> Result<Vec<IngestStatus>, StoreError> {
        let dir = self.root.join("ingest");
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(format!("listing {}", dir.display()))(e)),
        };
        let mut statuses = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Ok(r#ref) = tokio::fs::read_to_string(entry.path().join("ref")).await else {
                continue;
            };
            if let Ok(status) = read_status(&entry.path(), &r#ref).await {
                statuses.push(status);
            }
        }
        statuses.sort_by(|a, b| a.r#ref.cmp(&b.r#ref));
        Ok(statuses)
    }

    /// Drops an unfinished write.
    pub async fn abort(&self, r#ref: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        let dir = self.ingest_path(r#ref);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {
                self.tidy_ingest(None);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(format!("ingest ref {ref:?}")))
            }
            Err(e) => Err(io_error(format!("removing {}", dir.display()))(e)),
        }
    }

    /// Removes `ingest/` once no write is left in it, so an exported
    /// layout holds only `oci-layout`, `index.json` and `blobs/`. Done
    /// under the writers' lock and only when no other writer is open,
    /// because a writer being opened creates its directory in there.
    fn tidy_ingest(&self, own_ref: Option<&str>) {
        let writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if writers.iter().all(|r| Some(r.as_str()) == own_ref) {
            let _ = std::fs::remove_dir(self.root.join("ingest"));
        }
    }

    /// Opens (or resumes) the write of `ref`. Fails with AlreadyExists when
    /// the expected blob is already committed, as containerd's store does,
    /// which tells the daemon it can skip the copy.
    pub async fn writer(
        self: &Arc<Self>,
        r#ref: &str,
        total: i64,
        expected: &str,
    ) -> Result<Writer, StoreError> {
        self.check_writable()?;
        if r#ref.is_empty() {
            return Err(StoreError::Precondition(
                "first message must have a reference".to_string(),
            ));
        }
        if !expected.is_empty() && self.info(expected).await.is_ok() {
            return Err(StoreError::AlreadyExists(expected.to_string()));
        }
        {
            let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            if !writers.insert(r#ref.to_string()) {
                return Err(StoreError::Locked(r#ref.to_string()));
            }
        }
        // From here on the lock is released by the writer's Drop, also
        // when opening fails below.
        let mut writer = Writer {
            store: Arc::clone(self),
            r#ref: r#ref.to_string(),
            dir: self.ingest_path(r#ref),
            file: None,
            hasher: Sha256::new(),
            offset: 0,
            total,
            started: SystemTime::now(),
            updated: SystemTime::now(),
        };
        writer.open().await?;
        Ok(writer)
    }
}

async fn read_status(dir: &Path, r#ref: &str) -> Result<IngestStatus, StoreError> {
    let data = dir.join("data");
    let meta = match tokio::fs::metadata(&data).await {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::NotFound(format!("ingest ref {ref:?}")))
        }
        Err(e) => return Err(io_error(format!("reading {}", data.display()))(e)),
    };
    let read_number = |name: &str| {
        let path = dir.join(name);
        async move {
            tokio::fs::read_to_string(path)
                .await
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
        }
    };
    let started = read_number("startedat")
        .await
        .map(|nanos| UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64))
        .unwrap_or(UNIX_EPOCH);
    Ok(IngestStatus {
        r#ref: r#ref.to_string(),
        offset: meta.len(),
        total: read_number("total").await.unwrap_or(0),
        started,
        updated: meta.modified().unwrap_or(started),
    })
}

/// An open write: bytes go to `ingest/<id>/data` and into the running
/// digest; commit moves the file into `blobs/`.
#[derive(Debug)]
pub struct Writer {
    store: Arc<LocalStore>,
    r#ref: String,
    dir: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    offset: u64,
    total: i64,
    started: SystemTime,
    updated: SystemTime,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let mut writers = self.store.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.remove(&self.r#ref);
    }
}

impl Writer {
    /// Creates the ingest directory, or takes up what an earlier stream
    /// left there (re-reading it for the digest).
    async fn open(&mut self) -> Result<(), StoreError> {
        let what = format!("preparing {}", self.dir.display());
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io_error(&what))?;
        let data = self.dir.join("data");
        let resumed = match read_status(&self.dir, &self.r#ref).await {
            Ok(status) => {
                self.started = status.started;
                if self.total <= 0 {
                    self.total = status.total;
                }
                true
            }
            Err(_) => false,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data)
            .await
            .map_err(io_error(&what))?;
        if resumed {
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buffer).await.map_err(io_error(&what))?;
                if n == 0 {
                    break;
                }
                self.hasher.update(&buffer[..n]);
                self.offset += n as u64;
            }
        } else {
            let nanos = self
                .started
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            for (name, value) in [
                ("ref", self.r#ref.clone()),
                ("startedat", nanos.to_string()),
                ("total", self.total.to_string()),
            ] {
                tokio::fs::write(self.dir.join(name), value)
                    .await
                    .map_err(io_error(&what))?;
            }
        }
        self.updated = SystemTime::now();
        self.file = Some(file);
        Ok(())
    }

    /// Where the write stands.
    pub fn status(&self) -> IngestStatus {
        IngestStatus {
            r#ref: self.r#ref.clone(),
            offset: self.offset,
            total: self.total,
            started: self.started,
            updated: self.updated,
        }
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }

    /// Sets the expected total size.
    pub fn set_total(&mut self, total: i64) {
        self.total = total;
    }

    fn file(&mut self) -> Result<&mut tokio::fs::File, StoreError> {
        self.file
            .as_mut()
            .ok_or_else(|| StoreError::Precondition("cannot write on a closed writer".to_string()))
    }

    /// Appends `data`.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let what = format!("writing {}", self.dir.join("data").display());
        self.file()?.write_all(data).await.map_err(io_error(what))?;
        self.hasher.update(data);
        self.offset += data.len() as u64;
        self.updated = SystemTime::now();
        Ok(())
    }

    /// Starts the write over (containerd only supports truncating to 0).
    pub async fn truncate(&mut self) -> Result<(), StoreError> {
        let what = format!("truncating {}", self.dir.join("data").display());
        let file = self.file()?;
        file.set_len(0).await.map_err(io_error(&what))?;
        file.seek(SeekFrom::Start(0))
            .await
            .map_err(io_error(&what))?;
        self.hasher = Sha256::new();
        self.offset = 0;
        self.updated = SystemTime::now();
        Ok(())
    }

    /// Checks size and digest and moves the data into `blobs/`. The
    /// writer is closed afterwards, whatever the outcome.
    pub async fn commit(&mut self, size: i64, expected: &str) -> Result<String, StoreError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| StoreError::Precondition("cannot commit a closed writer".to_string()))?;
        let data = self.dir.join("data");
        let what = format!("committing {}", data.display());
        file.flush().await.map_err(io_error(&what))?;
        file.sync_all().await.map_err(io_error(&what))?;
        drop(file);
        if size > 0 && size as u64 != self.offset {
            return Err(StoreError::Precondition(format!(
                "unexpected commit size {}, expected {size}",
                self.offset
            )));
        }
        let digest = self.digest();
        if !expected.is_empty() && expected != digest {
            return Err(StoreError::Precondition(format!(
                "unexpected commit digest {digest}, expected {expected}"
            )));
        }
        let target = self.store.blob_path(&digest)?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_error(&what))?;
        }
        if tokio::fs::symlink_metadata(&target).await.is_ok() {
            let _ = tokio::fs::remove_dir_all(&self.dir).await;
            self.store.tidy_ingest(Some(&self.r#ref));
            return Err(StoreError::AlreadyExists(digest));
        }
        tokio::fs::rename(&data, &target)
            .await
            .map_err(io_error(&what))?;
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
        self.store.tidy_ingest(Some(&self.r#ref));
        Ok(digest)
    }
}

/// Seconds and nanoseconds since the epoch, for protobuf timestamps.
pub fn unix_time(time: SystemTime) -> (i64, i32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_secs() as i64, since.subsec_nanos() as i32)
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
