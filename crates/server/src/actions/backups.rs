//! Backups and restores: CreateBackup, DescribeBackups, DescribeBackupTasks, DeleteBackup,
//! CloneDBInstance, RecoveryDBInstance, the backup policy and the log archive, shaped as
//! Alibaba's (counts of DescribeBackups are strings there).

use super::{list, page, parse_time, time, Reply};
use chrono::Utc;
use control::backups::{BackupQuery, BackupRequest, CloneRequest, LogFile};
use control::recovery::RecoveryRequest;
use wire::Action;
use control::model::{BackupMode, BackupRow, BackupStatus};
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use wire::parameters::{CloneDBInstance, CreateBackup, DeleteBackup, DescribeBackupPolicy, DescribeBackupTasks, DescribeBackups, DescribeBinlogFiles, DescribeLogBackupFiles, ModifyBackupPolicy, RecoveryDBInstance};

pub(crate) async fn create(plane: &ControlPlane, caller: &Caller, p: CreateBackup) -> Reply {
    let req = BackupRequest { method: p.method, strategy: p.strategy, backup_type: p.backup_type };
    let id = plane.create_backup(caller, &p.instance, req).await?;
    Ok(json!({"BackupJobId": id.to_string()}))
}


fn mode(value: Option<&str>) -> Result<Option<BackupMode>, crate::ServerError> {
    value.map(|m| BackupMode::parse(m).ok_or_else(|| super::invalid("BackupMode", format!("{m:?} is not one of Automated, Manual")))).transpose()
}

fn backup_item(b: &BackupRow) -> Value {
    json!({
        "BackupId": b.id.to_string(),
        "DBInstanceId": b.instance_id,
        "HostInstanceID": b.instance_id,
        "BackupStatus": b.status,
        "BackupStartTime": time(b.started_at.unwrap_or(b.created_at)),
        "BackupEndTime": b.finished_at.map(time).unwrap_or_default(),
        "BackupType": "FullBackup",
        "BackupMode": b.mode,
        "BackupMethod": "Physical",
        "BackupInitiator": if b.mode == BackupMode::Manual { "User" } else { "System" },
        "BackupSize": b.size_bytes,
        "ConsistentTime": b.consistent_at.map(|t| t.timestamp()).unwrap_or(0),
        "Checksum": b.checksum,
        "Engine": b.engine,
        "EngineVersion": b.engine_version,
        "IsAvail": i32::from(b.status == BackupStatus::Success),
        "StoreStatus": "Enabled",
        "MetaStatus": "OK",
        "StorageClass": "0",
        "Encryption": "{}",
        "CopyOnlyBackup": "0",
        "BackupDownloadURL": "",
        "BackupIntranetDownloadURL": "",
        "BackupDownloadLinkByDB": {"BackupDownloadLinkByDB": []},
        "BackupError": b.error,
    })
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeBackups) -> Reply {
    let from = parse_time(p.start_time.as_deref(), "StartTime")?;
    // EndTime names a minute; everything within it is included.
    let to = parse_time(p.end_time.as_deref(), "EndTime")?.map(|t| t + chrono::Duration::seconds(59));
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(crate::ServerError::Control(control::ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into())));
        }
    }
    let status = match p.status.as_deref() {
        None => None,
        Some(s @ ("Success" | "Failed")) => BackupStatus::parse(s),
        Some(other) => return Err(super::invalid("BackupStatus", format!("{other:?} is not one of Success, Failed"))),
    };
    let page = page(p.page, 30, 100)?;
    let incremental_only = match p.backup_type.as_deref() {
        None | Some("FullBackup") => false,
        Some("IncrementalBackup") => true,
        Some(other) => return Err(super::invalid("BackupType", format!("{other:?} is not one of FullBackup, IncrementalBackup"))),
    };
    // A BackupId that is no number names no set: an empty page, as for an unknown one.
    let backup_id = match p.backup_id.as_deref().map(str::parse::<i64>) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => Some(0),
        None => None,
    };
    let query = BackupQuery { backup_id, status, mode: mode(p.mode.as_deref())?, from, to };
    let listed = plane.list_backups(caller, &p.instance, query, page).await?;
    // openrds takes full backups only.
    let (items, total) = if incremental_only { (Vec::new(), 0) } else { (listed.items.iter().map(backup_item).collect::<Vec<_>>(), listed.total) };
    Ok(json!({
        "Items": {"Backup": items},
        "PageNumber": page.number.to_string(),
        "PageRecordCount": items.len().to_string(),
        "TotalRecordCount": total.to_string(),
        "TotalEcsSnapshotSize": 0,
    }))
}

/// A job's state as DescribeBackupTasks spells it.
fn job_status(status: BackupStatus) -> &'static str {
    match status {
        BackupStatus::Pending => "NoStart",
        BackupStatus::Running => "Progressing",
        BackupStatus::Success => "Finished",
        BackupStatus::Failed => "Failed",
    }
}

