//! Instances and the notes on their databases and accounts.

use chrono::Utc;
use rusqlite::types::Value;
use rusqlite::{named_params, params_from_iter, OptionalExtension, Row, Transaction};
use serde_json::json;

use super::codec::{conversion, get_ts, require, ts, Ctx};
use super::events::record;
use crate::{AccountNote, DatabaseNote, InstanceFilter, InstanceRow, Page, Paged, Result, StoreError};

fn instance_from(r: &Row<'_>) -> rusqlite::Result<InstanceRow> {
    let tags: String = r.get("tags")?;
    Ok(InstanceRow {
        id: r.get("id")?,
        account_uid: r.get("account_uid")?,
        region_id: r.get("region_id")?,
        zone_id: r.get("zone_id")?,
        engine: r.get("engine")?,
        engine_version: r.get("engine_version")?,
        class_code: r.get("class_code")?,
        storage_gb: r.get("storage_gb")?,
        storage_type: r.get("storage_type")?,
        status: r.get("status")?,
        description: r.get("description")?,
        pay_type: r.get("pay_type")?,
        category: r.get("category")?,
        net_type: r.get("net_type")?,
        network_type: r.get("network_type")?,
        security_ip_list: r.get("security_ip_list")?,
        host: r.get("host")?,
        port: r.get("port")?,
        data_dir: r.get("data_dir")?,
        tags: serde_json::from_str(&tags).map_err(|e| conversion(r, "tags", e))?,
        created_at: get_ts(r, "created_at")?,
        updated_at: get_ts(r, "updated_at")?,
    })
}

fn tags_json(i: &InstanceRow) -> Result<String> {
    serde_json::to_string(&i.tags).map_err(|e| StoreError::Backend(format!("encode the tags of {}: {e}", i.id)))
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("instance {id}"))
}

fn require_instance(tx: &Transaction<'_>, id: &str) -> Result<()> {
    require(tx, "SELECT 1 FROM instances WHERE id = ?1", [id], || format!("instance {id}"))
}

pub(super) fn insert_instance(tx: &Transaction<'_>, i: &InstanceRow) -> Result<()> {
    require(tx, "SELECT 1 FROM accounts WHERE uid = ?1", [&i.account_uid], || format!("account {}", i.account_uid))?;
    tx.execute(
        "INSERT INTO instances (id, account_uid, region_id, zone_id, engine, engine_version, class_code,
             storage_gb, storage_type, status, description, pay_type, category, net_type, network_type,
             security_ip_list, host, port, data_dir, tags, created_at, updated_at)
         VALUES (:id, :account_uid, :region_id, :zone_id, :engine, :engine_version, :class_code,
             :storage_gb, :storage_type, :status, :description, :pay_type, :category, :net_type, :network_type,
             :security_ip_list, :host, :port, :data_dir, :tags, :created_at, :updated_at)",
        named_params! {
            ":id": i.id,
            ":account_uid": i.account_uid,
            ":region_id": i.region_id,
            ":zone_id": i.zone_id,
            ":engine": i.engine,
            ":engine_version": i.engine_version,
            ":class_code": i.class_code,
            ":storage_gb": i.storage_gb,
            ":storage_type": i.storage_type,
            ":status": i.status,
            ":description": i.description,
            ":pay_type": i.pay_type,
            ":category": i.category,
            ":net_type": i.net_type,
            ":network_type": i.network_type,
            ":security_ip_list": i.security_ip_list,
            ":host": i.host,
            ":port": i.port,
            ":data_dir": i.data_dir,
            ":tags": tags_json(i)?,
            ":created_at": ts(&i.created_at),
            ":updated_at": ts(&i.updated_at),
        },
    )
    .or_exists(|| format!("instance {}", i.id), "insert an instance")?;
    record(
        tx,
        &format!("dbinstance/{}", i.id),
        "Created",
        &json!({
            "account_uid": i.account_uid,
            "engine": i.engine,
            "engine_version": i.engine_version,
            "class_code": i.class_code,
            "status": i.status,
        }),
    )
}

