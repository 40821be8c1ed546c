//! Import tasks. Starting and ending a task change the two instances' states in the same
//! transaction as the task row, so no crash can leave an instance `Migrating` without a
//! task that explains it, nor a finished task with an instance still transient.

use crate::InstanceStatus;
use chrono::Utc;
use rusqlite::types::Value;
use rusqlite::{Row, Transaction};
use serde_json::json;

use super::codec::{query_one, json_column, json_text, query_all, select_page, ts, where_all, Ctx};
use super::events::record;
use super::instances::transition_instance;
use crate::{ImportChange, ImportFilter, ImportTaskRow, Page, Paged, Result, StoreError};

fn task_from(r: &Row<'_>) -> rusqlite::Result<ImportTaskRow> {
    from_row!(r => ImportTaskRow {
        id, account_uid, source_id, dest_id, engine, status, phase, attempts, error, progress, result, staging_tag;
        times: created_at, started_at, finished_at, updated_at;
        with: db_names: json_column(r, "db_names")?
    })
}

/// Every column of the task's row but its id, which the store assigns.
fn task_columns(t: &ImportTaskRow) -> Result<super::codec::Columns> {
    let db_names = json_text(&t.db_names, "db names")?;
    Ok(columns!(t => {
        account_uid, source_id, dest_id, engine, status, phase, attempts, error, progress, result, staging_tag;
        times: created_at, started_at, finished_at, updated_at;
        with: db_names: db_names
    }))
}

fn subject(id: i64) -> String {
    format!("import/{id}")
}

pub(super) fn begin_import(tx: &Transaction<'_>, t: &ImportTaskRow, source_status: InstanceStatus, dest_status: InstanceStatus) -> Result<i64> {
    let running = [InstanceStatus::Running];
    transition_instance(tx, &t.source_id, &running, source_status)?;
    transition_instance(tx, &t.dest_id, &running, dest_status)?;
    task_columns(t)?.insert(tx, "import_tasks").ctx("insert an import task")?;
    let id = tx.last_insert_rowid();
    record(tx, &subject(id), "Created", &json!({"source": t.source_id, "dest": t.dest_id, "databases": t.db_names}))?;
    Ok(id)
}

/// Starts a recovery: its private server's row (`Creating`), the target `Running` →
/// `Restoring`, and the task that copies from the one into the other, together.
pub(super) fn begin_recovery(tx: &Transaction<'_>, staging: &crate::InstanceRow, t: &ImportTaskRow) -> Result<i64> {
    super::instances::insert_instance(tx, staging)?;
    transition_instance(tx, &t.dest_id, &[InstanceStatus::Running], InstanceStatus::Restoring)?;
    task_columns(t)?.insert(tx, "import_tasks").ctx("insert a recovery task")?;
    let id = tx.last_insert_rowid();
    record(tx, &subject(id), "Created", &json!({"source": t.source_id, "dest": t.dest_id, "databases": t.db_names, "recovery": true}))?;
    Ok(id)
}

pub(super) fn get_import(tx: &Transaction<'_>, id: i64) -> Result<ImportTaskRow> {
    query_one(tx, "SELECT * FROM import_tasks WHERE id = ?1", [id], task_from, || format!("import {id}"))
}

pub(super) fn list_imports(tx: &Transaction<'_>, f: &ImportFilter, page: Option<Page>) -> Result<Paged<ImportTaskRow>> {
    let mut clauses = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(a) = &f.account_uid {
        clauses.push("account_uid = ?");
        args.push(Value::Text(a.clone()));
    }
    if let Some(i) = &f.instance_id {
        clauses.push("(source_id = ? OR dest_id = ?)");
        args.push(Value::Text(i.clone()));
        args.push(Value::Text(i.clone()));
    }
    if let Some(id) = f.import_id {
        clauses.push("id = ?");
        args.push(Value::Integer(id));
    }
    if let Some(from) = &f.from {
        clauses.push("created_at >= ?");
        args.push(Value::Text(ts(from)));
    }
    if let Some(to) = &f.to {
        clauses.push("created_at <= ?");
        args.push(Value::Text(ts(to)));
    }
    select_page(tx, ("*", "import_tasks"), (where_all(&clauses), args), "created_at DESC, id DESC", page, task_from)
}

