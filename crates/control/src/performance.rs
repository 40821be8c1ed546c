//! DescribeDBInstancePerformance: a background job samples the counters of every
//! instance whose engine runs, every `performance_sample_every` (a minute by default),
//! into the metadata store, and deletes the samples older than `performance_retention`
//! (7 days). A call reads the samples of its window and computes each key's figures
//! between consecutive samples: counters as rates per second, gauges as sampled.
//!
//! Which keys an instance answers for is its engine's (`Catalogue::performance_keys`):
//! Alibaba names them per engine (`MySQL_*` for MySQL and MariaDB).

use crate::supervisor::WRITING;
use crate::{Caller, ControlError, ControlPlane, Result};
use chrono::{DateTime, Utc};
use engine::{PerformanceKey, PerformanceSample};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use store::{InstanceRow, PerformanceRow};
use wire::Action;

/// Alibaba's limit on the keys of one call.
pub const MAX_KEYS: usize = 30;
/// Instances sampled at once: a fleet's round fits its period without opening a
/// connection to every server at the same moment.
const SAMPLED_AT_ONCE: usize = 8;
/// The least time an instance has to answer for its sample (a round's period when longer).
const SAMPLE_DEADLINE_FLOOR: Duration = Duration::from_secs(10);

/// One key's points in a window.
#[derive(Debug, Clone)]
pub struct PerformanceSeries {
    pub key: &'static PerformanceKey,
    /// (when sampled, the figures joined by `&`), oldest first.
    pub points: Vec<(DateTime<Utc>, String)>,
}

