//! DescribeResourceUsage, DescribeErrorLogs, DescribeSlowLogRecords and DescribeSlowLogs,
//! shaped as Alibaba's.

use super::{page, parse_time, time, Reply};
use control::{Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{DescribeErrorLogs, DescribeResourceUsage, DescribeSlowLogRecords, DescribeSlowLogs};

pub(crate) async fn resource_usage(plane: &ControlPlane, caller: &Caller, p: DescribeResourceUsage) -> Reply {
    let u = plane.resource_usage(caller, &p.instance).await?;
    Ok(json!({
        "DBInstanceId": u.row.id,
        "Engine": u.row.engine,
        "DiskUsed": u.data + u.log,
        "DataSize": u.data,
        "LogSize": u.log,
        "SQLSize": 0,
        "BackupSize": u.backup_data + u.backup_log,
        "BackupDataSize": u.backup_data,
        "BackupLogSize": u.backup_log,
        "ColdBackupSize": 0,
        "ArchiveBackupSize": 0,
        "PaidBackupSize": 0,
        "BackupOssDataSize": 0,
        "BackupOssLogSize": 0,
        "BackupEcsSnapshotSize": "0",
    }))
}

pub(crate) async fn error_logs(plane: &ControlPlane, caller: &Caller, p: DescribeErrorLogs) -> Reply {
    let from = parse_time(Some(&p.start_time), "StartTime")?.unwrap_or_default();
    let to = parse_time(Some(&p.end_time), "EndTime")?.unwrap_or_default() + chrono::Duration::seconds(59);
    if to < from {
        return Err(crate::ServerError::Control(control::ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into())));
    }
    let page = page(p.page, 30, 100)?;
    let entries = plane.error_logs(caller, &p.instance, from, to).await?;
    let items: Vec<_> = entries
        .iter()
        .skip(((page.number - 1) * page.size) as usize)
        .take(page.size as usize)
        .map(|e| {
            let at = chrono::DateTime::from_timestamp_millis(e.at_ms).unwrap_or_default();
            json!({"CreateTime": time(at), "ErrorInfo": e.message, "User": e.user, "Database": e.database, "UserIp": e.client})
        })
        .collect();
    Ok(json!({"Items": {"ErrorLog": items}, "PageNumber": page.number, "PageRecordCount": items.len(), "TotalRecordCount": entries.len()}))
}

/// `SQLHash`: names a statement's text (FNV-1a 64, hex), so the same statement logged
/// twice shares it.
fn sql_hash(sql: &str) -> String {
    let hash = sql.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    format!("{hash:016x}")
}

pub(crate) async fn slow_log_records(plane: &ControlPlane, caller: &Caller, p: DescribeSlowLogRecords) -> Reply {
    let parse = |value: &str, name: &str| {
        chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%MZ"))
            .map(|t| t.and_utc())
            .map_err(|_| super::invalid(name, format!("{value:?} is not a UTC time like 2026-01-01T00:00:00Z")))
    };
    let (from, to) = (parse(&p.start_time, "StartTime")?, parse(&p.end_time, "EndTime")?);
    if to < from {
        return Err(crate::ServerError::Control(control::ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into())));
    }
    let page = page(p.page, 30, 200)?;
    let (row, mut records) = plane.slow_log_records(caller, &p.instance, from, to, p.db_name.as_deref()).await?;
    if let Some(hash) = p.sql_hash.as_deref() {
        records.retain(|r| sql_hash(&r.sql) == hash);
    }
    let items: Vec<_> = records
        .iter()
        .skip(((page.number - 1) * page.size) as usize)
        .take(page.size as usize)
        .map(|r| {
            let started = chrono::DateTime::from_timestamp_millis(r.started_ms).unwrap_or_default();
            json!({
                "SQLText": r.sql,
                "SQLHash": sql_hash(&r.sql),
                "DBName": r.database,
                "UserName": r.user,
                "HostAddress": format!("{}[{}]", r.user, r.client),
                "ClientHostName": r.client,
                "ExecutionStartTime": time(started),
                "QueryTimes": r.duration_ms / 1000,
                "QueryTimeMS": r.duration_ms,
                "LockTimes": r.lock_ms / 1000,
                "LockTimeMS": r.lock_ms,
                "ReturnRowCounts": r.rows_sent,
                "ParseRowCounts": r.rows_examined,
                "RowsAffectedCount": 0,
                "LastRowsAffectedCount": 0,
                "ApplicationName": "",
                "CpuTime": 0,
                "LogicalIORead": 0,
                "PhysicalIORead": 0,
                "WriteIOCount": 0,
            })
        })
        .collect();
    Ok(json!({
        "DBInstanceId": row.id,
        "Engine": row.engine,
        "Items": {"SQLSlowRecord": items},
        "PageNumber": page.number,
        "PageRecordCount": items.len(),
        "TotalRecordCount": records.len(),
    }))
}

