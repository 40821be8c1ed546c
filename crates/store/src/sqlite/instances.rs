//! Instances and the notes on their databases and accounts.

use crate::InstanceStatus;
use chrono::Utc;
use rusqlite::types::Value;
use rusqlite::{Row, Transaction};
use std::sync::Arc;
use serde_json::json;

use super::codec::{query_one, json_text, require, select_page, ts, query_all, where_all, Columns, Ctx};
use super::events::record;
use crate::{AccountNote, DatabaseNote, InstanceFilter, InstanceRow, Page, Paged, ParameterChange, Result, StoreError};

/// The columns of an instance, in the order `instance_from` reads them: listings read a
/// hundred rows a call, and selected in this order every column is found at first guess.
const INSTANCE_COLUMNS: &str = "id, account_uid, region_id, zone_id, engine, engine_version, class_code, storage_gb, \
    storage_type, status, description, pay_type, category, net_type, network_type, security_ip_list, host, port, data_dir, \
    restored_from, deletion_protection, maintain_time, restored_until, created_at, updated_at, tags, recovery";

fn instance_from(r: &Row<'_>) -> rusqlite::Result<InstanceRow> {
    from_row!(r => InstanceRow {
        id, account_uid, region_id, zone_id, engine, engine_version, class_code, storage_gb, storage_type, status,
        description, pay_type, category, net_type, network_type, security_ip_list, host, port, data_dir, restored_from,
        deletion_protection, maintain_time;
        times: restored_until, created_at, updated_at;
        json: tags;
        json_or_null: recovery
    })
}

/// Whether `INSTANCE_COLUMNS` names every column of the table, for a test.
#[cfg(test)]
pub(super) fn instance_columns_cover_the_table(tx: &Transaction<'_>) -> Result<bool> {
    let mut table: Vec<String> = query_all(tx, "list the instances table's columns", "SELECT name FROM pragma_table_info('instances')", [], |r| r.get(0))?;
    let mut listed: Vec<String> = INSTANCE_COLUMNS.split(',').map(|c| c.trim().to_string()).collect();
    table.sort();
    listed.sort();
    Ok(table == listed)
}

fn instance_columns(i: &InstanceRow) -> Result<Columns> {
    let tags = json_text(&i.tags, &format!("the tags of {}", i.id))?;
    let recovery = i.recovery.as_ref().map(|r| json_text(r, &format!("the recovery of {}", i.id))).transpose()?;
    Ok(columns!(i => {
        id, account_uid, region_id, zone_id, engine, engine_version, class_code, storage_gb, storage_type, status,
        description, pay_type, category, net_type, network_type, security_ip_list, host, port, data_dir, restored_from,
        deletion_protection, maintain_time;
        times: restored_until, created_at, updated_at;
        with: tags: tags, recovery: recovery
    }))
}

fn require_instance(tx: &Transaction<'_>, id: &str) -> Result<()> {
    require(tx, "SELECT 1 FROM instances WHERE id = ?1", [id], || format!("instance {id}"))
}

pub(super) fn insert_instance(tx: &Transaction<'_>, i: &InstanceRow) -> Result<()> {
    require(tx, "SELECT 1 FROM accounts WHERE uid = ?1", [&i.account_uid], || format!("account {}", i.account_uid))?;
    let created = json!({
        "account_uid": i.account_uid,
        "engine": i.engine,
        "engine_version": i.engine_version,
        "class_code": i.class_code,
        "status": i.status,
    });
    instance_columns(i)?.create(tx, "instances", || format!("instance {}", i.id), (&format!("dbinstance/{}", i.id), "Created", created))
}