pub(super) fn get_instance(tx: &Transaction<'_>, id: &str) -> Result<InstanceRow> {
    tx.query_row("SELECT * FROM instances WHERE id = ?1", [id], instance_from)
        .optional()
        .ctx("read an instance")?
        .ok_or_else(|| not_found(id))
}

/// The WHERE clause and its arguments for a filter; `None` fields add nothing.
fn filter_sql(f: &InstanceFilter) -> (String, Vec<Value>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let exact = [
        ("account_uid", &f.account_uid),
        ("region_id", &f.region_id),
        ("engine", &f.engine),
        ("engine_version", &f.engine_version),
        ("status", &f.status),
        ("class_code", &f.class_code),
    ];
    for (column, value) in exact {
        if let Some(v) = value {
            clauses.push(format!("{column} = ?"));
            args.push(Value::Text(v.clone()));
        }
    }
    if let Some(ids) = &f.ids {
        // An empty list asks for no instance at all, not for every instance.
        if ids.is_empty() {
            clauses.push("0".into());
        } else {
            clauses.push(format!("id IN ({})", vec!["?"; ids.len()].join(", ")));
            args.extend(ids.iter().cloned().map(Value::Text));
        }
    }
    if let Some(key) = &f.search_key {
        // instr, not LIKE: a key holding `%` or `_` is matched literally. Case is ignored
        // (ASCII), as a search box would.
        clauses.push("(instr(lower(id), lower(?)) > 0 OR instr(lower(description), lower(?)) > 0)".into());
        args.push(Value::Text(key.clone()));
        args.push(Value::Text(key.clone()));
    }
    let sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    (sql, args)
}

pub(super) fn list_instances(
    tx: &Transaction<'_>,
    f: &InstanceFilter,
    page: Option<Page>,
) -> Result<Paged<InstanceRow>> {
    let (filter, mut args) = filter_sql(f);
    let total: u64 = tx
        .query_row(&format!("SELECT count(*) FROM instances{filter}"), params_from_iter(args.iter()), |r| r.get(0))
        .ctx("count instances")?;
    let mut sql = format!("SELECT * FROM instances{filter} ORDER BY created_at DESC, id");
    if let Some(p) = page {
        // Page numbers are 1-based; 0 is read as the first page rather than refused,
        // since the API layer validates what callers send.
        let offset = i64::from(p.number.max(1) - 1).saturating_mul(i64::from(p.size));
        sql.push_str(" LIMIT ? OFFSET ?");
        args.push(Value::Integer(i64::from(p.size)));
        args.push(Value::Integer(offset));
    }
    let mut stmt = tx.prepare(&sql).ctx("list instances")?;
    let rows = stmt.query_map(params_from_iter(args.iter()), instance_from).ctx("list instances")?;
    let items = rows.collect::<rusqlite::Result<_>>().ctx("list instances")?;
    Ok(Paged { items, total })
}

pub(super) fn used_ports(tx: &Transaction<'_>) -> Result<Vec<u16>> {
    // Port 0 is "none assigned yet", not a port anyone holds.
    let mut stmt =
        tx.prepare("SELECT DISTINCT port FROM instances WHERE port <> 0 ORDER BY port").ctx("list used ports")?;
    let rows = stmt.query_map([], |r| r.get(0)).ctx("list used ports")?;
    rows.collect::<rusqlite::Result<_>>().ctx("list used ports")
}

pub(super) fn transition_instance(
    tx: &Transaction<'_>,
    id: &str,
    expected: &[String],
    new_status: &str,
) -> Result<InstanceRow> {
    let before = get_instance(tx, id)?;
    if !expected.contains(&before.status) {
        return Err(StoreError::Conflict {
            subject: format!("instance {id}"),
            expected: expected.join(" or "),
            actual: before.status,
        });
    }
    tx.execute("UPDATE instances SET status = ?2, updated_at = ?3 WHERE id = ?1", (id, new_status, ts(&Utc::now())))
        .ctx("update an instance's status")?;
    record(tx, &format!("dbinstance/{id}"), "StatusChanged", &json!({ "from": before.status, "to": new_status }))?;
    Ok(before)
}

