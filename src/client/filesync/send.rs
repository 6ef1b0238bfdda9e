//! The sender side of DiffCopy: context upload, where the daemon pulls a
//! local directory from us (`FileSync.DiffCopy`, fsutil's `Send`).
//!
//! The exchange is full duplex: the daemon starts requesting files while we
//! are still walking, so the walk runs on a blocking thread and writes STATs
//! straight into the outbound channel, while this task only reads the
//! inbound stream and hands requested files to a few blocking reader
//! threads, one file each from open to end of file. The main loop never
//! waits on the outbound channel, so a slow peer cannot make us stop
//! reading its requests.

use std::collections::HashMap;
use std::fmt::Display;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::walk::{walk, FilterOptions};
use super::{error_packet, mode, packet, FileSyncError, Packet, PacketType, CHUNK_SIZE};

/// Files read and streamed at the same time; Go's sender uses 4 as well.
/// Each holds at most one chunk, so memory stays bounded for any file size.
const CONCURRENT_FILES: usize = 4;

/// Requestable files announced so far: STAT id → relative path. An entry is
/// removed when requested, which is how a repeated request is rejected.
type FileTable = Arc<Mutex<HashMap<u32, String>>>;

/// Serves `root` to a DiffCopy receiver (the daemon) until it sends FIN.
///
/// `incoming` is the peer's packet stream (e.g. tonic's `Streaming<Packet>`);
/// our packets go to `outgoing`, whose item type matches what a tonic
/// server-streaming response wants (`Result<Packet, Status>`); only `Ok`
/// values are ever sent, so a caller can push an `Err` after a failure to
/// end the stream with a status.
///
/// On a local failure (unreadable file, bad request) an ERR packet is sent
/// to the peer before the error is returned.
pub async fn send<S, E, O>(
    root: &Path,
    opts: &FilterOptions,
    incoming: S,
    outgoing: mpsc::Sender<Result<Packet, O>>,
) -> Result<(), FileSyncError>
where
    S: Stream<Item = Result<Packet, E>> + Unpin,
    E: Display,
    O: Send + 'static,
{
    let root =
        Arc::new(std::fs::canonicalize(root).map_err(|e| FileSyncError::io("resolve", root, e))?);
    let files: FileTable = Arc::new(Mutex::new(HashMap::new()));
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let walker = Some(spawn_walker(
        Arc::clone(&root),
        opts.clone(),
        Arc::clone(&files),
        Arc::clone(&cancel.0),
        outgoing.clone(),
    ));
    let result = serve(
        root,
        incoming,
        &outgoing,
        files,
        Arc::clone(&cancel.0),
        walker,
    )
    .await;
    if let Err(err) = &result {
        if !matches!(
            err,
            FileSyncError::Remote { .. } | FileSyncError::Closed | FileSyncError::Transport(_)
        ) {
            // Best effort: the peer may already be gone.
            let _ = outgoing.send(Ok(error_packet(err))).await;
        }
    }
    result
}

/// Stops the walker thread when `send` returns early.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Walks on a blocking thread, numbering every STAT (ids count all entries,
/// not only files) and ending with the empty STAT terminator.
fn spawn_walker<O: Send + 'static>(
    root: Arc<PathBuf>,
    opts: FilterOptions,
    files: FileTable,
    cancel: Arc<AtomicBool>,
    outgoing: mpsc::Sender<Result<Packet, O>>,
) -> JoinHandle<Result<(), FileSyncError>> {
    tokio::task::spawn_blocking(move || {
        let mut next_id: u32 = 0;
        walk(&root, &opts, |stat| {
            if cancel.load(Ordering::Relaxed) {
                return Err(FileSyncError::Closed);
            }
            if mode::is_regular(stat.mode) {
                // Registered before the STAT leaves, so a REQ can never
                // arrive for an id we do not know yet.
                lock(&files).insert(next_id, stat.path.clone());
            }
            next_id = next_id
                .checked_add(1)
                .ok_or_else(|| FileSyncError::Protocol("more than 2^32 entries".into()))?;
            let stat_packet = Packet {
                stat: Some(stat),
                ..packet(PacketType::PacketStat)
            };
            outgoing
                .blocking_send(Ok(stat_packet))
                .map_err(|_| FileSyncError::Closed)
        })?;
        outgoing
            .blocking_send(Ok(packet(PacketType::PacketStat)))
            .map_err(|_| FileSyncError::Closed)
    })
}