fn job_item(b: &BackupRow) -> Value {
    let percent = match b.status {
        BackupStatus::Success => 100,
        _ if b.bytes_expected > 0 => (b.bytes_done.saturating_mul(100) / b.bytes_expected).clamp(0, 99),
        _ => 0,
    };
    // From the rate so far; none until a second of it is known.
    let seconds_left = match (b.status, b.started_at) {
        (BackupStatus::Running, Some(started)) if b.bytes_done > 0 && b.bytes_expected > b.bytes_done => {
            let elapsed = (Utc::now() - started).num_milliseconds().max(1) as f64 / 1000.0;
            let rate = b.bytes_done as f64 / elapsed;
            json!(((b.bytes_expected - b.bytes_done) as f64 / rate).ceil() as i64)
        }
        _ => Value::Null,
    };
    json!({
        "BackupJobId": b.id.to_string(),
        "BackupId": if b.status == BackupStatus::Success { b.id.to_string() } else { String::new() },
        "BackupStatus": job_status(b.status),
        "BackupProgressStatus": job_status(b.status),
        "JobMode": b.mode,
        "Process": percent.to_string(),
        "TaskAction": "NormalBackup",
        "BackupBytesDone": b.bytes_done,
        "BackupBytesExpected": b.bytes_expected,
        "EstimatedSecondsLeft": seconds_left,
        "Attempts": b.attempts,
        "Error": b.error,
    })
}

pub(crate) async fn tasks(plane: &ControlPlane, caller: &Caller, p: DescribeBackupTasks) -> Reply {
    let status = match p.job_status.as_deref() {
        None => None,
        Some("NoStart") => Some(BackupStatus::Pending),
        Some("Progressing") => Some(BackupStatus::Running),
        Some("Finished") => Some(BackupStatus::Success),
        Some("Failed") => Some(BackupStatus::Failed),
        Some(other) => return Err(super::invalid("BackupJobStatus", format!("{other:?} is not one of NoStart, Progressing"))),
    };
    let jobs = plane.list_backup_tasks(caller, &p.instance, p.job_id, status, mode(p.mode.as_deref())?).await?;
    Ok(json!({"Items": {"BackupJob": jobs.iter().map(job_item).collect::<Vec<_>>()}}))
}

pub(crate) async fn delete(plane: &ControlPlane, caller: &Caller, p: DeleteBackup) -> Reply {
    plane.delete_backups(caller, &p.instance, &list(&p.backup_ids)).await?;
    Ok(json!({}))
}

pub(crate) async fn clone(plane: &ControlPlane, caller: &Caller, p: CloneDBInstance) -> Reply {
    if let Some(t) = p.backup_type.as_deref() {
        if t != "FullBackup" && t != "IncrementalBackup" {
            return Err(super::invalid("BackupType", format!("{t:?} is not one of FullBackup, IncrementalBackup")));
        }
    }
    let req = CloneRequest {
        source_id: p.instance,
        pay_type: p.pay_type,
        backup_id: p.backup_id,
        restore_time: p.restore_time,
        class: p.class,
        storage_gb: p.storage_gb,
        storage_type: p.storage_type,
        description: p.description,
        region_id: p.region_id,
        zone_id: p.zone_id,
        network_type: p.network_type,
        category: p.category,
    };
    let row = plane.clone_instance(caller, req).await?;
    Ok(json!({"DBInstanceId": row.id, "OrderId": control::order_id()}))
}

fn policy_body(p: &control::model::BackupPolicy) -> Value {
    json!({
        "DBInstanceID": p.instance_id,
        "PreferredBackupTime": p.preferred_time,
        "PreferredBackupPeriod": p.preferred_period,
        "BackupRetentionPeriod": p.retention_days,
        "BackupLog": if p.log_backup { "Enable" } else { "Disabled" },
        "EnableBackupLog": if p.log_backup { "1" } else { "0" },
        "LogBackupRetentionPeriod": p.log_retention_days,
        "BackupMethod": "Physical",
        "CompressType": "0",
        "Category": "Standard",
        "EnableIncrementDataBackup": false,
        "ReleasedKeepPolicy": "All",
    })
}

pub(crate) async fn describe_policy(plane: &ControlPlane, caller: &Caller, p: DescribeBackupPolicy) -> Reply {
    if let Some(m) = p.mode.as_deref() {
        if m != "DataBackupPolicy" && m != "LogBackupPolicy" {
            return Err(super::invalid("BackupPolicyMode", format!("{m:?} is not one of DataBackupPolicy, LogBackupPolicy")));
        }
    }
    let (policy, next) = plane.describe_backup_policy(caller, &p.instance).await?;
    let mut body = policy_body(&policy);
    body["PreferredNextBackupTime"] = json!(next.map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string()).unwrap_or_default());
    Ok(body)
}