/// Names of the fields `update_instance` would change, for the event; `updated_at` aside.
fn changed_fields(old: &InstanceRow, new: &InstanceRow) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("region_id", old.region_id != new.region_id);
    check("zone_id", old.zone_id != new.zone_id);
    check("engine", old.engine != new.engine);
    check("engine_version", old.engine_version != new.engine_version);
    check("class_code", old.class_code != new.class_code);
    check("storage_gb", old.storage_gb != new.storage_gb);
    check("storage_type", old.storage_type != new.storage_type);
    check("status", old.status != new.status);
    check("description", old.description != new.description);
    check("pay_type", old.pay_type != new.pay_type);
    check("category", old.category != new.category);
    check("net_type", old.net_type != new.net_type);
    check("network_type", old.network_type != new.network_type);
    check("security_ip_list", old.security_ip_list != new.security_ip_list);
    check("host", old.host != new.host);
    check("port", old.port != new.port);
    check("data_dir", old.data_dir != new.data_dir);
    check("tags", old.tags != new.tags);
    changed
}

/// The identity of a row (id, owner, creation time) is not a mutable field: it is kept
/// whatever the caller's copy says.
pub(super) fn update_instance(tx: &Transaction<'_>, i: &InstanceRow) -> Result<()> {
    let before = get_instance(tx, &i.id)?;
    tx.execute(
        "UPDATE instances SET region_id = :region_id, zone_id = :zone_id, engine = :engine,
             engine_version = :engine_version, class_code = :class_code, storage_gb = :storage_gb,
             storage_type = :storage_type, status = :status, description = :description,
             pay_type = :pay_type, category = :category, net_type = :net_type,
             network_type = :network_type, security_ip_list = :security_ip_list, host = :host,
             port = :port, data_dir = :data_dir, tags = :tags, updated_at = :updated_at
         WHERE id = :id",
        named_params! {
            ":id": i.id,
            ":region_id": i.region_id,
            ":zone_id": i.zone_id,
            ":engine": i.engine,
            ":engine_version": i.engine_version,
            ":class_code": i.class_code,
            ":storage_gb": i.storage_gb,
            ":storage_type": i.storage_type,
            ":status": i.status,
            ":description": i.description,
            ":pay_type": i.pay_type,
            ":category": i.category,
            ":net_type": i.net_type,
            ":network_type": i.network_type,
            ":security_ip_list": i.security_ip_list,
            ":host": i.host,
            ":port": i.port,
            ":data_dir": i.data_dir,
            ":tags": tags_json(i)?,
            ":updated_at": ts(&i.updated_at),
        },
    )
    .ctx("update an instance")?;
    let changed = changed_fields(&before, i);
    if changed.is_empty() {
        return Ok(());
    }
    let mut detail = json!({ "changed": changed });
    if before.status != i.status {
        detail["from"] = json!(before.status);
        detail["to"] = json!(i.status);
    }
    record(tx, &format!("dbinstance/{}", i.id), "Updated", &detail)
}

pub(super) fn delete_instance(tx: &Transaction<'_>, id: &str) -> Result<()> {
    let before = get_instance(tx, id)?;
    let databases =
        tx.execute("DELETE FROM database_notes WHERE instance_id = ?1", [id]).ctx("delete database notes")?;
    let accounts = tx.execute("DELETE FROM account_notes WHERE instance_id = ?1", [id]).ctx("delete account notes")?;
    tx.execute("DELETE FROM instances WHERE id = ?1", [id]).ctx("delete an instance")?;
    record(
        tx,
        &format!("dbinstance/{id}"),
        "Deleted",
        &json!({ "status": before.status, "database_notes": databases, "account_notes": accounts }),
    )
}

