//! The data path: COPY rows from a source session into a destination session without
//! decoding them. A backend's CopyData message ('d', length, payload) has the frontend's
//! CopyData format, so the relay reads the source socket in large blocks and writes the
//! payloads of the complete CopyData messages on to the destination unchanged, regrouped
//! into few large messages ([`coalesce`]), stopping at the source's CopyDone. Rows are
//! counted by the servers themselves (the `COPY n` command tags), not by parsing the
//! stream; and each row (a server sends one CopyData message per row) is hashed as it
//! passes ([`StreamRows`]), so what was sent can be verified without reading the source a
//! second time.
//!
//! Why not a client library: tokio-postgres hands each row to the caller as its own
//! message through a channel, and at one message per row that costs our process more CPU
//! than the source backend spends producing the rows (measured: 1.5 CPU-s for 900 MB, with
//! a quarter of it in task switches). On a machine where both servers share the cores,
//! that CPU comes straight out of the copy.
//!
//! The sessions speak the simple-query protocol only: startup, authentication (trust,
//! password, md5, SCRAM-SHA-256), a few SET/BEGIN statements, and the COPY.

use mover::Endpoint;
use super::error::{server_error, Result};
use mover::{MoveError, RowDigest, Side};
use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::frontend;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How much of the source stream is read and forwarded at a time.
const BLOCK: usize = 256 * 1024;

/// The rows of one `COPY ... TO STDOUT` stream, hashed as they pass. A server sends each
/// row as one CopyData message; a binary stream also carries a header in front of its
/// first row and a trailer message after the last, which are not rows (so a table copied
/// in parts digests the same as when read whole).
pub(crate) struct StreamRows {
    binary: bool,
    header_done: bool,
    pub(crate) digest: RowDigest,
}

/// `PGCOPY\n\377\r\n\0`, then 32-bit flags and a 32-bit header extension length.
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl StreamRows {
    pub(crate) fn new(binary: bool) -> StreamRows {
        StreamRows { binary, header_done: !binary, digest: RowDigest::default() }
    }

    fn message(&mut self, payload: &[u8]) {
        let mut row = payload;
        if !self.header_done {
            self.header_done = true;
            if row.starts_with(BINARY_SIGNATURE) && row.len() >= 19 {
                let extension = u32::from_be_bytes([row[15], row[16], row[17], row[18]]) as usize;
                row = row.get(19 + extension..).unwrap_or_default();
            }
        }
        // The trailer is a field count of -1; a row has zero or more fields.
        if row.is_empty() || (self.binary && row == [0xff, 0xff]) {
            return;
        }
        self.digest.add_row(row);
    }
}

/// One message read from a server: its type byte and body.
struct Message {
    tag: u8,
    body: BytesMut,
}

/// A raw session on one database of one server.
pub(crate) struct RawSession {
    stream: TcpStream,
    buf: BytesMut,
    side: Side,
}

/// What a server said in an ErrorResponse: SQLSTATE and message.
fn error_fields(body: &[u8]) -> (String, String) {
    let (mut code, mut message) = (String::new(), String::new());
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).into_owned();
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    (code, message)
}

/// The row count of a `COPY n` command tag.
fn copy_count(tag: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(tag.strip_suffix(&[0]).unwrap_or(tag)).ok()?;
    text.strip_prefix("COPY ")?.trim().parse().ok()
}

