//! Data: COPY streamed from a source session (inside the snapshot) into a destination
//! session through the relay (see `relay`), with no file in between and no decoding of
//! rows; the servers' own `COPY n` counts are compared.
//!
//! Verification reads the source once: the relay hashes every row as it passes (count and
//! an order-independent sum of 64-bit hashes of each row's bytes in the COPY format), the
//! destination's load must report as many rows, and once the table is loaded the
//! destination counts its rows ([`Verification::Stream`]) or reads every row back in the
//! same format to be hashed the same way ([`Verification::ReadBack`]).
//!
//! [`Verification::Stream`]: mover::Verification::Stream
//! [`Verification::ReadBack`]: mover::Verification::ReadBack

use super::conn::{literal, qualified};
use super::error::{pg_error, Result};
use mover::{MoveError, Side};
use super::plan::{SeqPlan, TablePlan};
use mover::progress::TableCounter;
use super::relay::{self, RawSession, StreamRows};
use futures_util::future;
use mover::RowDigest;
use std::hash::Hasher;
use tokio_postgres::Client;

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

/// How one part of a table is loaded.
pub(crate) struct PartLoad<'a> {
    pub binary: bool,
    /// The part's WHERE clause; `None` for the whole table.
    pub range: Option<&'a str>,
    /// One session owns the whole table: it is truncated and loaded in one transaction
    /// so rows arrive frozen and visible-all (no later hint-bit or freeze writes).
    pub freeze: bool,
    /// With `freeze`, the destination session may load `char(n)` columns without their
    /// length check (it is a superuser; see [`lengths_unchecked`]).
    pub unchecked_lengths: bool,
}

/// Lifts the length check of `t`'s `char(n)` columns for the rest of the loading
/// transaction, which [`lengths_restored`] puts back before it commits.
///
/// Every value arrives exactly as the source stores it, padded to its length (the source
/// column is the same `char(n)` in the same encoding), so the check can only pass; yet
/// in a multibyte database it counts the characters of every value, one call per
/// character: a third of the loading backend's time on a table such as pgbench's. Done
/// in the transaction that truncated the table, the change is never visible to another
/// session and is undone by any failure; the verification then checks the rows loaded.
fn lengths_unchecked(t: &TablePlan) -> String {
    let names: Vec<String> = t.fixed_chars.iter().map(|(name, _)| literal(name)).collect();
    format!(
        "UPDATE pg_catalog.pg_attribute SET atttypmod = -1 WHERE attrelid = {}::pg_catalog.regclass \
         AND atttypid = 'pg_catalog.bpchar'::pg_catalog.regtype AND attname IN ({})",
        literal(&t.qualified()),
        names.join(", ")
    )
}

/// Puts back the declared lengths [`lengths_unchecked`] lifted.
fn lengths_restored(t: &TablePlan) -> String {
    let values: Vec<String> = t.fixed_chars.iter().map(|(name, typmod)| format!("({}, {typmod})", literal(name))).collect();
    format!(
        "UPDATE pg_catalog.pg_attribute a SET atttypmod = v.typmod FROM (VALUES {}) AS v(name, typmod) \
         WHERE a.attrelid = {}::pg_catalog.regclass AND a.atttypid = 'pg_catalog.bpchar'::pg_catalog.regtype \
         AND a.attname = v.name::pg_catalog.name",
        values.join(", "),
        literal(&t.qualified())
    )
}

/// Copies one part of a table through the relay; returns the rows loaded and the digest of
/// the rows sent. Dropping the future closes the sessions mid-COPY, which aborts the load
/// on the server.
pub(crate) async fn copy_part(src: &mut RawSession, dst: &mut RawSession, t: &TablePlan, how: &PartLoad<'_>, counter: &TableCounter) -> Result<(u64, RowDigest)> {
    let PartLoad { binary, range, freeze, unchecked_lengths } = *how;
    let unchecked = freeze && unchecked_lengths && !t.fixed_chars.is_empty();
    let what = format!("copy {}", t.display());
    if freeze {
        let lift = if unchecked { format!("; {}", lengths_unchecked(t)) } else { String::new() };
        dst.simple(&format!("BEGIN; TRUNCATE ONLY {}{lift}", t.qualified()), &what).await?;
    }
    // A binary stream carries one row per CopyData message plus a trailer message; the
    // exact counts come from the servers at the end, so progress holds one row back.
    let mut messages_seen = 0u64;
    let mut rows_reported = 0u64;
    let mut rows = StreamRows::new(binary);
    let (out_sql, in_sql) = (copy_out_sql(t, binary, range), copy_in_sql(t, binary, freeze));
    let (sent, loaded) = relay::relay(src, &out_sql, dst, &in_sql, &what, &mut rows, |messages, bytes| {
        messages_seen += messages;
        let rows = messages_seen.saturating_sub(1);
        counter.add(rows - rows_reported, bytes);
        rows_reported = rows;
    })
    .await?;
    counter.add(sent.saturating_sub(rows_reported), 0);
    if freeze {
        let restore = if unchecked { format!("{}; ", lengths_restored(t)) } else { String::new() };
        dst.simple(&format!("{restore}COMMIT"), &what).await?;
    }
    if loaded != sent || rows.digest.rows != sent {
        return Err(MoveError::VerificationFailed {
            database: String::new(),
            table: t.display(),
            detail: format!("{sent} rows read from the source ({} streamed) but {loaded} loaded", rows.digest.rows),
        });
    }
    Ok((loaded, rows.digest))
}