impl ControlPlane {
    /// The figures of `keys` (a comma-separated list) for the instance `id` between
    /// `from` and `to`. A key the instance's engine does not answer for is refused.
    pub async fn performance(&self, caller: &Caller, id: &str, keys: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(InstanceRow, Vec<PerformanceSeries>)> {
        let row = self.authorized_instance(caller, Action::DescribeDBInstancePerformance, id).await?;
        let catalogue = self.engine_of(&row)?.catalogue();
        let names: Vec<&str> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        if names.is_empty() || names.len() > MAX_KEYS {
            return Err(invalid_key(format!("give 1 to {MAX_KEYS} keys, comma-separated")));
        }
        let offered = || catalogue.performance_keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
        let mut wanted: Vec<&'static PerformanceKey> = Vec::with_capacity(names.len());
        for name in names {
            let key = catalogue
                .performance_keys
                .iter()
                .find(|k| k.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| invalid_key(format!("{name:?} is not a key of {} instances; use one of {}", catalogue.kind, offered())))?;
            if !wanted.contains(&key) {
                wanted.push(key);
            }
        }
        let settings = self.spec(&row)?.settings;
        let samples: Vec<(DateTime<Utc>, PerformanceSample)> = self.store.performance_samples(&row.id, from, to).await?.into_iter().map(|r| (r.sampled_at, sample_of(&r))).collect();
        let series = wanted
            .into_iter()
            .map(|key| PerformanceSeries {
                key,
                points: samples
                    .windows(2)
                    .filter(|w| w[1].0 >= from)
                    .map(|w| {
                        let secs = (w[1].0 - w[0].0).num_milliseconds() as f64 / 1000.0;
                        (w[1].0, key.value(&w[0].1, &w[1].1, secs, settings.cpu, settings.memory_mb))
                    })
                    .collect(),
            })
            .collect();
        Ok((row, series))
    }

    /// Samples, every `performance_sample_every`, each instance whose engine runs, and
    /// deletes the samples past their retention. Instances are sampled a few at a time,
    /// each within a deadline, so that one server slow to answer (restarting, swapping,
    /// its disk saturated) costs only its own point, not every other instance's.
    pub(crate) fn spawn_performance_sampler(&self) {
        let Some(plane) = self.self_arc() else { return };
        crate::supervisor::on_instances_in(&plane, self.config.performance_sample_every, WRITING, |plane, rows| async move {
            let began = std::time::Instant::now();
            let deadline = plane.config.performance_sample_every.max(SAMPLE_DEADLINE_FLOOR);
            let permits = Arc::new(Semaphore::new(SAMPLED_AT_ONCE));
            let mut sampling = JoinSet::new();
            for row in rows {
                let (plane, permits) = (plane.clone(), permits.clone());
                sampling.spawn(async move {
                    let _permit = permits.acquire_owned().await.ok()?;
                    match tokio::time::timeout(deadline, plane.sample_performance(&row)).await {
                        Ok(Ok(sample)) => Some(sample),
                        // A server restarting or stopped meanwhile: the next round samples it.
                        Ok(Err(e)) => {
                            tracing::debug!(instance = %row.id, error = %e, "could not sample the instance's performance");
                            None
                        }
                        Err(_) => {
                            tracing::warn!(instance = %row.id, ?deadline, "the instance did not answer for its performance sample in time; it has no point this round");
                            None
                        }
                    }
                });
            }
            let mut taken = Vec::with_capacity(sampling.len());
            loop {
                tokio::select! {
                    _ = plane.shutdown.cancelled() => return,
                    next = sampling.join_next() => match next {
                        Some(Ok(Some(sample))) => taken.push(sample),
                        Some(_) => {}
                        None => break,
                    },
                }
            }
            if began.elapsed() > plane.config.performance_sample_every {
                tracing::warn!(took = ?began.elapsed(), instances = taken.len(), "a performance sampling round took longer than its period");
            }
            if let Err(e) = plane.store.insert_performance_samples(&taken).await {
                tracing::warn!(error = %e, "could not record performance samples");
            }
            let retention = chrono::Duration::from_std(plane.config.performance_retention).unwrap_or(chrono::Duration::days(7));
            if let Err(e) = plane.store.prune_performance_samples(Utc::now() - retention).await {
                tracing::warn!(error = %e, "could not delete old performance samples");
            }
        });
    }

    async fn sample_performance(&self, row: &InstanceRow) -> Result<PerformanceRow> {
        let (engine, spec) = (self.engine_of(row)?, self.spec(row)?);
        let mut sample = engine.performance(&spec).await?;
        sample.data_bytes = engine.disk_used(&spec).await.unwrap_or(0);
        let dir = spec.dir.clone();
        let on_disk = engine::backup::blocking(move || Ok(engine::backup::size_of(&dir))).await?;
        sample.other_bytes = on_disk.saturating_sub(sample.data_bytes);
        Ok(row_of(&row.id, Utc::now(), &sample))
    }
}

fn invalid_key(reason: String) -> ControlError {
    ControlError::InvalidParameter { name: "Key".into(), reason }
}

/// Counters are stored as SQLite's signed integers; none comes near 2^63.
fn row_of(id: &str, at: DateTime<Utc>, s: &PerformanceSample) -> PerformanceRow {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    PerformanceRow {
        instance_id: id.to_string(),
        sampled_at: at,
        cpu_usec: n(s.cpu_usec),
        memory_bytes: n(s.memory_bytes),
        total_sessions: n(s.total_sessions),
        active_sessions: n(s.active_sessions),
        queries: n(s.queries),
        transactions: n(s.transactions),
        io_reads: n(s.io_reads),
        io_writes: n(s.io_writes),
        bytes_received: n(s.bytes_received),
        bytes_sent: n(s.bytes_sent),
        rows_read: n(s.rows_read),
        rows_inserted: n(s.rows_inserted),
        rows_updated: n(s.rows_updated),
        rows_deleted: n(s.rows_deleted),
        com_select: n(s.com_select),
        com_insert: n(s.com_insert),
        com_insert_select: n(s.com_insert_select),
        com_update: n(s.com_update),
        com_delete: n(s.com_delete),
        com_replace: n(s.com_replace),
        com_replace_select: n(s.com_replace_select),
        data_bytes: n(s.data_bytes),
        other_bytes: n(s.other_bytes),
    }
}

fn sample_of(r: &PerformanceRow) -> PerformanceSample {
    let n = |v: i64| v.max(0) as u64;
    PerformanceSample {
        cpu_usec: n(r.cpu_usec),
        memory_bytes: n(r.memory_bytes),
        total_sessions: n(r.total_sessions),
        active_sessions: n(r.active_sessions),
        queries: n(r.queries),
        transactions: n(r.transactions),
        io_reads: n(r.io_reads),
        io_writes: n(r.io_writes),
        bytes_received: n(r.bytes_received),
        bytes_sent: n(r.bytes_sent),
        rows_read: n(r.rows_read),
        rows_inserted: n(r.rows_inserted),
        rows_updated: n(r.rows_updated),
        rows_deleted: n(r.rows_deleted),
        com_select: n(r.com_select),
        com_insert: n(r.com_insert),
        com_insert_select: n(r.com_insert_select),
        com_update: n(r.com_update),
        com_delete: n(r.com_delete),
        com_replace: n(r.com_replace),
        com_replace_select: n(r.com_replace_select),
        data_bytes: n(r.data_bytes),
        other_bytes: n(r.other_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_survives_the_store_row() {
        let s = PerformanceSample { cpu_usec: 1, memory_bytes: 2, queries: 3, com_replace_select: 4, other_bytes: 5, ..Default::default() };
        assert_eq!(sample_of(&row_of("i", Utc::now(), &s)), s);
    }
}
