//! The receiver side of DiffCopy: local export, where the daemon pushes a
//! tree to us (`FileSend.DiffCopy` with a directory target, fsutil's
//! `Receive`).
//!
//! The daemon is not trusted with our filesystem: every path is validated
//! (order, cleanliness, no `..`, no absolute paths) before anything is
//! created, parents must have arrived as directories, and existing entries
//! are replaced rather than written through, so nothing lands outside the
//! destination even if it already contains symlinks.
//!
//! Disk work runs on one blocking thread fed through a bounded channel;
//! the async side only reads packets, so the peer can always make progress.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::validate::{is_safe_relative, HardlinkValidator, OrderValidator};
use super::{error_packet, mode, packet, FileSyncError, Packet, PacketType, Stat};

/// Work items for the disk thread, in arrival order.
enum Work {
    Stat(Stat),
    EndOfStats,
    Data(u32, Vec<u8>),
}

/// Receives a tree from a DiffCopy sender (the daemon) into `dest`, which
/// must exist. Existing entries with the same names are replaced; others
/// are left alone (the local exporter's copy mode merges into the target).
///
/// Every regular file is requested. After the last file is written and
/// directory metadata applied, we send FIN and wait for the sender's FIN,
/// as fsutil's receiver does. Owners are not changed (we usually run
/// unprivileged). On a local failure an ERR packet is sent to the peer
/// before the error is returned.
pub async fn receive<S, E, O>(
    dest: &Path,
    mut incoming: S,
    outgoing: mpsc::Sender<Result<Packet, O>>,
) -> Result<(), FileSyncError>
where
    S: Stream<Item = Result<Packet, E>> + Unpin,
    E: Display,
    O: Send + 'static,
{
    let (work_tx, work_rx) = mpsc::channel::<Work>(64);
    let writer = {
        let dest = dest.to_path_buf();
        let outgoing = outgoing.clone();
        tokio::task::spawn_blocking(move || DiskWriter::new(dest, outgoing).run(work_rx))
    };
    let result = pump(&mut incoming, work_tx, writer).await;
    if let Err(err) = &result {
        if !matches!(
            err,
            FileSyncError::Remote { .. } | FileSyncError::Closed | FileSyncError::Transport(_)
        ) {
            let _ = outgoing.send(Ok(error_packet(err))).await;
        }
    }
    result
}

/// Forwards packets to the disk thread until both sides sent FIN.
async fn pump<S, E>(
    incoming: &mut S,
    work_tx: mpsc::Sender<Work>,
    writer: tokio::task::JoinHandle<Result<(), FileSyncError>>,
) -> Result<(), FileSyncError>
where
    S: Stream<Item = Result<Packet, E>> + Unpin,
    E: Display,
{
    let mut writer = Some(writer);
    let mut work_tx = Some(work_tx);
    loop {
        tokio::select! {
            done = wait_writer(&mut writer) => {
                writer = None;
                work_tx = None;
                done?;
            }
            message = incoming.next() => {
                let p = match message {
                    // After our FIN the peer may just hang up.
                    None if writer.is_none() => return Ok(()),
                    None => {
                        // The writer may hold the real reason (e.g. a bad path).
                        drop(work_tx.take());
                        // Ok only if it already completed and sent our FIN.
                        wait_writer(&mut writer).await?;
                        return Ok(());
                    }
                    Some(Err(e)) => return Err(FileSyncError::Transport(e.to_string())),
                    Some(Ok(p)) => p,
                };
                let work = match PacketType::try_from(p.r#type) {
                    Ok(PacketType::PacketStat) => match p.stat {
                        Some(stat) => Work::Stat(stat),
                        None => Work::EndOfStats,
                    },
                    Ok(PacketType::PacketData) => Work::Data(p.id, p.data),
                    Ok(PacketType::PacketFin) if writer.is_none() => return Ok(()),
                    Ok(PacketType::PacketFin) => {
                        // Our FIN may be out while the writer's exit is not
                        // yet observed; let it finish and ask it.
                        drop(work_tx.take());
                        return match wait_writer(&mut writer).await {
                            Err(FileSyncError::Closed) => Err(FileSyncError::Protocol(
                                "sender finished before all files were received".into(),
                            )),
                            other => other,
                        };
                    }
                    Ok(PacketType::PacketErr) => {
                        return Err(FileSyncError::Remote {
                            side: "sender",
                            message: String::from_utf8_lossy(&p.data).into_owned(),
                        })
                    }
                    _ => continue,
                };
                let Some(tx) = &work_tx else {
                    return Err(FileSyncError::Protocol("packet after the transfer completed".into()));
                };
                if tx.send(work).await.is_err() {
                    // The writer stopped; its result says why.
                    let done = wait_writer(&mut writer).await;
                    writer = None;
                    work_tx = None;
                    done?;
                }
            }
        }
    }
}