/// Rows of `t` in the committed destination table (the same rows the copy selected).
pub(crate) async fn count_rows(client: &Client, t: &TablePlan) -> Result<u64> {
    let filter = t.filter.as_deref().unwrap_or("");
    let r = client
        .query_one(&format!("SELECT count(*) FROM ONLY {} {filter}", t.qualified()), &[])
        .await
        .map_err(|e| pg_error(Side::Destination, &format!("count the rows of {}", t.display()), e))?;
    Ok(r.get::<_, i64>(0) as u64)
}

/// Every row of the loaded `t` read back from the destination in the format it was
/// copied in, hashed as the relay hashed the source's.
pub(crate) async fn read_back(dst: &mut RawSession, t: &TablePlan, binary: bool) -> Result<RowDigest> {
    let what = format!("read back {}", t.display());
    let (count, digest) = relay::read_back(dst, &copy_out_sql(t, binary, None), binary, &what).await?;
    if count != digest.rows {
        return Err(MoveError::Internal(format!("{what}: the server counted {count} rows, {} were read", digest.rows)));
    }
    Ok(digest)
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
            .map_err(|e| pg_error(Side::Source, &what, e))?;
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
        .map_err(|e| pg_error(Side::Source, &what, e))?
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
    pub sum: RowDigest,
}

async fn lo_oids(client: &Client, side: Side) -> Result<Vec<u32>> {
    Ok(client
        .query("SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid", &[])
        .await
        .map_err(|e| pg_error(side, "list large objects", e))?
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
            .map_err(|e| pg_error(side, &format!("read large object {oid}"), e))?
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
        .map_err(|e| pg_error(Side::Source, "prepare large object read", e))?;
    let put = dst
        .prepare("SELECT pg_catalog.lo_put($1::oid, $2::int8, $3::bytea)")
        .await
        .map_err(|e| pg_error(Side::Destination, "prepare large object write", e))?;
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
                .map_err(|e| pg_error(Side::Destination, &format!("write large object {oid}"), e))
        }))
        .await?;
        for (_, len, h, _) in reads {
            summary.count += 1;
            summary.bytes += len;
            summary.sum.merge(RowDigest { rows: 1, sum: h });
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
        .map_err(|e| pg_error(side, "prepare large object read", e))?;
    let mut summary = LoSummary::default();
    for batch in oids.chunks(LO_BATCH) {
        let sums = future::try_join_all(batch.iter().map(|oid| read_lo(client, side, &get, *oid, |_, _| {}))).await?;
        for (len, h) in sums {
            summary.count += 1;
            summary.bytes += len;
            summary.sum.merge(RowDigest { rows: 1, sum: h });
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
        dst.batch_execute(&sql).await.map_err(|e| pg_error(Side::Destination, "set sequence values", e))?;
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
        let mut rows = client.query(&sql, &[]).await.map_err(|e| pg_error(Side::Destination, "read sequence values", e))?;
        rows.sort_by_key(|r| r.get::<_, i32>(0));
        out.extend(rows.iter().map(|r| (r.get(1), r.get(2))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything() {
        let r = bounded(&[10, 20], |b| format!("k < {b}"), |b| format!("k >= {b}"));
        assert_eq!(r, vec!["k < 10", "k >= 10 AND k < 20", "k >= 20"]);
        assert!(bounded::<i64>(&[], |b| b.to_string(), |b| b.to_string()).is_empty());
    }
}
