//! Data: COPY streamed from a source session (inside the snapshot) into a destination
//! session, message by message, with no file and no parsing beyond finding row ends.
//!
//! Verification digests ride on the same stream: every row's bytes are hashed as they
//! pass and the hashes summed, which is order-independent (rows land in any order when
//! a table is split) and costs the source nothing extra. The destination side reads the
//! loaded table back with the same COPY statement and digests it the same way; both
//! sides must produce the same bytes per row, which they do for the same values since
//! the format (binary only between equal majors and for types whose binary form holds
//! no OID) and the output settings are fixed on both sessions.

use crate::conn::{literal, qualified};
use crate::error::{MoveError, Result, Side};
use crate::plan::{SeqPlan, TablePlan};
use crate::progress::TableCounter;
use bytes::{Bytes, BytesMut};
use futures_util::{future, pin_mut, SinkExt, StreamExt};
use std::hash::Hasher;
use tokio_postgres::Client;

/// Rows and an order-independent sum of per-row hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Checksum {
    pub rows: u64,
    pub sum: u64,
}

impl Checksum {
    pub(crate) fn merge(&mut self, o: Checksum) {
        self.rows += o.rows;
        self.sum = self.sum.wrapping_add(o.sum);
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:016x}", self.rows, self.sum)
    }
}

/// A fast 64-bit hash of one row (folded 64x64->128 multiplies, as in wyhash). It only
/// has to catch accidental differences, and both sides are hashed in this process; SipHash
/// cost a third of this process's CPU during a copy, this a small fraction of it.
fn row_hash(row: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
    let mut h = P0 ^ (row.len() as u64).wrapping_mul(P2);
    let mut words = row.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = fold(h ^ w, P1);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(buf), P2);
    }
    fold(h ^ P0, P1)
}