impl RawSession {
    /// Connects and logs in to `dbname` as the endpoint's user, then runs `setup`.
    pub(crate) async fn connect(ep: &Endpoint, dbname: &str, side: Side, setup: &str) -> Result<RawSession> {
        let what = format!("connect to database {dbname}");
        let address = format!("{}:{}", ep.host, ep.port);
        let stream = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(&address))
            .await
            .map_err(|_| MoveError::unavailable(side, format!("{what}: timed out")))?
            .map_err(|e| MoveError::unavailable(side, format!("{what}: {e}")))?;
        // Small control messages must not wait for Nagle; the data blocks are large anyway.
        let _ = stream.set_nodelay(true);
        let mut s = RawSession { stream, buf: BytesMut::with_capacity(BLOCK), side };
        let mut out = BytesMut::new();
        let mut params = vec![
            ("user", ep.user.as_str()),
            ("database", dbname),
            ("application_name", "openrds-mover"),
            ("client_encoding", "UTF8"),
        ];
        if side == Side::Source {
            params.push(("options", "-c default_transaction_read_only=on"));
        }
        frontend::startup_message(params.iter().copied(), &mut out).map_err(|e| MoveError::Internal(format!("startup message: {e}")))?;
        s.send(&out, &what).await?;
        s.authenticate(ep, &what).await?;
        s.until_ready(&what).await?;
        s.simple(setup, "configure session").await?;
        Ok(s)
    }

    async fn authenticate(&mut self, ep: &Endpoint, what: &str) -> Result<()> {
        let mut scram: Option<ScramSha256> = None;
        loop {
            let m = self.read(what).await?;
            match m.tag {
                b'R' => {}
                b'E' => return Err(self.server_error(what, &m.body)),
                other => return Err(MoveError::Internal(format!("{what}: unexpected message {:?} during authentication", other as char))),
            }
            let code = m.body.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(u32::MAX);
            let data = &m.body[4.min(m.body.len())..];
            let mut out = BytesMut::new();
            let wire = |e: std::io::Error| MoveError::Internal(format!("{what}: {e}"));
            match code {
                0 => return Ok(()),
                3 => frontend::password_message(ep.password.as_bytes(), &mut out).map_err(wire)?,
                5 => {
                    let salt = [data[0], data[1], data[2], data[3]];
                    let hashed = postgres_protocol::authentication::md5_hash(ep.user.as_bytes(), ep.password.as_bytes(), salt);
                    frontend::password_message(hashed.as_bytes(), &mut out).map_err(wire)?;
                }
                10 => {
                    let offered = data.split(|b| *b == 0).any(|m| m == SCRAM_SHA_256.as_bytes());
                    if !offered {
                        return Err(MoveError::PermissionDenied { side: self.side, detail: format!("{what}: the server offers no SASL mechanism we speak") });
                    }
                    let s = ScramSha256::new(ep.password.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut out).map_err(wire)?;
                    scram = Some(s);
                }
                11 => {
                    let s = scram.as_mut().ok_or_else(|| MoveError::Internal(format!("{what}: SASL continue before start")))?;
                    s.update(data).map_err(|e| MoveError::PermissionDenied { side: self.side, detail: format!("{what}: {e}") })?;
                    frontend::sasl_response(s.message(), &mut out).map_err(wire)?;
                }
                12 => {
                    let s = scram.as_mut().ok_or_else(|| MoveError::Internal(format!("{what}: SASL final before start")))?;
                    s.finish(data).map_err(|e| MoveError::PermissionDenied { side: self.side, detail: format!("{what}: {e}") })?;
                    continue;
                }
                other => return Err(MoveError::Internal(format!("{what}: unsupported authentication request {other}"))),
            }
            self.send(&out, what).await?;
        }
    }

    async fn send(&mut self, bytes: &[u8], what: &str) -> Result<()> {
        self.stream.write_all(bytes).await.map_err(|e| MoveError::unavailable(self.side, format!("{what}: {e}")))
    }

    /// Reads more from the socket into the buffer; end of stream is a lost server.
    async fn fill(&mut self, what: &str) -> Result<()> {
        self.buf.reserve(BLOCK);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(MoveError::unavailable(self.side, format!("{what}: the server closed the connection"))),
            Ok(_) => Ok(()),
            Err(e) => Err(MoveError::unavailable(self.side, format!("{what}: {e}"))),
        }
    }

    /// The length of the complete message at the front of the buffer, if there is one.
    fn complete(&self) -> Option<usize> {
        let b = &self.buf;
        if b.len() < 5 {
            return None;
        }
        let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
        (b.len() > len).then_some(len + 1)
    }

    async fn read(&mut self, what: &str) -> Result<Message> {
        loop {
            if let Some(total) = self.complete() {
                let mut m = self.buf.split_to(total);
                let tag = m[0];
                m.advance(5);
                return Ok(Message { tag, body: m });
            }
            self.fill(what).await?;
        }
    }

    /// Turns an ErrorResponse into the error kinds the control plane branches on.
    fn server_error(&self, what: &str, body: &[u8]) -> MoveError {
        let (code, message) = error_fields(body);
        server_error(self.side, what, &code, &message)
    }

    /// Reads up to ReadyForQuery; the first error seen is returned after it.
    async fn until_ready(&mut self, what: &str) -> Result<Vec<Message>> {
        let mut error = None;
        let mut seen = Vec::new();
        loop {
            let m = match self.read(what).await {
                Ok(m) => m,
                // A FATAL error (no CONNECT right, database gone) is followed by the server
                // closing the connection: the error is the news, not the closing.
                Err(e) => return Err(error.unwrap_or(e)),
            };
            match m.tag {
                b'Z' => return error.map_or(Ok(seen), Err),
                b'E' if error.is_none() => error = Some(self.server_error(what, &m.body)),
                b'N' | b'S' | b'K' | b'A' => {}
                _ => seen.push(m),
            }
        }
    }

    /// Runs statements with the simple-query protocol.
    pub(crate) async fn simple(&mut self, sql: &str, what: &str) -> Result<()> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(|e| MoveError::Internal(format!("{what}: {e}")))?;
        self.send(&out, what).await?;
        self.until_ready(what).await.map(|_| ())
    }

    /// Sends a COPY statement and waits for the server to enter copy mode (`H` out, `G`
    /// in); an error instead is returned.
    async fn start_copy(&mut self, sql: &str, expect: u8, what: &str) -> Result<()> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(|e| MoveError::Internal(format!("{what}: {e}")))?;
        self.send(&out, what).await?;
        loop {
            let m = self.read(what).await?;
            match m.tag {
                t if t == expect => return Ok(()),
                b'E' => {
                    let e = self.server_error(what, &m.body);
                    self.until_ready(what).await.ok();
                    return Err(e);
                }
                b'N' | b'S' => {}
                other => return Err(MoveError::Internal(format!("{what}: unexpected message {:?} starting COPY", other as char))),
            }
        }
    }

    /// During COPY FROM the server says nothing unless the load failed (a full disk, a bad
    /// value): look without waiting, so a failed load stops the stream at once instead of
    /// after the whole table has been sent into the void.
    async fn check_copy_in(&mut self, what: &str) -> Result<()> {
        self.buf.reserve(1024);
        match self.stream.try_read_buf(&mut self.buf) {
            Ok(0) => return Err(MoveError::unavailable(self.side, format!("{what}: the server closed the connection"))),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(MoveError::unavailable(self.side, format!("{what}: {e}"))),
        }
        while self.complete().is_some() {
            let m = self.read(what).await?;
            match m.tag {
                b'N' | b'S' => {}
                b'E' => {
                    let e = self.server_error(what, &m.body);
                    let mut fail = BytesMut::new();
                    let _ = frontend::copy_fail("load failed", &mut fail);
                    let _ = self.send(&fail, what).await;
                    let _ = self.until_ready(what).await;
                    return Err(e);
                }
                other => return Err(MoveError::Internal(format!("{what}: unexpected message {:?} during COPY FROM", other as char))),
            }
        }
        Ok(())
    }

    /// After the copy: the `COPY n` row count of the CommandComplete, up to ReadyForQuery.
    async fn copy_result(&mut self, what: &str) -> Result<u64> {
        let messages = self.until_ready(what).await?;
        messages
            .iter()
            .find(|m| m.tag == b'C')
            .and_then(|m| copy_count(&m.body))
            .ok_or_else(|| MoveError::Internal(format!("{what}: no COPY row count from the server")))
    }
}