/// Resolves with the disk thread's result; never once it was collected.
async fn wait_writer(
    writer: &mut Option<tokio::task::JoinHandle<Result<(), FileSyncError>>>,
) -> Result<(), FileSyncError> {
    match writer {
        Some(handle) => handle
            .await
            .map_err(|e| FileSyncError::Protocol(format!("disk writer failed: {e}")))?,
        None => std::future::pending().await,
    }
}

/// A requested file whose content is still arriving.
struct PendingFile {
    path: PathBuf,
    stat: Stat,
    /// Opened on the first chunk only, so thousands of queued files do not
    /// hold thousands of descriptors.
    file: Option<File>,
}

/// Applies the packet stream to the destination directory.
struct DiskWriter<O> {
    dest: PathBuf,
    outgoing: mpsc::Sender<Result<Packet, O>>,
    order: OrderValidator,
    hardlinks: HardlinkValidator,
    next_id: u32,
    pending: HashMap<u32, PendingFile>,
    /// Directories in arrival order; metadata applied last, deepest first,
    /// so writing children does not disturb their mtimes or permissions.
    dirs: Vec<(PathBuf, Stat)>,
    stats_done: bool,
}

impl<O> DiskWriter<O> {
    fn new(dest: PathBuf, outgoing: mpsc::Sender<Result<Packet, O>>) -> Self {
        DiskWriter {
            dest,
            outgoing,
            order: OrderValidator::default(),
            hardlinks: HardlinkValidator::default(),
            next_id: 0,
            pending: HashMap::new(),
            dirs: Vec::new(),
            stats_done: false,
        }
    }

    fn run(mut self, mut work: mpsc::Receiver<Work>) -> Result<(), FileSyncError> {
        let meta =
            fs::metadata(&self.dest).map_err(|e| FileSyncError::io("stat", &self.dest, e))?;
        if !meta.is_dir() {
            return Err(FileSyncError::io(
                "receive into",
                &self.dest,
                io::Error::from_raw_os_error(libc::ENOTDIR),
            ));
        }
        while let Some(item) = work.blocking_recv() {
            match item {
                Work::Stat(stat) => self.handle_stat(stat)?,
                Work::EndOfStats => self.stats_done = true,
                Work::Data(id, data) => self.handle_data(id, &data)?,
            }
            if self.stats_done && self.pending.is_empty() {
                return self.finish();
            }
        }
        Err(FileSyncError::Closed)
    }

    fn handle_stat(&mut self, stat: Stat) -> Result<(), FileSyncError> {
        if self.stats_done {
            return Err(FileSyncError::Protocol(format!(
                "STAT {:?} after the end of the listing",
                stat.path
            )));
        }
        let id = self.next_id;
        self.next_id = id.wrapping_add(1);
        if !is_safe_relative(&stat.path) {
            return Err(FileSyncError::UnsafePath(stat.path));
        }
        self.order
            .check(&stat.path, mode::is_dir(stat.mode))
            .map_err(FileSyncError::Protocol)?;
        let target = self.dest.join(&stat.path);

        if mode::is_dir(stat.mode) {
            let existing = fs::symlink_metadata(&target);
            if !matches!(&existing, Ok(m) if m.is_dir()) {
                remove_existing(&target)?;
                fs::create_dir(&target)
                    .map_err(|e| FileSyncError::io("create directory", &target, e))?;
            }
            self.dirs.push((target, stat));
            return Ok(());
        }

        remove_existing(&target)?;
        if mode::is_symlink(stat.mode) {
            // Created verbatim and never followed by us.
            std::os::unix::fs::symlink(&stat.linkname, &target)
                .map_err(|e| FileSyncError::io("create symlink", &target, e))?;
            return set_mtime(&target, stat.mod_time);
        }
        if stat.mode & mode::NAMED_PIPE != 0 || stat.mode & mode::DEVICE != 0 {
            make_node(&target, &stat)?;
            set_permissions(&target, stat.mode)?;
            return set_mtime(&target, stat.mod_time);
        }
        if !mode::is_regular(stat.mode) {
            return Err(FileSyncError::Protocol(format!(
                "unsupported file mode {:#o} for {:?}",
                stat.mode, stat.path
            )));
        }
        self.hardlinks
            .check(&stat.path, &stat.linkname)
            .map_err(FileSyncError::Protocol)?;
        if !stat.linkname.is_empty() {
            if !is_safe_relative(&stat.linkname) {
                return Err(FileSyncError::UnsafePath(stat.linkname));
            }
            let original = self.dest.join(&stat.linkname);
            return fs::hard_link(&original, &target)
                .map_err(|e| FileSyncError::io("create hard link", &target, e));
        }
        // Private until complete; O_EXCL|O_NOFOLLOW guarantee a fresh file.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&target)
            .map_err(|e| FileSyncError::io("create", &target, e))?;
        self.pending.insert(
            id,
            PendingFile {
                path: target,
                stat,
                file: None,
            },
        );
        let request = Packet {
            id,
            ..packet(PacketType::PacketReq)
        };
        self.outgoing
            .blocking_send(Ok(request))
            .map_err(|_| FileSyncError::Closed)
    }