/// The file table survives a panicking holder; the map itself stays valid.
fn lock(files: &FileTable) -> std::sync::MutexGuard<'_, HashMap<u32, String>> {
    files
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The request loop: reads REQ/FIN/ERR, schedules file readers, and watches
/// the walker and the readers for errors.
async fn serve<S, E, O>(
    root: Arc<PathBuf>,
    mut incoming: S,
    outgoing: &mpsc::Sender<Result<Packet, O>>,
    files: FileTable,
    cancel: Arc<AtomicBool>,
    mut walker: Option<JoinHandle<Result<(), FileSyncError>>>,
) -> Result<(), FileSyncError>
where
    S: Stream<Item = Result<Packet, E>> + Unpin,
    E: Display,
    O: Send + 'static,
{
    // Requested files go to a few long-lived reader threads through a
    // queue. A blocking task per file made tokio start a new thread
    // whenever the last one had not yet gone idle: about 40 threads for a
    // 20,000-file upload, each keeping its own allocator heap of 256 KiB
    // chunks (150 MiB peak RSS, against 90 MiB with the readers kept).
    let (work, work_queue) = std::sync::mpsc::channel::<(u32, String)>();
    let work_queue = Arc::new(Mutex::new(work_queue));
    let mut readers: JoinSet<Result<(), FileSyncError>> = JoinSet::new();
    loop {
        tokio::select! {
            done = wait_for(&mut walker) => {
                walker = None;
                done?;
            }
            Some(done) = readers.join_next(), if !readers.is_empty() => {
                done.map_err(|e| FileSyncError::Protocol(format!("file reader failed: {e}")))??;
            }
            message = incoming.next() => {
                let p = match message {
                    None => return Err(FileSyncError::Closed),
                    Some(Err(e)) => return Err(FileSyncError::Transport(e.to_string())),
                    Some(Ok(p)) => p,
                };
                match PacketType::try_from(p.r#type) {
                    Ok(PacketType::PacketReq) => {
                        let Some(rel) = lock(&files).remove(&p.id) else {
                            return Err(FileSyncError::Protocol(format!(
                                "invalid file id {} (not a file, unknown, or requested twice)",
                                p.id
                            )));
                        };
                        if readers.len() < CONCURRENT_FILES {
                            let (root, cancel, outgoing, queue) = (
                                Arc::clone(&root),
                                Arc::clone(&cancel),
                                outgoing.clone(),
                                Arc::clone(&work_queue),
                            );
                            readers.spawn_blocking(move || {
                                read_requested_files(&root, &queue, &cancel, &outgoing)
                            });
                        }
                        // The readers hold the receiving end until this
                        // function returns, so the send cannot fail.
                        let _ = work.send((p.id, rel));
                    }
                    Ok(PacketType::PacketFin) => {
                        // The receiver has everything it wants.
                        outgoing
                            .send(Ok(packet(PacketType::PacketFin)))
                            .await
                            .map_err(|_| FileSyncError::Closed)?;
                        return Ok(());
                    }
                    Ok(PacketType::PacketErr) => {
                        return Err(FileSyncError::Remote {
                            side: "receiver",
                            message: String::from_utf8_lossy(&p.data).into_owned(),
                        });
                    }
                    // fsutil ignores anything else from the receiver.
                    _ => {}
                }
            }
        }
    }
}

/// Resolves when the walker finishes; never, once it has been collected.
async fn wait_for(
    walker: &mut Option<JoinHandle<Result<(), FileSyncError>>>,
) -> Result<(), FileSyncError> {
    match walker {
        Some(handle) => handle
            .await
            .map_err(|e| FileSyncError::Protocol(format!("directory walk failed: {e}")))?,
        None => std::future::pending().await,
    }
}

/// One reader thread: streams the requested files from `queue`, one after
/// another, until the queue is closed (the exchange is over) or a file
/// cannot be sent.
fn read_requested_files<O>(
    root: &Path,
    queue: &Mutex<std::sync::mpsc::Receiver<(u32, String)>>,
    cancel: &AtomicBool,
    outgoing: &mpsc::Sender<Result<Packet, O>>,
) -> Result<(), FileSyncError> {
    loop {
        // The lock is held only while waiting for the next request; a
        // poisoned lock still guards a valid receiver.
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((id, rel)) = next else {
            return Ok(());
        };
        send_file(root, &rel, id, cancel, outgoing)?;
    }
}