/// Streams `COPY ... TO STDOUT` on `src` into `COPY ... FROM STDIN` on `dst`, hashing
/// each row into `rows`. `on_block` gets the CopyData messages and payload bytes of each
/// forwarded block. Returns the rows the source sent and the rows the destination loaded.
pub(crate) async fn relay(
    src: &mut RawSession,
    out_sql: &str,
    dst: &mut RawSession,
    in_sql: &str,
    what: &str,
    rows: &mut StreamRows,
    mut on_block: impl FnMut(u64, u64),
) -> Result<(u64, u64)> {
    dst.start_copy(in_sql, b'G', what).await?;
    if let Err(e) = src.start_copy(out_sql, b'H', what).await {
        let mut fail = BytesMut::new();
        let _ = frontend::copy_fail("source failed", &mut fail);
        let _ = dst.send(&fail, what).await;
        let _ = dst.until_ready(what).await;
        return Err(e);
    }
    let mut out = BytesMut::with_capacity(BLOCK + 5);
    loop {
        // CopyData at the front of the buffer go on, regrouped; anything else ends the stream.
        let Scanned { end, messages, payload, stop } = scan_copy_data(&src.buf, rows);
        if end > 0 {
            let block = src.buf.split_to(end);
            coalesce(&block, &mut out);
            dst.send(&out, what).await?;
            on_block(messages, payload);
            dst.check_copy_in(what).await?;
        }
        match stop {
            None => src.fill(what).await?,
            Some(b'c') => break,
            Some(b'N' | b'S') => {
                // A notice or parameter change in the middle of the stream: not data.
                src.read(what).await?;
            }
            Some(_) => {
                // ErrorResponse (or a protocol surprise) from the source: the load is
                // abandoned with CopyFail, then the source's error is reported.
                let m = src.read(what).await?;
                let mut fail = BytesMut::new();
                let _ = frontend::copy_fail("source failed", &mut fail);
                let _ = dst.send(&fail, what).await;
                let _ = dst.until_ready(what).await;
                let e = if m.tag == b'E' { src.server_error(what, &m.body) } else { MoveError::Internal(format!("{what}: unexpected message {:?} in COPY", m.tag as char)) };
                let _ = src.until_ready(what).await;
                return Err(e);
            }
        }
    }
    // The source's CopyDone, then its CommandComplete and ReadyForQuery.
    src.read(what).await?;
    let sent = src.copy_result(what).await?;
    let mut done = BytesMut::new();
    frontend::copy_done(&mut done);
    dst.send(&done, what).await?;
    let loaded = dst.copy_result(what).await?;
    Ok((sent, loaded))
}