pub(super) fn update_import(tx: &Transaction<'_>, t: &ImportTaskRow) -> Result<()> {
    let before = get_import(tx, t.id)?;
    let mut columns = task_columns(t)?;
    columns.set("id", t.id);
    columns.set("updated_at", ts(&Utc::now()));
    columns
        .update(tx, "import_tasks", "id", &["account_uid", "source_id", "dest_id", "engine", "db_names", "created_at"])
        .ctx("update an import task")?;
    // Progress is rewritten often; only changes of status or phase are worth an event.
    if before.status != t.status || before.phase != t.phase {
        record(tx, &subject(t.id), "Updated", &json!({"status": t.status, "phase": t.phase, "attempts": t.attempts}))?;
    }
    Ok(())
}

pub(super) fn change_import(tx: &Transaction<'_>, id: i64, c: &ImportChange) -> Result<ImportTaskRow> {
    let mut t = get_import(tx, id)?;
    let status_ok = c.status_in.is_empty() || c.status_in.contains(&t.status);
    let phase_ok = c.phase_not.as_ref().is_none_or(|p| *p != t.phase);
    if !status_ok || !phase_ok {
        return Err(StoreError::Conflict {
            subject: subject(id),
            expected: format!("status in {:?}, phase not {:?}", c.status_in, c.phase_not),
            actual: format!("{}/{}", t.status, t.phase),
        });
    }
    if let Some(status) = c.status {
        t.status = status;
    }
    if let Some(phase) = c.phase {
        t.phase = phase;
    }
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            field.clone_from(v);
        }
    };
    set(&mut t.progress, &c.progress);
    set(&mut t.result, &c.result);
    update_import(tx, &t)?;
    Ok(t)
}

pub(super) fn end_import(tx: &Transaction<'_>, t: &ImportTaskRow) -> Result<()> {
    update_import(tx, t)?;
    for id in [&t.source_id, &t.dest_id] {
        // An instance deleted meanwhile (it cannot be, while transient) or already back to
        // Running (a repeated end) is left as it is.
        let current = match super::instances::get_instance(tx, id) {
            Ok(row) => Some(row),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        if let Some(row) = current {
            // A recovery's private server has served its purpose.
            let next = if row.is_private() { InstanceStatus::Deleting } else { InstanceStatus::Running };
            if row.status != next {
                transition_instance(tx, id, &[row.status], next)?;
            }
        }
    }
    record(tx, &subject(t.id), "Ended", &json!({"status": t.status, "error": t.error}))?;
    Ok(())
}

pub(super) fn unfinished_imports(tx: &Transaction<'_>) -> Result<Vec<ImportTaskRow>> {
    let unfinished: Vec<String> =
        crate::ImportStatus::ALL.iter().filter(|s| !s.is_terminal()).map(|s| format!("'{}'", s.as_str())).collect();
    query_all(tx, "list unfinished import tasks", &format!("SELECT * FROM import_tasks WHERE status IN ({}) ORDER BY id", unfinished.join(", ")), [], task_from)
}

pub(super) fn import_counts(tx: &Transaction<'_>) -> Result<Vec<(crate::ImportStatus, u64)>> {
    query_all(tx, "count import tasks", "SELECT status, count(*) FROM import_tasks GROUP BY status ORDER BY status", [], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
}

blocking_store! {
    impl crate::ImportStore {
        write fn begin_import(by_ref task: &ImportTaskRow, by_val source_status: InstanceStatus, by_val dest_status: InstanceStatus) -> i64;
        write fn begin_recovery(by_ref staging: &crate::InstanceRow, by_ref task: &ImportTaskRow) -> i64;
        read fn get_import(by_val id: i64) -> ImportTaskRow;
        read fn list_imports(by_ref filter: &ImportFilter, by_val page: Option<Page>) -> Paged<ImportTaskRow>;
        write fn update_import(by_ref task: &ImportTaskRow) -> ();
        write fn change_import(by_val id: i64, by_ref change: &ImportChange) -> ImportTaskRow;
        write fn end_import(by_ref task: &ImportTaskRow) -> ();
        read fn unfinished_imports() -> Vec<ImportTaskRow>;
        read fn import_counts() -> Vec<(crate::ImportStatus, u64)>;
    }
}
