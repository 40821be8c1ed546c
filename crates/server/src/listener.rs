//! The TCP listener the API serves on, with one addition: an over-long request line.
//!
//! The HTTP library refuses a request line longer than 64 KiB itself, with a bare 414 and
//! no body, before openrds sees the request. Clients of an RPC API expect the error
//! envelope, so each connection's first request line is read here first: one longer than
//! [`MAX_REQUEST_LINE`] is replaced by a short line the handler answers with 414 in the
//! envelope (the headers and body that follow are read as usual). Later requests on a
//! kept-alive connection are passed through as they are.

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Longest first request line passed on (below the HTTP library's own limit).
pub const MAX_REQUEST_LINE: usize = 60 << 10;
/// The query of the line that replaces an over-long one; the handler answers it with 414.
pub(crate) const TOO_LONG_MARKER: &str = "openrds-request-line-too-long";

pub(crate) struct GuardedListener(pub TcpListener);

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (GuardedStream { inner: stream, state: State::FirstLine(Vec::new()), out: Vec::new(), out_at: 0 }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The client's address, as handlers extract it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, GuardedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

enum State {
    /// Holding the first request line until its end is seen.
    FirstLine(Vec<u8>),
    /// The first line was too long: dropping the rest of it.
    Skipping,
    Passthrough,
}

pub(crate) struct GuardedStream {
    inner: TcpStream,
    state: State,
    /// Bytes ready for the reader, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
}

impl GuardedStream {
    /// Takes in bytes read from the socket, moving what may be passed on into `out`.
    fn take_in(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Passthrough => self.out.extend_from_slice(bytes),
            State::Skipping => {
                if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
                    self.state = State::Passthrough;
                    self.out.extend_from_slice(&bytes[end + 1..]);
                }
            }
            State::FirstLine(held) => {
                if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
                    if held.len() + end <= MAX_REQUEST_LINE {
                        self.out.append(held);
                        self.out.extend_from_slice(bytes);
                        self.state = State::Passthrough;
                    } else {
                        self.out.extend_from_slice(format!("GET /?{TOO_LONG_MARKER}=1 HTTP/1.1\r\n").as_bytes());
                        self.out.extend_from_slice(&bytes[end + 1..]);
                        self.state = State::Passthrough;
                    }
                } else if held.len() + bytes.len() > MAX_REQUEST_LINE {
                    self.out.extend_from_slice(format!("GET /?{TOO_LONG_MARKER}=1 HTTP/1.1\r\n").as_bytes());
                    self.state = State::Skipping;
                } else {
                    held.extend_from_slice(bytes);
                }
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.out_at < self.out.len() {
                let n = (self.out.len() - self.out_at).min(buf.remaining());
                let at = self.out_at;
                buf.put_slice(&self.out[at..at + n]);
                self.out_at += n;
                if self.out_at == self.out.len() {
                    self.out.clear();
                    self.out_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if matches!(self.state, State::Passthrough) {
                return Pin::new(&mut self.inner).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 8192];
            let mut chunk_buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut self.inner).poll_read(cx, &mut chunk_buf) {
                Poll::Ready(Ok(())) => {
                    let filled = chunk_buf.filled();
                    if filled.is_empty() {
                        // The client closed: hand on whatever was held.
                        if let State::FirstLine(held) = std::mem::replace(&mut self.state, State::Passthrough) {
                            self.out = held;
                            self.out_at = 0;
                            if !self.out.is_empty() {
                                continue;
                            }
                        }
                        return Poll::Ready(Ok(()));
                    }
                    let bytes = filled.to_vec();
                    self.take_in(&bytes);
                }
                other => return other,
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn through(request: Vec<u8>) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut guarded = GuardedListener(listener);
        let sender = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(&request).await.unwrap();
            c.shutdown().await.unwrap();
        });
        let (mut stream, _) = axum::serve::Listener::accept(&mut guarded).await;
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        sender.await.unwrap();
        got
    }

    #[tokio::test]
    async fn short_request_lines_pass_untouched_and_long_ones_are_replaced() {
        let short = b"GET /?Action=X HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
        assert_eq!(through(short.clone()).await, short);
        let mut long = format!("GET /?Pad={} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE + 10)).into_bytes();
        long.extend_from_slice(b"Host: h\r\n\r\nbody");
        let got = String::from_utf8(through(long).await).unwrap();
        assert_eq!(got, format!("GET /?{TOO_LONG_MARKER}=1 HTTP/1.1\r\nHost: h\r\n\r\nbody"));
    }
}