/// Rewrites `block`, complete CopyData messages of one row each, as few CopyData
/// messages of up to [`BLOCK`] bytes (a larger row stays one message) into `out`. A
/// COPY's input is a byte stream whatever its message boundaries, and the destination
/// backend, the copy's critical path, spends work on every message it reads (a profile of
/// a 6M-row load: 5-8% of its CPU in message reads and their buffer resets).
fn coalesce(block: &[u8], out: &mut BytesMut) {
    out.clear();
    let mut open: Option<usize> = None;
    let mut at = 0;
    while at + 5 <= block.len() {
        let len = u32::from_be_bytes([block[at + 1], block[at + 2], block[at + 3], block[at + 4]]) as usize;
        let payload = &block[at + 5..at + 1 + len];
        at += 1 + len;
        if let Some(start) = open {
            if out.len() - start + payload.len() > BLOCK {
                close_message(out, start);
                open = None;
            }
        }
        if open.is_none() {
            open = Some(out.len());
            out.extend_from_slice(&[b'd', 0, 0, 0, 0]);
        }
        out.extend_from_slice(payload);
    }
    if let Some(start) = open {
        close_message(out, start);
    }
}

/// Writes the length of the CopyData message that starts at `start` and ends `out`.
fn close_message(out: &mut BytesMut, start: usize) {
    let len = (out.len() - start - 1) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
}

/// The complete CopyData messages at the front of a buffer: where they end, how many,
/// their payload bytes, and the type of the complete message after them that is not
/// CopyData, if any. Each message's payload is hashed into `rows`.
struct Scanned {
    end: usize,
    messages: u64,
    payload: u64,
    stop: Option<u8>,
}

fn scan_copy_data(b: &[u8], rows: &mut StreamRows) -> Scanned {
    let mut s = Scanned { end: 0, messages: 0, payload: 0, stop: None };
    while b.len() >= s.end + 5 {
        let end = s.end;
        let len = u32::from_be_bytes([b[end + 1], b[end + 2], b[end + 3], b[end + 4]]) as usize;
        if b.len() <= end + len {
            break;
        }
        if b[end] != b'd' {
            s.stop = Some(b[end]);
            break;
        }
        rows.message(&b[end + 5..end + 1 + len]);
        s.end += len + 1;
        s.messages += 1;
        s.payload += len as u64 - 4;
    }
    s
}