fn fold(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Finds rows in a COPY stream whatever the message boundaries (PostgreSQL sends a row
/// per message, with the binary header in the first one, but nothing here relies on it).
pub(crate) struct RowDigest {
    binary: bool,
    header_done: bool,
    carry: Vec<u8>,
    pub sum: Checksum,
}

impl RowDigest {
    pub(crate) fn new(binary: bool) -> Self {
        RowDigest { binary, header_done: !binary, carry: Vec::new(), sum: Checksum::default() }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.carry.is_empty() {
            let used = self.parse(chunk);
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(chunk);
            let used = self.parse(&buf);
            buf.drain(..used);
            self.carry = buf;
        }
    }

    /// Consumes whole rows from `buf`, returns how many bytes were consumed.
    fn parse(&mut self, buf: &[u8]) -> usize {
        let mut pos = 0;
        if !self.binary {
            while let Some(nl) = buf[pos..].iter().position(|b| *b == b'\n') {
                self.add(&buf[pos..pos + nl]);
                pos += nl + 1;
            }
            return pos;
        }
        if !self.header_done {
            // PGCOPY\n\377\r\n\0, flags (4), extension length (4), extension.
            if buf.len() < 19 {
                return 0;
            }
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + ext {
                return 0;
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        loop {
            let start = pos;
            let Some(n) = read_i16(buf, pos) else { return start };
            pos += 2;
            if n < 0 {
                // Trailer.
                continue;
            }
            for _ in 0..n {
                let Some(len) = read_i32(buf, pos) else { return start };
                pos += 4;
                if len > 0 {
                    pos += len as usize;
                }
            }
            if pos > buf.len() {
                return start;
            }
            self.add(&buf[start..pos]);
        }
    }

    fn add(&mut self, row: &[u8]) {
        self.sum.rows += 1;
        self.sum.sum = self.sum.sum.wrapping_add(row_hash(row));
    }
}

fn read_i16(buf: &[u8], pos: usize) -> Option<i16> {
    buf.get(pos..pos + 2).map(|b| i16::from_be_bytes([b[0], b[1]]))
}

fn read_i32(buf: &[u8], pos: usize) -> Option<i32> {
    buf.get(pos..pos + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn format_clause(binary: bool, freeze: bool) -> &'static str {
    match (binary, freeze) {
        (true, true) => " (FORMAT binary, FREEZE true)",
        (true, false) => " (FORMAT binary)",
        (false, true) => " (FREEZE true)",
        (false, false) => "",
    }
}

/// The COPY ... TO STDOUT statement reading `t` (or a range of it) on either side.
pub(crate) fn copy_out_sql(t: &TablePlan, binary: bool, range: Option<&str>) -> String {
    let fmt = format_clause(binary, false);
    match (range, &t.filter) {
        // The plain form skips the executor; COPY TO never reads child tables.
        (None, None) if !t.columns.is_empty() => format!("COPY {} ({}) TO STDOUT{fmt}", t.qualified(), t.column_list()),
        (None, None) => format!("COPY {} TO STDOUT{fmt}", t.qualified()),
        (Some(r), _) => format!("COPY (SELECT {} FROM ONLY {} WHERE {r}) TO STDOUT{fmt}", t.column_list(), t.qualified()),
        (None, Some(f)) => format!("COPY (SELECT {} FROM ONLY {} {f}) TO STDOUT{fmt}", t.column_list(), t.qualified()),
    }
}

fn copy_in_sql(t: &TablePlan, binary: bool, freeze: bool) -> String {
    let cols = if t.columns.is_empty() { String::new() } else { format!(" ({})", t.column_list()) };
    format!("COPY {}{cols} FROM STDIN{}", t.qualified(), format_clause(binary, freeze))
}

/// Bytes gathered before they are sent on as one CopyData message.
const COPY_BATCH: usize = 128 * 1024;

/// Copies one part of a table. With `freeze`, the table is truncated and loaded in one
/// transaction so rows arrive frozen and visible-all (no later hint-bit or freeze
/// writes); only possible when one session owns the whole table. Dropping the future
/// drops the COPY sink unfinished, which aborts the load on the server.
pub(crate) async fn copy_part(
    src: &Client,
    dst: &Client,
    t: &TablePlan,
    binary: bool,
    range: Option<&str>,
    freeze: bool,
    counter: &TableCounter,
) -> Result<Checksum> {
    let what = format!("copy {}", t.display());
    let dst_err = |e| MoveError::pg(Side::Destination, &what, e);
    if freeze {
        dst.batch_execute(&format!("BEGIN; TRUNCATE ONLY {}", t.qualified())).await.map_err(dst_err)?;
    }
    let out = src
        .copy_out(copy_out_sql(t, binary, range).as_str())
        .await
        .map_err(|e| MoveError::pg(Side::Source, &what, e))?;
    let sink = dst.copy_in::<_, Bytes>(copy_in_sql(t, binary, freeze).as_str()).await.map_err(dst_err)?;
    pin_mut!(out);
    pin_mut!(sink);
    let mut digest = RowDigest::new(binary);
    // Rows arrive one per message; they leave in large messages, which saves work per
    // message here and in the destination backend.
    let mut batch = BytesMut::with_capacity(2 * COPY_BATCH);
    while let Some(chunk) = out.next().await {
        let chunk = chunk.map_err(|e| MoveError::pg(Side::Source, &what, e))?;
        let before = digest.sum.rows;
        digest.feed(&chunk);
        counter.add(digest.sum.rows - before, chunk.len() as u64);
        batch.extend_from_slice(&chunk);
        if batch.len() >= COPY_BATCH {
            // feed, not send: send would flush every batch.
            sink.feed(batch.split().freeze()).await.map_err(dst_err)?;
        }
    }
    if !batch.is_empty() {
        sink.feed(batch.split().freeze()).await.map_err(dst_err)?;
    }
    let loaded = sink.as_mut().finish().await.map_err(dst_err)?;
    if freeze {
        dst.batch_execute("COMMIT").await.map_err(dst_err)?;
    }
    if loaded != digest.sum.rows {
        return Err(MoveError::VerificationFailed {
            database: String::new(),
            table: t.display(),
            detail: format!("{} rows read from the source but {loaded} loaded", digest.sum.rows),
        });
    }
    Ok(digest.sum)
}

/// Digests a whole table by reading it with COPY on `client`.
pub(crate) async fn digest_table(client: &Client, side: Side, t: &TablePlan, binary: bool) -> Result<Checksum> {
    let what = format!("read back {}", t.display());
    let out = client.copy_out(copy_out_sql(t, binary, None).as_str()).await.map_err(|e| MoveError::pg(side, &what, e))?;
    pin_mut!(out);
    let mut digest = RowDigest::new(binary);
    while let Some(chunk) = out.next().await {
        digest.feed(&chunk.map_err(|e| MoveError::pg(side, &what, e))?);
    }
    Ok(digest.sum)
}

/// Exact row count in the snapshot: the independent check that key or ctid ranges of a
/// split table covered every row exactly once.
pub(crate) async fn count_rows(src: &Client, t: &TablePlan) -> Result<u64> {
    let n: i64 = src
        .query_one(&format!("SELECT count(*) FROM ONLY {}", t.qualified()), &[])
        .await
        .map_err(|e| MoveError::pg(Side::Source, &format!("count rows of {}", t.display()), e))?
        .get(0);
    Ok(n as u64)
}

/// WHERE clauses covering the table in `parts` ranges, by integer key when there is one,
/// else by heap page (TID range scans make each part read only its pages). The first and
/// last ranges are open so rows outside the sampled bounds are still copied.
pub(crate) async fn ranges(src: &Client, t: &TablePlan, parts: u64) -> Result<Vec<String>> {
    let what = format!("split {}", t.display());
    if let Some(key) = &t.int_key {
        let r = src
            .query_one(&format!("SELECT min({key})::int8, max({key})::int8 FROM ONLY {}", t.qualified()), &[])
            .await
            .map_err(|e| MoveError::pg(Side::Source, &what, e))?;
        let (Some(lo), Some(hi)) = (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1)) else {
            return Ok(Vec::new());
        };
        let span = (hi as i128 - lo as i128 + 1).max(1);
        let step = (span + parts as i128 - 1) / parts as i128;
        let bounds: Vec<i64> = (1..parts as i128).map(|i| lo as i128 + i * step).filter(|b| *b <= hi as i128).map(|b| b as i64).collect();
        return Ok(bounded(&bounds, |b| format!("{key} < {b}"), |b| format!("{key} >= {b}")));
    }
    let block: i64 = src
        .query_one("SELECT current_setting('block_size')::int8", &[])
        .await
        .map_err(|e| MoveError::pg(Side::Source, &what, e))?
        .get(0);
    let pages = (t.bytes / block.max(1) as u64).max(1);
    let step = pages.div_ceil(parts).max(1);
    let bounds: Vec<u64> = (1..parts).map(|i| i * step).filter(|b| *b < pages).collect();
    Ok(bounded(&bounds, |b| format!("ctid < '({b},0)'::tid"), |b| format!("ctid >= '({b},0)'::tid")))
}

fn bounded<T: Copy>(bounds: &[T], below: impl Fn(T) -> String, at_or_above: impl Fn(T) -> String) -> Vec<String> {
    if bounds.is_empty() {
        return Vec::new();
    }
    let mut out = vec![below(bounds[0])];
    for w in bounds.windows(2) {
        out.push(format!("{} AND {}", at_or_above(w[0]), below(w[1])));
    }
    out.push(at_or_above(bounds[bounds.len() - 1]));
    out
}

/// Large objects, one chunk read at a time so memory stays bounded whatever their size.
const LO_CHUNK: i32 = 256 * 1024;
/// Objects handled per pipelined round trip.
const LO_BATCH: usize = 32;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LoSummary {
    pub count: u64,
    pub bytes: u64,
    pub sum: Checksum,
}

async fn lo_oids(client: &Client, side: Side) -> Result<Vec<u32>> {
    Ok(client
        .query("SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid", &[])
        .await
        .map_err(|e| MoveError::pg(side, "list large objects", e))?
        .into_iter()
        .map(|r| r.get(0))
        .collect())
}

/// Reads one large object in chunks, handing each to `sink`; returns its digest.
async fn read_lo(client: &Client, side: Side, get: &tokio_postgres::Statement, oid: u32, mut sink: impl FnMut(i64, Vec<u8>)) -> Result<(u64, u64)> {
    let mut h = std::hash::DefaultHasher::new();
    h.write_u32(oid);
    let mut off: i64 = 0;
    loop {
        let chunk: Vec<u8> = client
            .query_one(get, &[&oid, &off, &LO_CHUNK])
            .await
            .map_err(|e| MoveError::pg(side, &format!("read large object {oid}"), e))?
            .get(0);
        let n = chunk.len();
        h.write(&chunk);
        if n > 0 {
            sink(off, chunk);
        }
        off += n as i64;
        if n < LO_CHUNK as usize {
            return Ok((off as u64, h.finish()));
        }
    }
}

/// Copies every large object's contents (the objects themselves, owners and grants were
/// created by the pre-data schema with their OIDs).
pub(crate) async fn copy_large_objects(src: &Client, dst: &Client) -> Result<LoSummary> {
    let oids = lo_oids(src, Side::Source).await?;
    let get = src
        .prepare("SELECT pg_catalog.lo_get($1::oid, $2::int8, $3::int4)")
        .await
        .map_err(|e| MoveError::pg(Side::Source, "prepare large object read", e))?;
    let put = dst
        .prepare("SELECT pg_catalog.lo_put($1::oid, $2::int8, $3::bytea)")
        .await
        .map_err(|e| MoveError::pg(Side::Destination, "prepare large object write", e))?;
    let mut summary = LoSummary::default();
    for batch in oids.chunks(LO_BATCH) {
        // Reads of a batch are pipelined on the source connection, writes on the
        // destination: one round trip per batch rather than per object.
        let reads = future::try_join_all(batch.iter().map(|oid| async {
            let mut chunks = Vec::new();
            let (len, h) = read_lo(src, Side::Source, &get, *oid, |off, c| chunks.push((off, c))).await?;
            Ok::<_, MoveError>((*oid, len, h, chunks))
        }))
        .await?;
        let writes = reads.iter().flat_map(|(oid, _, _, chunks)| chunks.iter().map(move |(off, c)| (oid, off, c)));
        let put = &put;
        future::try_join_all(writes.map(|(oid, off, c)| async move {
            dst.execute(put, &[oid, off, c])
                .await
                .map_err(|e| MoveError::pg(Side::Destination, &format!("write large object {oid}"), e))
        }))
        .await?;
        for (_, len, h, _) in reads {
            summary.count += 1;
            summary.bytes += len;
            summary.sum.merge(Checksum { rows: 1, sum: h });
        }
    }
    Ok(summary)
}

/// Digest of every large object on `client`, computed like the copy's.
pub(crate) async fn digest_large_objects(client: &Client, side: Side) -> Result<LoSummary> {
    let oids = lo_oids(client, side).await?;
    let get = client
        .prepare("SELECT pg_catalog.lo_get($1::oid, $2::int8, $3::int4)")
        .await
        .map_err(|e| MoveError::pg(side, "prepare large object read", e))?;
    let mut summary = LoSummary::default();
    for batch in oids.chunks(LO_BATCH) {
        let sums = future::try_join_all(batch.iter().map(|oid| read_lo(client, side, &get, *oid, |_, _| {}))).await?;
        for (len, h) in sums {
            summary.count += 1;
            summary.bytes += len;
            summary.sum.merge(Checksum { rows: 1, sum: h });
        }
    }
    Ok(summary)
}

/// Sets every sequence to its value read at the snapshot, in one round trip.
pub(crate) async fn set_sequences(dst: &Client, seqs: &[SeqPlan]) -> Result<()> {
    for batch in seqs.chunks(500) {
        let sql: String = batch
            .iter()
            .map(|s| {
                format!(
                    "SELECT pg_catalog.setval({}::regclass, {}, {});\n",
                    literal(&qualified(&s.schema, &s.name)),
                    s.last_value,
                    s.is_called
                )
            })
            .collect();
        dst.batch_execute(&sql).await.map_err(|e| MoveError::pg(Side::Destination, "set sequence values", e))?;
    }
    Ok(())
}

/// Values of `seqs` as the destination has them now.
pub(crate) async fn read_sequences(client: &Client, seqs: &[SeqPlan]) -> Result<Vec<(i64, bool)>> {
    let mut out = Vec::with_capacity(seqs.len());
    for batch in seqs.chunks(200) {
        let sql = batch
            .iter()
            .enumerate()
            .map(|(i, s)| format!("SELECT {i} AS i, last_value, is_called FROM {}", qualified(&s.schema, &s.name)))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut rows = client.query(&sql, &[]).await.map_err(|e| MoveError::pg(Side::Destination, "read sequence values", e))?;
        rows.sort_by_key(|r| r.get::<_, i32>(0));
        out.extend(rows.iter().map(|r| (r.get(1), r.get(2))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary_stream(rows: &[&[Option<&[u8]>]]) -> Vec<u8> {
        let mut v = b"PGCOPY\n\xff\r\n\0".to_vec();
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        for r in rows {
            v.extend_from_slice(&(r.len() as i16).to_be_bytes());
            for f in *r {
                match f {
                    None => v.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(b) => {
                        v.extend_from_slice(&(b.len() as i32).to_be_bytes());
                        v.extend_from_slice(b);
                    }
                }
            }
        }
        v.extend_from_slice(&(-1i16).to_be_bytes());
        v
    }

    #[test]
    fn digest_is_independent_of_chunking_and_order() {
        let a: &[Option<&[u8]>] = &[Some(b"1"), None, Some(b"")];
        let b: &[Option<&[u8]>] = &[Some(b"2"), Some(b"xyz"), None];
        let s1 = binary_stream(&[a, b]);
        let s2 = binary_stream(&[b, a]);
        let mut whole = RowDigest::new(true);
        whole.feed(&s1);
        assert_eq!(whole.sum.rows, 2);
        for cut in 1..s2.len() {
            let mut d = RowDigest::new(true);
            d.feed(&s2[..cut]);
            d.feed(&s2[cut..]);
            assert_eq!(d.sum, whole.sum, "cut at {cut}");
        }
        let mut other = RowDigest::new(true);
        other.feed(&binary_stream(&[a, a]));
        assert_ne!(other.sum, whole.sum);
    }

    #[test]
    fn row_hash_tells_small_differences_apart() {
        let rows: Vec<Vec<u8>> = vec![b"".to_vec(), b"\0".to_vec(), b"\0\0".to_vec(), b"a".to_vec(), b"b".to_vec(), b"abcdefgh".to_vec(), b"abcdefgi".to_vec(), b"abcdefgh\0".to_vec()];
        let hashes: std::collections::HashSet<u64> = rows.iter().map(|r| row_hash(r)).collect();
        assert_eq!(hashes.len(), rows.len());
    }

    #[test]
    fn text_rows_split_on_newlines() {
        let mut d = RowDigest::new(false);
        d.feed(b"1\ta\\nb\n2\t");
        d.feed(b"\\N\n");
        assert_eq!(d.sum.rows, 2);
        let mut e = RowDigest::new(false);
        e.feed(b"2\t\\N\n1\ta\\nb\n");
        assert_eq!(d.sum, e.sum);
    }

    #[test]
    fn ranges_cover_everything() {
        let r = bounded(&[10, 20], |b| format!("k < {b}"), |b| format!("k >= {b}"));
        assert_eq!(r, vec!["k < 10", "k >= 10 AND k < 20", "k >= 20"]);
        assert!(bounded::<i64>(&[], |b| b.to_string(), |b| b.to_string()).is_empty());
    }
}