pub(super) fn put_database_note(tx: &Transaction<'_>, n: &DatabaseNote) -> Result<()> {
    require_instance(tx, &n.instance_id)?;
    tx.execute(
        "INSERT INTO database_notes (instance_id, db_name, description) VALUES (?1, ?2, ?3)
         ON CONFLICT (instance_id, db_name) DO UPDATE SET description = excluded.description",
        (&n.instance_id, &n.db_name, &n.description),
    )
    .ctx("write a database note")?;
    record(tx, &format!("dbinstance/{}", n.instance_id), "DatabaseNoteSet", &json!({ "db_name": n.db_name }))
}

pub(super) fn list_database_notes(tx: &Transaction<'_>, instance_id: &str) -> Result<Vec<DatabaseNote>> {
    let mut stmt = tx
        .prepare("SELECT instance_id, db_name, description FROM database_notes WHERE instance_id = ?1 ORDER BY db_name")
        .ctx("list database notes")?;
    let rows = stmt
        .query_map([instance_id], |r| {
            Ok(DatabaseNote { instance_id: r.get(0)?, db_name: r.get(1)?, description: r.get(2)? })
        })
        .ctx("list database notes")?;
    rows.collect::<rusqlite::Result<_>>().ctx("list database notes")
}

/// Deleting a note that is not there succeeds: notes are optional (a database created
/// without a description has none), and the control plane drops the note of every
/// database it drops.
pub(super) fn delete_database_note(tx: &Transaction<'_>, instance_id: &str, db_name: &str) -> Result<()> {
    let deleted = tx
        .execute("DELETE FROM database_notes WHERE instance_id = ?1 AND db_name = ?2", [instance_id, db_name])
        .ctx("delete a database note")?;
    if deleted == 0 {
        return Ok(());
    }
    record(tx, &format!("dbinstance/{instance_id}"), "DatabaseNoteDeleted", &json!({ "db_name": db_name }))
}

pub(super) fn put_account_note(tx: &Transaction<'_>, n: &AccountNote) -> Result<()> {
    require_instance(tx, &n.instance_id)?;
    tx.execute(
        "INSERT INTO account_notes (instance_id, account_name, account_type, description) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (instance_id, account_name)
         DO UPDATE SET account_type = excluded.account_type, description = excluded.description",
        (&n.instance_id, &n.account_name, &n.account_type, &n.description),
    )
    .ctx("write an account note")?;
    record(
        tx,
        &format!("dbinstance/{}", n.instance_id),
        "AccountNoteSet",
        &json!({ "account_name": n.account_name, "account_type": n.account_type }),
    )
}

pub(super) fn list_account_notes(tx: &Transaction<'_>, instance_id: &str) -> Result<Vec<AccountNote>> {
    let mut stmt = tx
        .prepare(
            "SELECT instance_id, account_name, account_type, description FROM account_notes
             WHERE instance_id = ?1 ORDER BY account_name",
        )
        .ctx("list account notes")?;
    let rows = stmt
        .query_map([instance_id], |r| {
            Ok(AccountNote {
                instance_id: r.get(0)?,
                account_name: r.get(1)?,
                account_type: r.get(2)?,
                description: r.get(3)?,
            })
        })
        .ctx("list account notes")?;
    rows.collect::<rusqlite::Result<_>>().ctx("list account notes")
}

/// Idempotent for the same reason as [`delete_database_note`].
pub(super) fn delete_account_note(tx: &Transaction<'_>, instance_id: &str, account_name: &str) -> Result<()> {
    let deleted = tx
        .execute("DELETE FROM account_notes WHERE instance_id = ?1 AND account_name = ?2", [instance_id, account_name])
        .ctx("delete an account note")?;
    if deleted == 0 {
        return Ok(());
    }
    record(tx, &format!("dbinstance/{instance_id}"), "AccountNoteDeleted", &json!({ "account_name": account_name }))
}