    fn handle_data(&mut self, id: u32, data: &[u8]) -> Result<(), FileSyncError> {
        let Some(pending) = self.pending.get_mut(&id) else {
            return Err(FileSyncError::Protocol(format!(
                "data for unrequested file id {id}"
            )));
        };
        if !data.is_empty() {
            if pending.file.is_none() {
                let file = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&pending.path)
                    .map_err(|e| FileSyncError::io("open", &pending.path, e))?;
                pending.file = Some(file);
            }
            if let Some(file) = pending.file.as_mut() {
                file.write_all(data)
                    .map_err(|e| FileSyncError::io("write", &pending.path, e))?;
            }
            return Ok(());
        }
        // Empty DATA: end of this file. Metadata goes on after the content.
        if let Some(done) = self.pending.remove(&id) {
            drop(done.file);
            set_permissions(&done.path, done.stat.mode)?;
            set_mtime(&done.path, done.stat.mod_time)?;
        }
        Ok(())
    }

    /// Directory metadata (children first), then our FIN.
    fn finish(&mut self) -> Result<(), FileSyncError> {
        for (path, stat) in self.dirs.iter().rev() {
            set_permissions(path, stat.mode)?;
            set_mtime(path, stat.mod_time)?;
        }
        self.outgoing
            .blocking_send(Ok(packet(PacketType::PacketFin)))
            .map_err(|_| FileSyncError::Closed)
    }
}

/// Removes whatever is at `path` (a symlink is removed, not followed).
fn remove_existing(path: &Path) -> Result<(), FileSyncError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path).map_err(|e| FileSyncError::io("remove", path, e))
        }
        Ok(_) => fs::remove_file(path).map_err(|e| FileSyncError::io("remove", path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FileSyncError::io("stat", path, e)),
    }
}

/// chmod with the Go mode's permission and setuid/setgid/sticky bits.
fn set_permissions(path: &Path, go_mode: u32) -> Result<(), FileSyncError> {
    let perm = fs::Permissions::from_mode(mode::to_unix_permissions(go_mode));
    fs::set_permissions(path, perm).map_err(|e| FileSyncError::io("chmod", path, e))
}

fn c_path(path: &Path) -> Result<CString, FileSyncError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| FileSyncError::UnsafePath(path.display().to_string()))
}

/// Sets atime and mtime (as Go's `Chtimes` does) without following a
/// symlink, so links get their own time and targets are never touched.
fn set_mtime(path: &Path, unix_nanos: i64) -> Result<(), FileSyncError> {
    let c = c_path(path)?;
    let ts = libc::timespec {
        tv_sec: unix_nanos.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: unix_nanos.rem_euclid(1_000_000_000) as libc::c_long,
    };
    let times = [ts, ts];
    // SAFETY: `c` is a valid NUL-terminated path and `times` has two entries.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(FileSyncError::io(
            "set times",
            path,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Creates a FIFO or device node; devices need privileges we usually lack,
/// which then surfaces as an error naming the path.
fn make_node(path: &Path, stat: &Stat) -> Result<(), FileSyncError> {
    let c = c_path(path)?;
    let kind = if stat.mode & mode::NAMED_PIPE != 0 {
        libc::S_IFIFO
    } else if stat.mode & mode::CHAR_DEVICE != 0 {
        libc::S_IFCHR
    } else {
        libc::S_IFBLK
    };
    let dev = libc::makedev(stat.devmajor as libc::c_uint, stat.devminor as libc::c_uint);
    // SAFETY: `c` is a valid NUL-terminated path.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, dev) };
    if rc != 0 {
        return Err(FileSyncError::io(
            "create node",
            path,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}
