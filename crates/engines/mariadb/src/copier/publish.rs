//! The destination side: staging databases (named like PostgreSQL's, so a task's
//! leftovers are found by its tag), the journal each keeps of what publication must
//! create, publication by one `RENAME TABLE`, and finishing or undoing it after a crash.
//!
//! Publication cannot be one transaction on MariaDB: `RENAME TABLE` of every table (all
//! databases in one statement, atomic since 10.6) is the atomic step; the views,
//! routines, triggers and events are created under the final name after it. What they
//! are is kept in a journal table in each staging database, and the same `RENAME TABLE`
//! renames the journal from [`JOURNAL`] to [`PUBLISHED`]: that name is the durable proof
//! that the step happened. Whoever finds a staging database with a published journal
//! (the copy itself, [`drop_all`] after a failure, [`published`] after a crash) finishes
//! the publication from it; any other staging database is dropped. Either way no
//! database is ever left half-published.

use super::conn::{error, ident, literal, qualified, MariaDbEndpoint, LOAD_SETTINGS};
use super::plan::{escape_pattern, DbPlan, Grant, Routine};
use super::schema::create_statements;
use mover::{MoveError, Result, Side};
use mover::staging_prefix;
use mover::Endpoint;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

/// The journal's table. `#` keeps it apart from any user table one could expect.
pub(crate) const JOURNAL: &str = "#openrds_publish";
/// The journal once the tables have moved.
pub(crate) const PUBLISHED: &str = "#openrds_published";

fn dst(what: &str) -> impl FnOnce(mysql_async::Error) -> MoveError + '_ {
    move |e| error(Side::Destination, what, e)
}

/// Names of the databases the task tagged `tag` created on the destination.
pub(crate) async fn list_staging(conn: &mut Conn, tag: &str) -> Result<Vec<String>> {
    let prefix = staging_prefix(tag);
    let names: Vec<String> = conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").await.map_err(dst("list staging databases"))?;
    Ok(names.into_iter().filter(|n| n.starts_with(&prefix)).collect())
}

/// Drops `db` after ending every other session working in it (a load the copy left
/// behind would otherwise hold its metadata lock).
pub(crate) async fn drop_database(conn: &mut Conn, db: &str) -> Result<()> {
    let sessions: Vec<u64> = conn
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND (DB = ? OR INFO LIKE CONCAT('%', ?, '%'))",
            (db, db),
        )
        .await
        .map_err(dst("find sessions in a staging database"))?;
    for id in sessions {
        // Already gone is fine.
        let _ = conn.query_drop(format!("KILL {id}")).await;
    }
    // Privileges are kept by database name and outlive the database: the copy granted
    // some on the staging name. Removed first, so none can be left behind.
    let pattern = escape_pattern(db);
    for table in ["db", "tables_priv", "columns_priv", "procs_priv"] {
        conn.exec_drop(format!("DELETE FROM mysql.{table} WHERE Db IN (?, ?)"), (db, &pattern))
            .await
            .map_err(dst("drop a staging database's grants"))?;
    }
    conn.query_drop("FLUSH PRIVILEGES").await.map_err(dst("drop a staging database's grants"))?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", ident(db))).await.map_err(dst("drop a staging database"))?;
    tracing::info!(database = %db, "dropped staging database");
    Ok(())
}

/// Undoes the task tagged `tag`: drops its staging databases, except that one whose
/// tables were already moved by publication is finished instead.
pub(crate) async fn drop_all(conn: &mut Conn, tag: &str) -> Result<()> {
    for db in list_staging(conn, tag).await? {
        if has_table(conn, &db, PUBLISHED).await? {
            finish(conn, &db).await?;
        } else {
            drop_database(conn, &db).await?;
        }
    }
    Ok(())
}

async fn has_table(conn: &mut Conn, db: &str, table: &str) -> Result<bool> {
    let found: Option<String> = conn
        .exec_first("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", (db, table))
        .await
        .map_err(dst("look up a table"))?;
    Ok(found.is_some())
}

/// What publication creates under the final name, in order.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Grant(Grant),
    Object(Routine),
}

/// Creates the journal in `staging` and records in it the final database's name, the
/// source's, and `entries` in order.
pub(crate) async fn write_journal(conn: &mut Conn, staging: &str, destination: &str, source: &DbPlan, entries: &[Entry]) -> Result<()> {
    conn.query_drop(format!(
        "CREATE TABLE {} (seq INT PRIMARY KEY, kind VARCHAR(16) NOT NULL, name VARBINARY(512) NOT NULL, source_db VARBINARY(512) NOT NULL, \
         sql_mode VARBINARY(1024) NOT NULL, time_zone VARBINARY(128) NOT NULL, charset_client VARBINARY(128) NOT NULL, \
         collation_connection VARBINARY(128) NOT NULL, ddl LONGBLOB NOT NULL) ENGINE=InnoDB",
        qualified(staging, JOURNAL)
    ))
    .await
    .map_err(dst("create the publication journal"))?;
    let insert = format!("INSERT INTO {} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", qualified(staging, JOURNAL));
    let row = |kind: &str, name: &str, ddl: String| Routine {
        kind: kind.into(),
        name: name.into(),
        sql_mode: String::new(),
        time_zone: String::new(),
        charset_client: String::new(),
        collation_connection: String::new(),
        ddl,
    };
    let rows = std::iter::once(row("DATABASE", destination, String::new())).chain(entries.iter().map(|e| match e {
        Entry::Grant(g) => row("GRANT", &g.grantee(), serde_json::to_string(g).unwrap_or_default()),
        Entry::Object(o) => o.clone(),
    }));
    for (seq, o) in rows.enumerate() {
        conn.exec_drop(
            insert.as_str(),
            (seq as i64, &o.kind, &o.name, &source.name, &o.sql_mode, &o.time_zone, &o.charset_client, &o.collation_connection, &o.ddl),
        )
        .await
        .map_err(dst("write the publication journal"))?;
    }
    Ok(())
}

