//! Backup jobs and sets.

use chrono::Utc;
use rusqlite::types::Value;
use rusqlite::{Row, Transaction};
use serde_json::json;

use super::codec::{query_all, query_one, select_page, ts, where_all, Ctx};
use super::events::record;
use crate::{BackupFilter, BackupPolicy, BackupRow, Page, Paged, Result, StoreError};

fn backup_from(r: &Row<'_>) -> rusqlite::Result<BackupRow> {
    from_row!(r => BackupRow {
        id, account_uid, instance_id, region_id, engine, engine_version, class_code, storage_gb, mode, status, attempts, error,
        location, size_bytes, bytes_done, bytes_expected, checksum, log_start, log_end;
        times: consistent_at, created_at, started_at, finished_at, updated_at
    })
}

fn backup_columns(b: &BackupRow) -> super::codec::Columns {
    columns!(b => {
        account_uid, instance_id, region_id, engine, engine_version, class_code, storage_gb, mode, status, attempts, error,
        location, size_bytes, bytes_done, bytes_expected, checksum, log_start, log_end;
        times: consistent_at, created_at, started_at, finished_at, updated_at
    })
}

fn subject(id: i64) -> String {
    format!("backup/{id}")
}

const UNFINISHED: &str = "status IN ('Pending', 'Running')";

pub(super) fn begin_backup(tx: &Transaction<'_>, b: &BackupRow) -> Result<i64> {
    let running: Option<i64> = tx
        .query_row(&format!("SELECT id FROM backups WHERE instance_id = ?1 AND {UNFINISHED} LIMIT 1"), [&b.instance_id], |r| r.get(0))
        .map(Some)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        .ctx("look for a running backup")?;
    if let Some(id) = running {
        return Err(StoreError::Conflict { subject: format!("instance {}", b.instance_id), expected: "no backup job".into(), actual: format!("backup job {id}") });
    }
    backup_columns(b).insert(tx, "backups").ctx("insert a backup")?;
    let id = tx.last_insert_rowid();
    record(tx, &subject(id), "Created", &json!({"instance": b.instance_id, "mode": b.mode}))?;
    Ok(id)
}

pub(super) fn get_backup(tx: &Transaction<'_>, id: i64) -> Result<BackupRow> {
    query_one(tx, "SELECT * FROM backups WHERE id = ?1", [id], backup_from, || format!("backup {id}"))
}

pub(super) fn list_backups(tx: &Transaction<'_>, f: &BackupFilter, page: Option<Page>) -> Result<Paged<BackupRow>> {
    let mut clauses = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut text = |clause: &'static str, value: &str| {
        clauses.push(clause.to_string());
        args.push(Value::Text(value.to_string()));
    };
    if let Some(a) = &f.account_uid {
        text("account_uid = ?", a);
    }
    if let Some(i) = &f.instance_id {
        text("instance_id = ?", i);
    }
    if let Some(m) = f.mode {
        text("mode = ?", m.as_str());
    }
    if let Some(from) = &f.from {
        text("coalesce(started_at, created_at) >= ?", &ts(from));
    }
    if let Some(to) = &f.to {
        text("coalesce(started_at, created_at) <= ?", &ts(to));
    }
    if let Some(id) = f.backup_id {
        clauses.push("id = ?".into());
        args.push(Value::Integer(id));
    }
    if let Some(statuses) = &f.status {
        let listed: Vec<String> = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect();
        clauses.push(format!("status IN ({})", listed.join(", ")));
    }
    select_page(tx, ("*", "backups"), (where_all(&clauses), args), "created_at DESC, id DESC", page, backup_from)
}

pub(super) fn update_backup(tx: &Transaction<'_>, b: &BackupRow) -> Result<()> {
    let before = get_backup(tx, b.id)?;
    let mut columns = backup_columns(b);
    columns.set("id", b.id);
    columns.set("updated_at", ts(&Utc::now()));
    let keep = ["account_uid", "instance_id", "region_id", "engine", "engine_version", "class_code", "storage_gb", "mode", "created_at"];
    columns.update(tx, "backups", "id", &keep).ctx("update a backup")?;
    if before.status != b.status {
        record(tx, &subject(b.id), "Updated", &json!({"status": b.status, "attempts": b.attempts, "error": b.error}))?;
    }
    Ok(())
}

pub(super) fn delete_backup(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let n = tx.execute("DELETE FROM backups WHERE id = ?1", [id]).ctx("delete a backup")?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("backup {id}")));
    }
    record(tx, &subject(id), "Deleted", &json!({}))
}

pub(super) fn unfinished_backups(tx: &Transaction<'_>) -> Result<Vec<BackupRow>> {
    query_all(tx, "list unfinished backups", &format!("SELECT * FROM backups WHERE {UNFINISHED} ORDER BY id"), [], backup_from)
}

pub(super) fn backup_counts(tx: &Transaction<'_>) -> Result<Vec<(crate::BackupStatus, u64)>> {
    query_all(tx, "count backups", "SELECT status, count(*) FROM backups GROUP BY status ORDER BY status", [], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
}

fn policy_from(r: &Row<'_>) -> rusqlite::Result<BackupPolicy> {
    from_row!(r => BackupPolicy {
        instance_id, account_uid, preferred_time, preferred_period, retention_days, log_backup, log_retention_days;
        times: updated_at
    })
}

pub(super) fn get_backup_policy(tx: &Transaction<'_>, instance_id: &str) -> Result<Option<BackupPolicy>> {
    match query_one(tx, "SELECT * FROM backup_policies WHERE instance_id = ?1", [instance_id], policy_from, || instance_id.to_string()) {
        Ok(p) => Ok(Some(p)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn put_backup_policy(tx: &Transaction<'_>, p: &BackupPolicy) -> Result<()> {
    tx.execute("DELETE FROM backup_policies WHERE instance_id = ?1", [&p.instance_id]).ctx("replace a backup policy")?;
    columns!(p => {
        instance_id, account_uid, preferred_time, preferred_period, retention_days, log_backup, log_retention_days;
        times: updated_at
    })
    .insert(tx, "backup_policies")
    .ctx("insert a backup policy")?;
    record(tx, &format!("dbinstance/{}", p.instance_id), "BackupPolicyChanged", &json!({
        "PreferredBackupTime": p.preferred_time, "PreferredBackupPeriod": p.preferred_period,
        "BackupRetentionPeriod": p.retention_days, "LogBackup": p.log_backup, "LogBackupRetentionPeriod": p.log_retention_days,
    }))
}

blocking_store! {
    impl crate::BackupStore {
        write fn begin_backup(by_ref backup: &BackupRow) -> i64;
        read fn get_backup(by_val id: i64) -> BackupRow;
        read fn list_backups(by_ref filter: &BackupFilter, by_val page: Option<Page>) -> Paged<BackupRow>;
        write fn update_backup(by_ref backup: &BackupRow) -> ();
        write fn delete_backup(by_val id: i64) -> ();
        read fn unfinished_backups() -> Vec<BackupRow>;
        read fn backup_counts() -> Vec<(crate::BackupStatus, u64)>;
        read fn get_backup_policy(by_ref instance_id: &str) -> Option<BackupPolicy>;
        write fn put_backup_policy(by_ref policy: &BackupPolicy) -> ();
    }
}