/// Runs `COPY ... TO STDOUT` on `session` and hashes its rows as [`relay`] does, keeping
/// none of them: the read-back of a loaded table. Returns the server's row count and the
/// digest.
pub(crate) async fn read_back(session: &mut RawSession, sql: &str, binary: bool, what: &str) -> Result<(u64, RowDigest)> {
    session.start_copy(sql, b'H', what).await?;
    let mut rows = StreamRows::new(binary);
    loop {
        let scanned = scan_copy_data(&session.buf, &mut rows);
        session.buf.advance(scanned.end);
        match scanned.stop {
            None => session.fill(what).await?,
            Some(b'c') => {
                session.read(what).await?;
                break;
            }
            Some(b'N' | b'S') => {
                session.read(what).await?;
            }
            Some(_) => {
                let m = session.read(what).await?;
                let e = if m.tag == b'E' { session.server_error(what, &m.body) } else { MoveError::Internal(format!("{what}: unexpected message {:?} in COPY", m.tag as char)) };
                let _ = session.until_ready(what).await;
                return Err(e);
            }
        }
    }
    let count = session.copy_result(what).await?;
    Ok((count, rows.digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields_and_copy_tags_are_read() {
        let body = b"SERROR\0VERROR\0C53100\0Mcould not extend file\0\0";
        assert_eq!(error_fields(body), ("53100".to_string(), "could not extend file".to_string()));
        assert_eq!(copy_count(b"COPY 6000000\0"), Some(6_000_000));
        assert_eq!(copy_count(b"INSERT 0 1\0"), None);
    }

    fn copy_data(payload: &[u8]) -> Vec<u8> {
        [&[b'd'][..], &((payload.len() + 4) as u32).to_be_bytes(), payload].concat()
    }

    /// The payloads of the CopyData messages in `stream`, joined, and how many there are.
    fn payloads(stream: &[u8]) -> (Vec<u8>, usize, usize) {
        let (mut joined, mut count, mut largest, mut at) = (Vec::new(), 0, 0, 0);
        while at < stream.len() {
            assert_eq!(stream[at], b'd');
            let len = u32::from_be_bytes(stream[at + 1..at + 5].try_into().unwrap()) as usize;
            joined.extend_from_slice(&stream[at + 5..at + 1 + len]);
            largest = largest.max(len - 4);
            count += 1;
            at += 1 + len;
        }
        assert_eq!(at, stream.len());
        (joined, count, largest)
    }

    #[test]
    fn coalesced_rows_are_the_same_bytes_in_few_messages() {
        let rows: Vec<Vec<u8>> = (0..5000u32).map(|i| format!("{i}\t{}\n", "x".repeat((i % 300) as usize)).into_bytes()).collect();
        let block: Vec<u8> = rows.iter().flat_map(|r| copy_data(r)).collect();
        let mut out = BytesMut::new();
        coalesce(&block, &mut out);
        let (joined, count, largest) = payloads(&out);
        assert_eq!(joined, rows.concat());
        assert!(largest <= BLOCK, "{largest}");
        // Each message but the last is closed only when the next row would not fit.
        assert!(count <= joined.len().div_ceil(BLOCK - 310) && count >= 3, "{count} messages");
        // A row larger than a message travels alone and whole, between its neighbours.
        let big = vec![b'y'; BLOCK + 10];
        let block = [copy_data(b"a\n"), copy_data(&big), copy_data(b"b\n")].concat();
        coalesce(&block, &mut out);
        let (joined, count, largest) = payloads(&out);
        assert_eq!(joined, [&b"a\n"[..], &big, b"b\n"].concat());
        assert_eq!((count, largest), (3, BLOCK + 10));
        coalesce(&[], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_binary_stream_s_header_and_trailer_are_not_rows() {
        let header = [BINARY_SIGNATURE, &[0, 0, 0, 0], &[0, 0, 0, 0]].concat();
        let (one, two) = ([0u8, 1, 0, 0, 0, 1, b'a'], [0u8, 1, 0, 0, 0, 1, b'b']);
        // Read whole: the header rides on the first row.
        let mut whole = StreamRows::new(true);
        whole.message(&[header.as_slice(), &one].concat());
        whole.message(&two);
        whole.message(&[0xff, 0xff]);
        // In two parts, each with its own header and trailer, in the other order.
        let mut parts = RowDigest::default();
        for row in [two, one] {
            let mut part = StreamRows::new(true);
            part.message(&[header.as_slice(), &row].concat());
            part.message(&[0xff, 0xff]);
            parts.merge(part.digest);
        }
        assert_eq!(whole.digest.rows, 2);
        assert_eq!(whole.digest, parts);
        // A text stream has neither.
        let mut text = StreamRows::new(false);
        text.message(b"1\ta\n");
        assert_eq!(text.digest.rows, 1);
    }
}