/// The published journal of `staging`: the source database's name and the objects,
/// the first being the final database itself.
async fn read_journal(conn: &mut Conn, staging: &str) -> Result<(String, Vec<Routine>)> {
    let rows: Vec<Row> = conn
        .query(format!(
            "SELECT kind, name, source_db, sql_mode, time_zone, charset_client, collation_connection, ddl FROM {} ORDER BY seq",
            qualified(staging, PUBLISHED)
        ))
        .await
        .map_err(dst("read the publication journal"))?;
    let text = |r: &Row, i: usize| -> String {
        match r.as_ref(i) {
            Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    };
    let source = rows.first().map(|r| text(r, 2)).unwrap_or_default();
    let objects = rows
        .iter()
        .map(|r| Routine {
            kind: text(r, 0),
            name: text(r, 1),
            sql_mode: text(r, 3),
            time_zone: text(r, 4),
            charset_client: text(r, 5),
            collation_connection: text(r, 6),
            ddl: text(r, 7),
        })
        .collect();
    Ok((source, objects))
}

/// The final database with the source's character set and comment: created, or (when it
/// existed, empty) given them.
pub(crate) async fn prepare_final(conn: &mut Conn, db: &str, charset: &str, collation: &str, comment: &str) -> Result<()> {
    let spec = format!("CHARACTER SET {} COLLATE {} COMMENT {}", literal(charset), literal(collation), literal(comment));
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {} {spec}", ident(db))).await.map_err(dst("create the destination database"))?;
    conn.query_drop(format!("ALTER DATABASE {} {spec}", ident(db))).await.map_err(dst("set the destination database's character set"))
}

/// Creates what the published journal of `staging` lists under its final database
/// (replacing what an interrupted run created), then drops `staging`. Every entry is
/// tried and the staging database dropped whatever fails: a failure that repeats would
/// otherwise be met again by every cleanup, for ever. What failed is returned.
pub(crate) async fn finish(conn: &mut Conn, staging: &str) -> Result<()> {
    let (source, rows) = read_journal(conn, staging).await?;
    let Some(db) = rows.first().filter(|o| o.kind == "DATABASE").map(|o| o.name.clone()) else {
        return Err(MoveError::Internal(format!("the publication journal of {staging} names no database")));
    };
    let mut failures = Vec::new();
    for o in &rows[1..] {
        let (what, statements) = if o.kind == "GRANT" {
            match serde_json::from_str::<Grant>(&o.ddl) {
                Ok(g) => (format!("grant to {}", g.grantee()), g.statements(&db).to_vec()),
                Err(e) => {
                    failures.push(format!("an unreadable grant ({e})"));
                    continue;
                }
            }
        } else {
            (format!("{} {}", o.kind.to_lowercase(), o.name), create_statements(o, &source, &db, true))
        };
        for sql in statements {
            if let Err(e) = conn.query_drop(sql).await {
                let e = error(Side::Destination, &what, e);
                if e.is_retryable() {
                    // The server went away: nothing else can succeed now; the journal stays.
                    return Err(e);
                }
                failures.push(e.to_string());
                break;
            }
        }
    }
    conn.query_drop(LOAD_SETTINGS).await.map_err(dst("reset the session"))?;
    drop_database(conn, staging).await?;
    if failures.is_empty() {
        tracing::info!(database = %db, "publication finished");
        Ok(())
    } else {
        Err(MoveError::Internal(format!("database {db} was published, but these could not be created in it: {}", failures.join("; "))))
    }
}

/// Finishes any publication of the task tagged `tag` that moved its tables, then tells
/// whether what `mark` lists (per destination database: `Tables`, and `Objects` as
/// [kind, name]) is all in place and no staging database of the task is left.
pub(crate) async fn published(dest: &Endpoint, tag: &str, mark: &serde_json::Value) -> Result<bool> {
    let Some(marks) = mark.as_object() else { return Ok(false) };
    let mut conn = dest.connect_mariadb(Side::Destination).await?;
    for db in list_staging(&mut conn, tag).await? {
        if has_table(&mut conn, &db, PUBLISHED).await? {
            finish(&mut conn, &db).await?;
        }
    }
    if !list_staging(&mut conn, tag).await?.is_empty() {
        return Ok(false);
    }
    for (db, contents) in marks {
        for t in contents["Tables"].as_array().into_iter().flatten().filter_map(|t| t.as_str()) {
            if !has_table(&mut conn, db, t).await? {
                return Ok(false);
            }
        }
        for o in contents["Objects"].as_array().into_iter().flatten() {
            let (Some(kind), Some(name)) = (o[0].as_str(), o[1].as_str()) else { return Ok(false) };
            if !has_object(&mut conn, db, kind, name).await? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

async fn has_object(conn: &mut Conn, db: &str, kind: &str, name: &str) -> Result<bool> {
    let sql = match kind {
        "VIEW" => "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        "PROCEDURE" | "FUNCTION" => "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ?",
        "TRIGGER" => "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME = ?",
        "EVENT" => "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?",
        _ => return Ok(false),
    };
    let found: Option<String> = conn.exec_first(sql, (db, name)).await.map_err(dst("look up an object"))?;
    Ok(found.is_some())
}
