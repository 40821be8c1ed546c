//! Performance samples: written by the control plane's sampler, read by
//! DescribeDBInstancePerformance, deleted past their retention.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use super::codec::{get_ts, query_all, ts, Ctx};
use crate::{PerformanceRow, Result};

/// The counter columns, in table order; `performance!` builds the statements and the
/// row from this one list.
macro_rules! performance {
    ($($field:ident),+ $(,)?) => {
        const COLUMNS: &str = concat!("instance_id, sampled_at" $(, ", ", stringify!($field))+);

        fn values(row: &PerformanceRow) -> Vec<rusqlite::types::Value> {
            let mut v: Vec<rusqlite::types::Value> = vec![row.instance_id.clone().into(), ts(&row.sampled_at).into()];
            $(v.push(row.$field.into());)+
            v
        }

        fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<PerformanceRow> {
            Ok(PerformanceRow { instance_id: r.get("instance_id")?, sampled_at: get_ts(r, "sampled_at")?, $($field: r.get(stringify!($field))?),+ })
        }
    };
}

performance!(
    cpu_usec, memory_bytes, total_sessions, active_sessions, queries, transactions, io_reads, io_writes, bytes_received, bytes_sent, rows_read, rows_inserted,
    rows_updated, rows_deleted, com_select, com_insert, com_insert_select, com_update, com_delete, com_replace, com_replace_select, data_bytes, other_bytes,
);

pub(super) fn insert_performance_samples(tx: &Transaction<'_>, rows: &[PerformanceRow]) -> Result<()> {
    let marks = vec!["?"; COLUMNS.split(',').count()].join(", ");
    let sql = format!("INSERT OR REPLACE INTO performance_samples ({COLUMNS}) VALUES ({marks})");
    let mut stmt = tx.prepare_cached(&sql).ctx("record performance samples")?;
    for row in rows {
        stmt.execute(rusqlite::params_from_iter(values(row))).ctx("record a performance sample")?;
    }
    Ok(())
}

/// The samples of `instance_id` taken in [`from`, `to`], and the last one before `from`
/// (the first rate of the window is computed from it), oldest first.
pub(super) fn performance_samples(tx: &Transaction<'_>, instance_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<PerformanceRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM (
             SELECT * FROM (SELECT * FROM performance_samples WHERE instance_id = ?1 AND sampled_at < ?2 ORDER BY sampled_at DESC LIMIT 1)
             UNION ALL
             SELECT * FROM performance_samples WHERE instance_id = ?1 AND sampled_at >= ?2 AND sampled_at <= ?3
         ) ORDER BY sampled_at"
    );
    query_all(tx, "read performance samples", &sql, (instance_id, ts(&from), ts(&to)), read)
}

/// Deletes every sample taken before `before`; answers how many.
pub(super) fn prune_performance_samples(tx: &Transaction<'_>, before: DateTime<Utc>) -> Result<u64> {
    let n = tx.execute("DELETE FROM performance_samples WHERE sampled_at < ?1", [ts(&before)]).ctx("delete old performance samples")?;
    Ok(n as u64)
}

blocking_store! {
    impl crate::PerformanceStore {
        write fn insert_performance_samples(by_ref rows: &[PerformanceRow]) -> ();
        read fn performance_samples(by_ref instance_id: &str, by_val from: DateTime<Utc>, by_val to: DateTime<Utc>) -> Vec<PerformanceRow>;
        write fn prune_performance_samples(by_val before: DateTime<Utc>) -> u64;
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::tests::{instance, store};
    use crate::{InstanceStore, PerformanceRow, PerformanceStore};
    use chrono::{Duration, TimeZone, Utc};

    #[tokio::test]
    async fn a_window_brings_the_sample_before_it_and_retention_deletes_old_ones() {
        let store = store().await;
        let id = "pgm-perf".to_string();
        store.insert_instance(&instance(&id, 0)).await.unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let rows: Vec<_> = (0..5)
            .map(|i| PerformanceRow { instance_id: id.clone(), sampled_at: t0 + Duration::minutes(i), queries: 100 * i, data_bytes: 7, ..Default::default() })
            .collect();
        store.insert_performance_samples(&rows).await.unwrap();
        let window = store.performance_samples(&id, t0 + Duration::seconds(90), t0 + Duration::minutes(3)).await.unwrap();
        assert_eq!(window.iter().map(|r| r.queries).collect::<Vec<_>>(), [100, 200, 300], "the one before the window, then the window");
        assert_eq!(window[0], rows[1], "read back as written");
        assert!(store.performance_samples("other", t0, t0 + Duration::hours(1)).await.unwrap().is_empty());
        assert_eq!(store.prune_performance_samples(t0 + Duration::minutes(2)).await.unwrap(), 2);
        assert_eq!(store.performance_samples(&id, t0, t0 + Duration::hours(1)).await.unwrap().len(), 3);
    }
}
