//! DescribeDBInstancePerformance's counters: connections from `pg_stat_activity`,
//! transactions, block reads and row counts from `pg_stat_database`, buffers written from
//! `pg_stat_bgwriter` (PostgreSQL 15 has no `pg_stat_io`), CPU and memory of the
//! cluster's processes from the host.

use super::sql::pg_error;
use super::PostgresEngine;
use engine::lifecycle::ServerLifecycle;
use engine::{EngineError, InstanceSpec, PerformanceSample};

/// One statement, so the figures are of one instant. openrds's own session is left out
/// of the connections.
const COUNTERS: &str = "SELECT
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::bigint,
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid())::bigint,
    coalesce(sum(xact_commit + xact_rollback), 0)::bigint,
    coalesce(sum(blks_read), 0)::bigint,
    (SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter)::bigint,
    coalesce(sum(tup_returned), 0)::bigint,
    coalesce(sum(tup_inserted), 0)::bigint,
    coalesce(sum(tup_updated), 0)::bigint,
    coalesce(sum(tup_deleted), 0)::bigint
  FROM pg_stat_database";

impl PostgresEngine {
    pub(super) async fn performance_sample(&self, spec: &InstanceSpec) -> Result<PerformanceSample, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let row = c.query_one(COUNTERS, &[]).await.map_err(|e| pg_error(e, &format!("read the statistics of instance {}", spec.id)))?;
        let n = |i: usize| row.get::<_, Option<i64>>(i).unwrap_or(0).max(0) as u64;
        let (id, pid) = (spec.id.clone(), self.server_pid(spec));
        let used = engine::backup::blocking(move || Ok(engine::isolation::resource_use(&id, pid))).await?;
        let transactions = n(2);
        Ok(PerformanceSample {
            cpu_usec: used.cpu_usec,
            memory_bytes: used.memory_bytes,
            total_sessions: n(0),
            active_sessions: n(1),
            // Statements are not counted without pg_stat_statements.
            queries: transactions,
            transactions,
            io_reads: n(3),
            io_writes: n(4),
            rows_read: n(5),
            rows_inserted: n(6),
            rows_updated: n(7),
            rows_deleted: n(8),
            ..PerformanceSample::default()
        })
    }
}