pub(crate) async fn modify_policy(plane: &ControlPlane, caller: &Caller, p: ModifyBackupPolicy) -> Reply {
    let change = control::backup_policy::PolicyChange {
        preferred_time: p.preferred_time,
        preferred_period: p.preferred_period,
        retention_days: p.retention_days,
        backup_log: p.backup_log,
        enable_backup_log: p.enable_backup_log,
        log_retention_days: p.log_retention_days,
        mode: p.mode,
    };
    let policy = plane.modify_backup_policy(caller, &p.instance, change).await?;
    Ok(policy_body(&policy))
}

pub(crate) async fn log_files(plane: &ControlPlane, caller: &Caller, p: DescribeLogBackupFiles) -> Reply {
    let from = parse_time(Some(&p.start_time), "StartTime")?.unwrap_or_default();
    let to = parse_time(Some(&p.end_time), "EndTime")?.unwrap_or_default() + chrono::Duration::seconds(59);
    let page = page(p.page, 30, 1000)?;
    let files = log_range(plane, caller, Action::DescribeLogBackupFiles, &p.instance, from, to).await?;
    Ok(log_page(&files, page, |f| {
        json!({
            "FileName": f.name,
            "FileSize": f.size,
            "LogBeginTime": time(f.begin),
            "LogEndTime": time(f.end),
            "DownloadLink": "",
            "IntranetDownloadLink": "",
            "LinkExpiredTime": "",
        })
    }))
}

/// DescribeBinlogFiles: the same archive as DescribeLogBackupFiles, in its own shape
/// (times to the second, pages of 30 to 100).
pub(crate) async fn binlog_files(plane: &ControlPlane, caller: &Caller, p: DescribeBinlogFiles) -> Reply {
    let parse = |value: &str, name: &str| {
        chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ")
            .map(|t| t.and_utc())
            .map_err(|_| super::invalid(name, format!("{value:?} is not a UTC time like 2026-01-01T00:00:00Z")))
    };
    let (from, to) = (parse(&p.start_time, "StartTime")?, parse(&p.end_time, "EndTime")?);
    let page = page(p.page, 30, 100)?;
    let files = log_range(plane, caller, Action::DescribeBinlogFiles, &p.instance, from, to).await?;
    let seconds = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok(log_page(&files, page, |f| {
        json!({
            "LogFileName": f.name,
            "FileSize": f.size,
            "LogBeginTime": seconds(f.begin),
            "LogEndTime": seconds(f.end),
            "HostInstanceID": p.instance,
            "RemoteStatus": "Completed",
            "Checksum": "",
            "DownloadLink": "",
            "IntranetDownloadLink": "",
            "LinkExpiredTime": "",
        })
    }))
}

/// The archived log files of [`from`, `to`] (refused when the range is reversed).
async fn log_range(plane: &ControlPlane, caller: &Caller, action: Action, instance: &str, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> Result<Vec<LogFile>, crate::ServerError> {
    if to < from {
        return Err(crate::ServerError::Control(control::ControlError::TimeRange("The EndTime must be later than or equal to the StartTime.".into())));
    }
    Ok(plane.log_files(caller, action, instance, from, to).await?)
}

/// One page of log files, each shown by `item`, with the counts and size of all.
fn log_page(files: &[LogFile], page: control::model::Page, item: impl Fn(&LogFile) -> Value) -> Value {
    let total_size: u64 = files.iter().map(|f| f.size).sum();
    let items: Vec<Value> = files.iter().skip(((page.number - 1) * page.size) as usize).take(page.size as usize).map(item).collect();
    json!({
        "Items": {"BinLogFile": items},
        "PageNumber": page.number,
        "PageRecordCount": items.len(),
        "TotalRecordCount": files.len(),
        "TotalFileSize": total_size,
    })
}

/// RecoveryDBInstance: into `TargetDBInstanceId` (an existing instance, `Restoring` until
/// the copy ends; `OrderId` is the task's id, an ImportId of the target) or into a new
/// instance (`DBInstanceId`).
pub(crate) async fn recovery(plane: &ControlPlane, caller: &Caller, p: RecoveryDBInstance) -> Reply {
    if let Some(t) = p.pay_type.as_deref() {
        if t != "Postpaid" && t != "Prepaid" {
            return Err(super::invalid("PayType", format!("{t:?} is not one of Postpaid, Prepaid")));
        }
    }
    let req = RecoveryRequest {
        db_names: p.db_names,
        source_id: p.instance,
        backup_id: p.backup_id,
        restore_time: p.restore_time,
        target_id: p.target,
        class: p.class,
        storage_gb: p.storage_gb,
        storage_type: p.storage_type,
        pay_type: p.pay_type,
        network_type: p.network_type,
    };
    let started = plane.recover_databases(caller, req).await?;
    let order = started.task_id.map(|id| id.to_string()).unwrap_or_else(control::order_id);
    Ok(json!({"DBInstanceId": started.instance_id, "OrderId": order}))
}
