//! The Docker engine's doors into its embedded BuildKit.
//!
//! A Docker engine (28.x) serves BuildKit's gRPC API on its own socket behind
//! two HTTP/1.1 upgrades: `POST /grpc` turns the connection into an HTTP/2
//! connection on which the engine is the gRPC server (Control, LLBBridge), and
//! `POST /session` turns it into one on which *crossbuild* is the server and
//! the engine calls the session services (file sync, auth, secrets, health).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::connect::HANDSHAKE_TIMEOUT;

/// Longest HTTP/1.1 response head crossbuild reads before giving up.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Asks a Docker engine to switch `stream` to HTTP/2 on `path` (`/grpc` or
/// `/session`) with the extra request `headers`. On success the stream is
/// positioned right after the `101 Switching Protocols` head: the next bytes
/// are HTTP/2 frames. An engine that does not answer within
/// [`HANDSHAKE_TIMEOUT`] is an error, not a hang.
pub async fn upgrade<S>(
    stream: &mut S,
    path: &str,
    headers: &[(&str, String)],
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade_unbounded(stream, path, headers))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the Docker engine did not answer the HTTP/2 upgrade on {path} within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ),
            ))
        })
}

async fn upgrade_unbounded<S>(
    stream: &mut S,
    path: &str,
    headers: &[(&str, String)],
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let head = read_response_head(stream).await?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("101") {
        return Err(std::io::Error::other(format!(
            "the Docker engine refused the HTTP/2 upgrade on {path}: {status_line}"
        )));
    }
    Ok(())
}

/// Reads an HTTP/1.1 response head byte by byte: the bytes after it belong to
/// HTTP/2 and must stay in the stream.
async fn read_response_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err(std::io::Error::other(
                "the daemon's HTTP response head is too long",
            ));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection during the HTTP/2 upgrade",
            ));
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// What answered the `GET /_ping` probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingAnswer {
    /// An HTTP/1 server: a Docker engine.
    DockerEngine,
    /// Not HTTP/1 (a buildkitd speaks only HTTP/2, and answers the request
    /// with HTTP/2 frames or by closing).
    NotHttp1,
    /// A Go TLS server told us, in plain HTTP, that it speaks only TLS: the
    /// address needs TLS options.
    TlsRequired,
}

/// Longest probe answer read; a `_ping` answer is a few hundred bytes.
const MAX_PING_ANSWER: usize = 4096;

/// Asks whatever listens on `stream` whether it is a Docker engine
/// (`GET /_ping` over HTTP/1.1). The request says `Connection: close`, so
/// the stream is used up afterwards.
pub async fn probe<S>(stream: &mut S) -> std::io::Result<PingAnswer>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .await?;
    stream.flush().await?;
    let mut answer = vec![0u8; MAX_PING_ANSWER];
    let filled = read_until(stream, &mut answer, 0, 12).await?;
    if !answer[..filled].starts_with(b"HTTP/1.") {
        return Ok(PingAnswer::NotHttp1);
    }
    if !answer[..filled].starts_with(b"HTTP/1.0 400") {
        return Ok(PingAnswer::DockerEngine);
    }
    // Go's TLS server answers plain HTTP with one short 400 and closes; read
    // it whole to see whether that is what this is.
    let filled = read_until(stream, &mut answer, filled, MAX_PING_ANSWER).await?;
    if answer[..filled].windows(12).any(|w| w == b"HTTPS server") {
        Ok(PingAnswer::TlsRequired)
    } else {
        Ok(PingAnswer::DockerEngine)
    }
}

/// Reads into `buffer` after its first `filled` bytes until it holds `want`
/// bytes (or is full) or the stream ends; returns how many bytes it holds.
async fn read_until<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut [u8],
    mut filled: usize,
    want: usize,
) -> std::io::Result<usize> {
    while filled < want.min(buffer.len()) {
        match stream.read(&mut buffer[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the probe against a fake server that answers `reply` and closes.
    async fn probe_reply(reply: &'static [u8]) -> PingAnswer {
        let (mut client, mut server) = tokio::io::duplex(8192);
        let fake = tokio::spawn(async move {
            let mut request = [0u8; 256];
            let _ = server.read(&mut request).await;
            server.write_all(reply).await.unwrap();
        });
        let answer = probe(&mut client).await.unwrap();
        fake.await.unwrap();
        answer
    }

    #[tokio::test]
    async fn tells_engines_buildkitd_and_tls_ports_apart() {
        assert_eq!(
            probe_reply(b"HTTP/1.1 200 OK\r\nApi-Version: 1.51\r\nContent-Length: 2\r\n\r\nOK")
                .await,
            PingAnswer::DockerEngine
        );
        // buildkitd's HTTP/2 server starts with a SETTINGS frame.
        assert_eq!(
            probe_reply(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x40\x00").await,
            PingAnswer::NotHttp1
        );
        assert_eq!(probe_reply(b"").await, PingAnswer::NotHttp1);
        // What Go's TLS server says to a plain HTTP request.
        assert_eq!(
            probe_reply(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n").await,
            PingAnswer::TlsRequired
        );
    }
}