/// Streams one file as DATA chunks followed by an empty DATA (end of file).
///
/// Runs on a reader thread from open to end of file, with plain blocking
/// calls: tokio's async files hop to the blocking pool for each open, stat
/// and read, which costs more than the reads themselves with thousands of
/// small files.
fn send_file<O>(
    root: &Path,
    rel: &str,
    id: u32,
    cancel: &AtomicBool,
    outgoing: &mpsc::Sender<Result<Packet, O>>,
) -> Result<(), FileSyncError> {
    let path = root.join(rel);
    // O_NOFOLLOW: if the entry was swapped for a symlink since the walk, do
    // not read through it.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| FileSyncError::io("open", &path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| FileSyncError::io("stat", &path, e))?;
    if !meta.is_file() {
        return Err(FileSyncError::io(
            "open",
            &path,
            std::io::Error::other("no longer a regular file"),
        ));
    }
    let mut left = meta.len();
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(FileSyncError::Closed);
        }
        let chunk = read_chunk(&mut file, left).map_err(|e| FileSyncError::io("read", &path, e))?;
        if chunk.is_empty() {
            break;
        }
        left = still_left(left, chunk.len());
        let data = Packet {
            id,
            data: chunk,
            ..packet(PacketType::PacketData)
        };
        outgoing
            .blocking_send(Ok(data))
            .map_err(|_| FileSyncError::Closed)?;
    }
    let eof = Packet {
        id,
        ..packet(PacketType::PacketData)
    };
    outgoing
        .blocking_send(Ok(eof))
        .map_err(|_| FileSyncError::Closed)
}

/// Reads the next chunk: up to [`CHUNK_SIZE`] bytes, sized by what the stat
/// says is `left` so that a small file needs a small buffer. Past the
/// stated size a small read confirms the end of the file; a file that grew
/// since is sent as it is now, as fsutil's sender does (see [`still_left`]).
/// Empty at the end.
fn read_chunk(file: &mut std::fs::File, left: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    /// The end-of-file probe's size.
    const PROBE: usize = 4096;
    let want = match usize::try_from(left) {
        Ok(0) => PROBE,
        Ok(n) => n.min(CHUNK_SIZE),
        Err(_) => CHUNK_SIZE,
    };
    let mut chunk = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        match file.read(&mut chunk[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    chunk.truncate(filled);
    Ok(chunk)
}

/// What the stat still promises after a chunk of `read` bytes. A probe
/// that found data means the file grew: read on in full chunks, as the
/// stat no longer says how much there is.
fn still_left(left: u64, read: usize) -> u64 {
    if left == 0 {
        u64::MAX
    } else {
        left.saturating_sub(read as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk `read_chunk` gives for a file whose stat said `stated`.
    fn chunks(content: &[u8], stated: u64) -> Vec<usize> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let (mut left, mut sizes, mut all) = (stated, Vec::new(), Vec::new());
        loop {
            let chunk = read_chunk(&mut file, left).unwrap();
            if chunk.is_empty() {
                break;
            }
            left = still_left(left, chunk.len());
            sizes.push(chunk.len());
            all.extend_from_slice(&chunk);
        }
        assert_eq!(all, content, "the chunks add up to the file");
        sizes
    }

    #[test]
    fn chunks_follow_the_stated_size() {
        assert_eq!(chunks(b"", 0), Vec::<usize>::new());
        assert_eq!(chunks(&[7; 2048], 2048), [2048]);
        let big = vec![1u8; 2 * CHUNK_SIZE + 5];
        assert_eq!(chunks(&big, big.len() as u64), [CHUNK_SIZE, CHUNK_SIZE, 5]);
    }

    #[test]
    fn a_file_that_changed_since_its_stat_is_sent_as_it_is_now() {
        // Grown: the end-of-file probe finds more, the rest goes in chunks.
        let grown = vec![3u8; 2 * CHUNK_SIZE];
        assert_eq!(
            chunks(&grown, 100),
            [100, 4096, CHUNK_SIZE, CHUNK_SIZE - 4196]
        );
        // Shrunk: a short read ends it.
        assert_eq!(chunks(&[5; 10], 4096), [10]);
    }
}
