//! Outbound write coalescing for the session connection.
//!
//! h2 writes every DATA frame of at least 256 bytes with a syscall of its
//! own, and the daemon (a grpc-go client) caps frames at 16 KiB: a context
//! upload becomes tens of thousands of small socket writes, each of which
//! also wakes the daemon's reader. Here h2 writes into an in-memory pipe
//! and a pump task moves whatever has piled up while its previous write was
//! in progress to the socket in one write: as many syscalls as before when
//! the socket keeps up, far fewer when it does not.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

use crate::client::connect::DaemonIo;

/// Bytes the pipe holds before h2's writes wait for the pump.
const PIPE_CAPACITY: usize = 1 << 20;
/// The most the pump moves in one socket write.
const MAX_WRITE: usize = 256 << 10;

/// The session connection: reads straight from the daemon's stream, writes
/// through the pump.
pub(super) struct CoalescedIo {
    read: tokio::io::ReadHalf<Pin<Box<dyn DaemonIo>>>,
    write: DuplexStream,
    failure: Arc<Mutex<Option<String>>>,
}

impl CoalescedIo {
    /// Splits `io` and starts the pump; needs a tokio runtime.
    pub(super) fn new(io: Pin<Box<dyn DaemonIo>>) -> Self {
        let (read, mut socket) = tokio::io::split(io);
        let (write, mut pipe) = tokio::io::duplex(PIPE_CAPACITY);
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; MAX_WRITE];
            loop {
                let n = match pipe.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // The flush matters for TLS, which holds back a partial record.
                let written = async {
                    socket.write_all(&buffer[..n]).await?;
                    socket.flush().await
                };
                if let Err(err) = written.await {
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.to_string());
                    return;
                }
            }
            let _ = socket.shutdown().await;
        });
        CoalescedIo {
            read,
            write,
            failure,
        }
    }

    /// Why the pump could not write to the daemon, if it failed: the real
    /// cause behind the broken pipe that h2 then sees.
    pub(super) fn failure(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.failure)
    }
}

impl AsyncRead for CoalescedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for CoalescedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.write.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The pump sends on its own as soon as bytes arrive.
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing the pipe lets the pump drain it and shut the socket down.
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_pass_both_ways_and_shutdown_reaches_the_peer() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut io = CoalescedIo::new(Box::pin(ours));
        let sent: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let writer = async {
            for piece in sent.chunks(10_000) {
                io.write_all(piece).await.unwrap();
                io.flush().await.unwrap();
            }
            io.shutdown().await.unwrap();
            let mut reply = [0u8; 5];
            io.read_exact(&mut reply).await.unwrap();
            reply
        };
        let reader = async {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.unwrap();
            theirs.write_all(b"hello").await.unwrap();
            got
        };
        let (reply, got) = tokio::join!(writer, reader);
        assert_eq!(got, sent);
        assert_eq!(&reply, b"hello");
    }

    #[tokio::test]
    async fn a_failed_socket_write_is_reported() {
        let (ours, theirs) = tokio::io::duplex(64);
        drop(theirs);
        let mut io = CoalescedIo::new(Box::pin(ours));
        let failure = io.failure();
        let _ = io.write_all(b"lost").await;
        for _ in 0..100 {
            if failure.lock().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the pump did not report the broken socket");
    }
}
