//! DescribeResourceUsage and DescribeErrorLogs, shaped as Alibaba's.

use super::{page, parse_time, time, Reply};
use control::{Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{DescribeErrorLogs, DescribeResourceUsage};

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