pub(super) fn get_instance(tx: &Transaction<'_>, id: &str) -> Result<InstanceRow> {
    query_one(tx, &format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?1"), [id], instance_from, || format!("instance {id}"))
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
        ("class_code", &f.class_code),
    ];
    for (column, value) in exact {
        if let Some(v) = value {
            clauses.push(format!("{column} = ?"));
            args.push(Value::Text(v.clone()));
        }
    }
    if !f.with_private {
        clauses.push(r#"(recovery IS NULL OR recovery NOT LIKE '{"Staging":%')"#.into());
    }
    if let Some(status) = f.status {
        clauses.push("status = ?".into());
        args.push(Value::Text(status.as_str().into()));
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
    (where_all(&clauses), args)
}

pub(super) fn list_instances(
    tx: &Transaction<'_>,
    f: &InstanceFilter,
    page: Option<Page>,
) -> Result<Paged<InstanceRow>> {
    select_page(tx, (INSTANCE_COLUMNS, "instances"), filter_sql(f), "created_at DESC, id", page, instance_from)
}

pub(super) fn used_ports(tx: &Transaction<'_>) -> Result<Vec<u16>> {
    // Port 0 is "none assigned yet", not a port anyone holds.
    query_all(tx, "list used ports", "SELECT DISTINCT port FROM instances WHERE port <> 0 ORDER BY port", [], |r| r.get(0))
}

pub(super) fn transition_instance(
    tx: &Transaction<'_>,
    id: &str,
    expected: &[InstanceStatus],
    new_status: InstanceStatus,
) -> Result<InstanceRow> {
    let before = get_instance(tx, id)?;
    if !expected.contains(&before.status) {
        return Err(StoreError::Conflict {
            subject: format!("instance {id}"),
            expected: expected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or "),
            actual: before.status.to_string(),
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
    check("deletion_protection", old.deletion_protection != new.deletion_protection);
    check("maintain_time", old.maintain_time != new.maintain_time);
    changed
}

/// The identity of a row (id, owner, creation time) is not a mutable field: it is kept
/// whatever the caller's copy says.
pub(super) fn update_instance(tx: &Transaction<'_>, i: &InstanceRow) -> Result<()> {
    let before = get_instance(tx, &i.id)?;
    instance_columns(i)?.update(tx, "instances", "id", &["account_uid", "created_at"]).ctx("update an instance")?;
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

pub(super) fn update_instance_if(tx: &Transaction<'_>, i: &InstanceRow, expected: InstanceStatus) -> Result<()> {
    let current = get_instance(tx, &i.id)?;
    if current.status != expected {
        return Err(StoreError::Conflict { subject: format!("instance {}", i.id), expected: expected.to_string(), actual: current.status.to_string() });
    }
    // Written since the caller read it: its copy would undo that change.
    if current.updated_at != i.updated_at {
        return Err(StoreError::Conflict { subject: format!("instance {}", i.id), expected: format!("unchanged since {}", ts(&i.updated_at)), actual: CHANGED_SINCE_READ.into() });
    }
    update_instance(tx, i)
}

/// `actual` of the conflict [`update_instance_if`] reports for a row changed since it was read.
pub const CHANGED_SINCE_READ: &str = "changed since it was read";

pub(super) fn record_parameter_changes(tx: &Transaction<'_>, changes: &[crate::ParameterChange]) -> Result<()> {
    for c in changes {
        tx.execute(
            "INSERT INTO parameter_changes (instance_id, name, old_value, new_value, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            (&c.instance_id, &c.name, &c.old_value, &c.new_value, c.status, ts(&c.created_at)),
        )
        .ctx("record a parameter change")?;
    }
    Ok(())
}

fn parameter_change_from(r: &Row<'_>) -> rusqlite::Result<crate::ParameterChange> {
    from_row!(r => ParameterChange {
        id, instance_id, name, old_value, new_value, status;
        times: created_at
    })
}

pub(super) fn list_parameter_changes(tx: &Transaction<'_>, instance_id: &str, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>, page: Option<Page>) -> Result<Paged<crate::ParameterChange>> {
    let filter = (where_all(&["instance_id = ?", "created_at >= ?", "created_at <= ?"]), vec![Value::Text(instance_id.to_string()), Value::Text(ts(&from)), Value::Text(ts(&to))]);
    select_page(tx, ("*", "parameter_changes"), filter, "created_at DESC, id DESC", page, parameter_change_from)
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
    query_all(tx, "list database notes", "SELECT instance_id, db_name, description FROM database_notes WHERE instance_id = ?1 ORDER BY db_name", [instance_id], |r| {
            Ok(DatabaseNote { instance_id: r.get(0)?, db_name: r.get(1)?, description: r.get(2)? })
        })
}

/// Deleting a note that is not there succeeds: notes are optional (a database created
/// without a description has none), and the control plane drops the note of every
/// database it drops.
pub(super) fn delete_database_note(tx: &Transaction<'_>, instance_id: &str, db_name: &str) -> Result<()> {
    delete_note(tx, Note::Database, instance_id, db_name)
}

/// The two kinds of note: (table, name column, event kind).
enum Note {
    Database,
    Account,
}

impl Note {
    fn table(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Note::Database => ("database_notes", "db_name", "DatabaseNoteDeleted"),
            Note::Account => ("account_notes", "account_name", "AccountNoteDeleted"),
        }
    }
}

fn delete_note(tx: &Transaction<'_>, note: Note, instance_id: &str, name: &str) -> Result<()> {
    let (table, column, event) = note.table();
    let deleted = tx
        .execute(&format!("DELETE FROM {table} WHERE instance_id = ?1 AND {column} = ?2"), [instance_id, name])
        .ctx(&format!("delete a note from {table}"))?;
    if deleted == 0 {
        return Ok(());
    }
    record(tx, &format!("dbinstance/{instance_id}"), event, &json!({ column: name }))
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
    query_all(tx, "list account notes", "SELECT instance_id, account_name, account_type, description FROM account_notes
             WHERE instance_id = ?1 ORDER BY account_name", [instance_id], |r| {
            Ok(AccountNote {
                instance_id: r.get(0)?,
                account_name: r.get(1)?,
                account_type: r.get(2)?,
                description: r.get(3)?,
            })
        })
}

/// Idempotent for the same reason as [`delete_database_note`].
pub(super) fn delete_account_note(tx: &Transaction<'_>, instance_id: &str, account_name: &str) -> Result<()> {
    delete_note(tx, Note::Account, instance_id, account_name)
}

pub(super) fn security_ip_groups(tx: &Transaction<'_>, instance_id: &str) -> Result<Vec<crate::SecurityIpGroup>> {
    query_all(tx, "list security ip groups", "SELECT name, ips, attribute, ip_type, network_type FROM security_ip_groups WHERE instance_id = ?1 ORDER BY name", [instance_id], |r| {
            Ok(crate::SecurityIpGroup { name: r.get(0)?, ips: r.get(1)?, attribute: r.get(2)?, ip_type: r.get(3)?, network_type: r.get(4)? })
        })
}

pub(super) fn set_security_ip_groups(tx: &Transaction<'_>, instance_id: &str, groups: &[crate::SecurityIpGroup]) -> Result<()> {
    get_instance(tx, instance_id)?;
    tx.execute("DELETE FROM security_ip_groups WHERE instance_id = ?1", [instance_id]).ctx("replace security ip groups")?;
    for g in groups {
        tx.execute(
            "INSERT INTO security_ip_groups (instance_id, name, ips, attribute, ip_type, network_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            (instance_id, &g.name, &g.ips, &g.attribute, &g.ip_type, &g.network_type),
        )
        .ctx("replace security ip groups")?;
    }
    let mut union: Vec<&str> = Vec::new();
    for ip in groups.iter().flat_map(|g| g.ips.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        if !union.contains(&ip) {
            union.push(ip);
        }
    }
    tx.execute("UPDATE instances SET security_ip_list = ?2 WHERE id = ?1", (instance_id, union.join(","))).ctx("replace security ip groups")?;
    record(
        tx,
        &format!("dbinstance/{instance_id}"),
        "SecurityIpsChanged",
        &json!({ "groups": groups.iter().map(|g| json!({ "name": g.name, "ips": g.ips })).collect::<Vec<_>>() }),
    )
}

blocking_store! {
    impl crate::InstanceStore {
        write fn insert_instance(by_ref instance: &InstanceRow) -> ();
        read fn get_instance(by_ref id: &str) -> InstanceRow;
        read fn used_ports() -> Vec<u16>;
        read fn security_ip_groups(by_ref instance_id: &str) -> Vec<crate::SecurityIpGroup>;
        write fn set_security_ip_groups(by_ref instance_id: &str, by_ref groups: &[crate::SecurityIpGroup]) -> ();
        write fn transition_instance(by_ref id: &str, by_ref expected: &[InstanceStatus], by_val new_status: InstanceStatus) -> InstanceRow;
        write fn update_instance(by_ref instance: &InstanceRow) -> ();
        write fn update_instance_if(by_ref instance: &InstanceRow, by_val expected: InstanceStatus) -> ();
        write fn record_parameter_changes(by_ref changes: &[crate::ParameterChange]) -> ();
        read fn list_parameter_changes(by_ref instance_id: &str, by_val from: chrono::DateTime<Utc>, by_val to: chrono::DateTime<Utc>, by_val page: Option<Page>) -> Paged<crate::ParameterChange>;
        write fn delete_instance(by_ref id: &str) -> ();
        write fn put_database_note(by_ref note: &DatabaseNote) -> ();
        read fn list_database_notes(by_ref instance_id: &str) -> Vec<DatabaseNote>;
        write fn delete_database_note(by_ref instance_id: &str, by_ref db_name: &str) -> ();
        write fn put_account_note(by_ref note: &AccountNote) -> ();
        read fn list_account_notes(by_ref instance_id: &str) -> Vec<AccountNote>;
        write fn delete_account_note(by_ref instance_id: &str, by_ref account_name: &str) -> ();
    }
    async fn list_instances(&self, filter: &InstanceFilter, page: Option<Page>) -> Result<Paged<InstanceRow>> {
        Ok(Paged::clone(&*self.list_instances_shared(filter, page).await?))
    }

    async fn list_instances_shared(&self, filter: &InstanceFilter, page: Option<Page>) -> Result<Arc<Paged<InstanceRow>>> {
        let key = format!("{filter:?} {page:?}");
        let (filter, writes, cache) = (filter.clone(), Arc::clone(&self.writes), Arc::clone(&self.listings));
        // Both parts of the state are read under the connection's lock, which every write
        // of this store holds: no write of ours can fall between the state and the read
        // below. A commit by another process in between makes the listing newer than its
        // state says, which the next call's state corrects.
        let stamp = move |conn: &rusqlite::Connection, writes: &std::sync::atomic::AtomicU64| -> Result<(u64, i64)> {
            let data_version: i64 = conn
                .prepare_cached("PRAGMA data_version")
                .and_then(|mut version| version.query_row([], |r| r.get(0)))
                .ctx("read the data version")?;
            Ok((writes.load(std::sync::atomic::Ordering::SeqCst), data_version))
        };
        // A listing still held is found in microseconds: where the caller is, if the
        // connection is free.
        if let Ok(conn) = self.conn.try_lock() {
            if let Some(hit) = super::lock(&cache).get(stamp(&conn, &writes)?, &key) {
                return Ok(hit);
            }
        }
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = super::lock(&conn);
            let stamp = stamp(&conn, &writes)?;
            if let Some(hit) = super::lock(&cache).get(stamp, &key) {
                return Ok(hit);
            }
            let fresh = Arc::new(super::transact_on(&mut conn, rusqlite::TransactionBehavior::Deferred, |tx| list_instances(tx, &filter, page))?);
            super::lock(&cache).put(stamp, key, Arc::clone(&fresh));
            Ok(fresh)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("metadata call did not complete: {e}")))?
    }
}

/// The last listings of instances, as read at one state of the metadata: a fleet's
/// dashboards and tools list the same instances over and over between changes, and
/// reading and decoding a hundred rows was most of such a call. The state is the count
/// of this store's writes (taken under the connection's lock, so no write can slip
/// between it and the read) and SQLite's `data_version` (which moves when another
/// process commits); any change empties the cache.
#[derive(Default)]
pub(super) struct ListingCache {
    stamp: Option<(u64, i64)>,
    listings: std::collections::HashMap<String, Arc<Paged<InstanceRow>>>,
}

impl ListingCache {
    /// How many distinct listings (filters and pages) are kept at one state.
    const CAPACITY: usize = 64;

    fn get(&mut self, stamp: (u64, i64), key: &str) -> Option<Arc<Paged<InstanceRow>>> {
        if self.stamp != Some(stamp) {
            self.stamp = Some(stamp);
            self.listings.clear();
            return None;
        }
        self.listings.get(key).cloned()
    }

    fn put(&mut self, stamp: (u64, i64), key: String, listing: Arc<Paged<InstanceRow>>) {
        if self.stamp == Some(stamp) {
            if self.listings.len() >= Self::CAPACITY {
                self.listings.clear();
            }
            self.listings.insert(key, listing);
        }
    }
}