/// DescribeSlowLogs: per day, database and statement template, from the slow log; dates
/// `yyyy-MM-ddZ` (both days whole).
pub(crate) async fn slow_logs(plane: &ControlPlane, caller: &Caller, p: DescribeSlowLogs) -> Reply {
    let day = |value: &str, name: &str| {
        chrono::NaiveDate::parse_from_str(value.trim_end_matches('Z'), "%Y-%m-%d").map_err(|_| super::invalid(name, format!("{value:?} is not a UTC date like 2026-01-01Z")))
    };
    let (first, last) = (day(&p.start_time, "StartTime")?, day(&p.end_time, "EndTime")?);
    if last < first {
        return Err(crate::ServerError::Control(control::ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into())));
    }
    let by_time = match p.sort_key.as_deref() {
        None | Some("TotalExecutionCounts" | "TotalLogicalReads" | "TotalPhysicalReads") => false,
        Some("TotalQueryTimes") => true,
        Some(other) => return Err(super::invalid("SortKey", format!("{other:?} is not one of TotalExecutionCounts, TotalQueryTimes, TotalLogicalReads, TotalPhysicalReads"))),
    };
    let page = page(p.page, 30, 100)?;
    let from = first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let to = last.and_hms_opt(23, 59, 59).unwrap_or_default().and_utc();
    let (row, mut stats) = plane.slow_log_stats(caller, &p.instance, from, to, p.db_name.as_deref()).await?;
    stats.sort_by_key(|s| std::cmp::Reverse(if by_time { s.total_ms } else { s.count }));
    let items: Vec<_> = stats
        .iter()
        .enumerate()
        .skip(((page.number - 1) * page.size) as usize)
        .take(page.size as usize)
        .map(|(i, s)| {
            let date = format!("{}Z", s.day.format("%Y-%m-%d"));
            json!({
                "SlowLogId": i + 1,
                "SQLText": s.template,
                "SQLHASH": sql_hash(&s.template),
                "SQLIdStr": sql_hash(&s.template),
                "DBName": s.database,
                "CreateTime": date,
                "ReportTime": date,
                "MySQLTotalExecutionCounts": s.count,
                "MySQLTotalExecutionTimes": s.total_ms / 1000,
                "AvgExecutionTime": s.total_ms / s.count.max(1) / 1000,
                "MaxExecutionTime": s.max_ms / 1000,
                "MaxExecutionTimeMS": s.max_ms,
                "TotalLockTimes": s.total_lock_ms / 1000,
                "MaxLockTime": s.max_lock_ms / 1000,
                "MaxLockTimeMS": s.max_lock_ms,
                "ParseTotalRowCounts": s.rows_examined,
                "ParseMaxRowCount": s.max_rows_examined,
                "ReturnTotalRowCounts": s.rows_sent,
                "ReturnMaxRowCount": s.max_rows_sent,
                "TotalLogicalReadCounts": 0,
                "TotalPhysicalReadCounts": 0,
                "TotalIOWriteCounts": 0,
                "TotalRowsAffectedCounts": 0,
                "TotalLastRowsAffectedCounts": 0,
            })
        })
        .collect();
    Ok(json!({
        "DBInstanceId": row.id,
        "Engine": row.engine,
        "StartTime": format!("{}Z", first.format("%Y-%m-%d")),
        "EndTime": format!("{}Z", last.format("%Y-%m-%d")),
        "Items": {"SQLSlowLog": items},
        "PageNumber": page.number,
        "PageRecordCount": items.len(),
        "TotalRecordCount": stats.len(),
    }))
}
