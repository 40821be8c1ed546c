//! DescribeDBInstancePerformance's counters, from `SHOW GLOBAL STATUS`, and the CPU and
//! memory of the server's process from the host.

use super::sql::my_error;
use super::MariaDbEngine;
use engine::lifecycle::ServerLifecycle;
use engine::{EngineError, InstanceSpec, PerformanceSample};
use mysql_async::prelude::*;
use std::collections::HashMap;

impl MariaDbEngine {
    pub(super) async fn performance_sample(&self, spec: &InstanceSpec) -> Result<PerformanceSample, EngineError> {
        let mut c = self.connect(spec).await?;
        let rows: Vec<(String, String)> = c.query("SHOW GLOBAL STATUS").await.map_err(|e| my_error(e, "read the server's status"))?;
        let _ = c.disconnect().await;
        let status: HashMap<String, u64> = rows.into_iter().filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.parse().ok()?))).collect();
        let n = |name: &str| status.get(&name.to_ascii_lowercase()).copied().unwrap_or(0);
        let (id, pid) = (spec.id.clone(), self.server_pid(spec));
        let used = engine::backup::blocking(move || Ok(engine::isolation::resource_use(&id, pid))).await?;
        let total_sessions = n("Threads_connected").saturating_sub(1);
        Ok(PerformanceSample {
            cpu_usec: used.cpu_usec,
            memory_bytes: used.memory_bytes,
            // openrds's own connection, running this statement, is one of each; the event
            // scheduler's thread runs without being a connection.
            total_sessions,
            active_sessions: n("Threads_running").saturating_sub(1).min(total_sessions),
            queries: n("Questions"),
            // As RDS MySQL counts them: explicit commits and rollbacks.
            transactions: n("Com_commit") + n("Com_rollback"),
            io_reads: n("Innodb_data_reads"),
            io_writes: n("Innodb_data_writes"),
            bytes_received: n("Bytes_received"),
            bytes_sent: n("Bytes_sent"),
            // MariaDB 10.6 dropped the Innodb_rows_* counters; the handler calls count the
            // same rows (of every engine, InnoDB being the one used).
            rows_read: n("Rows_read"),
            rows_inserted: n("Handler_write"),
            rows_updated: n("Handler_update"),
            rows_deleted: n("Handler_delete"),
            com_select: n("Com_select"),
            com_insert: n("Com_insert"),
            com_insert_select: n("Com_insert_select"),
            com_update: n("Com_update"),
            com_delete: n("Com_delete"),
            com_replace: n("Com_replace"),
            com_replace_select: n("Com_replace_select"),
            ..PerformanceSample::default()
        })
    }
}
