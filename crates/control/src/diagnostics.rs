//! What an instance uses and what went wrong on it: DescribeResourceUsage (its disk, its
//! backups and archived logs), DescribeErrorLogs (the errors its server logged) and
//! DescribeSlowLogRecords (the statements it logged as slow).

use crate::{Caller, ControlPlane, Result};
use chrono::{DateTime, Utc};
use store::{BackupFilter, BackupStatus, InstanceRow};
use wire::Action;

/// DescribeResourceUsage's figures, in bytes.
#[derive(Debug, Clone)]
pub struct ResourceUsage {
    pub row: InstanceRow,
    /// The databases' data, as the engine measures it.
    pub data: u64,
    /// Everything else of the instance on disk: the engine's logs (WAL, binary and redo
    /// logs, the server log), its catalogs and configuration.
    pub log: u64,
    /// Successful backup sets of the instance.
    pub backup_data: u64,
    /// Its archived log.
    pub backup_log: u64,
}

/// One statement template's slow executions on one day (DescribeSlowLogs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowLogStat {
    pub day: chrono::NaiveDate,
    pub database: String,
    /// The statement with its literals as `?`.
    pub template: String,
    pub count: i64,
    pub total_ms: i64,
    pub max_ms: i64,
    pub total_lock_ms: i64,
    pub max_lock_ms: i64,
    pub rows_examined: i64,
    pub max_rows_examined: i64,
    pub rows_sent: i64,
    pub max_rows_sent: i64,
}

/// A statement with its literals (quoted strings, numbers) as `?` and its blanks as one
/// space: statements that differ only in their values share it.
pub fn sql_template(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut prev_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A string literal, '' escaping a quote.
                while let Some(n) = chars.next() {
                    if n == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
                prev_word = false;
            }
            c if c.is_ascii_digit() && !prev_word => {
                while chars.peek().is_some_and(|n| n.is_ascii_digit() || *n == '.') {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
                prev_word = false;
            }
            c => {
                prev_word = c.is_alphanumeric() || c == '_';
                out.push(c);
            }
        }
    }
    out.trim_end().to_string()
}

impl ControlPlane {
    pub async fn resource_usage(&self, caller: &Caller, id: &str) -> Result<ResourceUsage> {
        let row = self.authorized_instance(caller, Action::DescribeResourceUsage, id).await?;
        let engine = self.engine_of(&row)?;
        let spec = self.spec(&row)?;
        let data = engine.disk_used(&spec).await.unwrap_or(0);
        let (dir, logs) = (spec.dir.clone(), self.logs_dir(&row.id));
        let (on_disk, backup_log) = engine::backup::blocking(move || Ok((engine::backup::size_of(&dir), engine::backup::size_of(&logs)))).await?;
        let sets = BackupFilter {
            account_uid: Some(row.account_uid.clone()),
            instance_id: Some(row.id.clone()),
            status: Some(vec![BackupStatus::Success]),
            ..Default::default()
        };
        let backup_data = self.store.list_backups(&sets, None).await?.items.iter().map(|b| b.size_bytes.max(0) as u64).sum();
        Ok(ResourceUsage { log: on_disk.saturating_sub(data), data, backup_data, backup_log, row })
    }

    /// DescribeSlowLogRecords: the statements the instance's server logged as slow that
    /// started in [`from`, `to`], of database `db` if given.
    pub async fn slow_log_records(&self, caller: &Caller, id: &str, from: DateTime<Utc>, to: DateTime<Utc>, db: Option<&str>) -> Result<(InstanceRow, Vec<engine::SlowQuery>)> {
        let row = self.authorized_instance(caller, Action::DescribeSlowLogRecords, id).await?;
        let engine = self.engine_of(&row)?;
        let mut records = engine.slow_log(&self.spec(&row)?, from.timestamp_millis(), to.timestamp_millis()).await?;
        if let Some(db) = db {
            records.retain(|r| r.database == db);
        }
        Ok((row, records))
    }

    /// DescribeSlowLogs: the slow statements of [`from`, `to`] grouped by day, database
    /// and template (the text with its literals as `?`), busiest first.
    pub async fn slow_log_stats(&self, caller: &Caller, id: &str, from: DateTime<Utc>, to: DateTime<Utc>, db: Option<&str>) -> Result<(InstanceRow, Vec<SlowLogStat>)> {
        let row = self.authorized_instance(caller, Action::DescribeSlowLogs, id).await?;
        let engine = self.engine_of(&row)?;
        let mut records = engine.slow_log(&self.spec(&row)?, from.timestamp_millis(), to.timestamp_millis()).await?;
        if let Some(db) = db {
            records.retain(|r| r.database == db);
        }
        let mut groups: std::collections::BTreeMap<(chrono::NaiveDate, String, String), SlowLogStat> = std::collections::BTreeMap::new();
        for r in &records {
            let day = DateTime::from_timestamp_millis(r.started_ms).unwrap_or_default().date_naive();
            let template = sql_template(&r.sql);
            let stat = groups.entry((day, r.database.clone(), template.clone())).or_insert_with(|| SlowLogStat { day, database: r.database.clone(), template, ..SlowLogStat::default() });
            stat.count += 1;
            stat.total_ms += r.duration_ms;
            stat.max_ms = stat.max_ms.max(r.duration_ms);
            stat.total_lock_ms += r.lock_ms;
            stat.max_lock_ms = stat.max_lock_ms.max(r.lock_ms);
            stat.rows_examined += r.rows_examined;
            stat.max_rows_examined = stat.max_rows_examined.max(r.rows_examined);
            stat.rows_sent += r.rows_sent;
            stat.max_rows_sent = stat.max_rows_sent.max(r.rows_sent);
        }
        Ok((row, groups.into_values().collect()))
    }

    /// DescribeErrorLogs: the errors the instance's server logged in [`from`, `to`].
    pub async fn error_logs(&self, caller: &Caller, id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<engine::ErrorLogEntry>> {
        let row = self.authorized_instance(caller, Action::DescribeErrorLogs, id).await?;
        let engine = self.engine_of(&row)?;
        Ok(engine.error_log(&self.spec(&row)?, from.timestamp_millis(), to.timestamp_millis()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_hide_values_and_keep_names() {
        assert_eq!(sql_template("SELECT pg_sleep(1.5)"), "SELECT pg_sleep(?)");
        assert_eq!(sql_template("SELECT  *\n FROM t2 WHERE name = 'o''brien' AND id > 42"), "SELECT * FROM t2 WHERE name = ? AND id > ?");
        assert_eq!(sql_template("select sleep(2)"), sql_template("select sleep(3)"));
    }
}
