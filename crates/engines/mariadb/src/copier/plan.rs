//! What one source database holds, read in the copy's snapshot while the brief global
//! read lock is still held (MariaDB's catalogue is not transactional, so the lock is what
//! makes the schema and the snapshot agree).

use super::conn::{error, ident, literal, qualified};
use mover::{MoveError, Result, Side};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

/// One column as the copy streams it.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    /// `DATA_TYPE`: decides how the value is read and loaded.
    pub data_type: String,
}

impl Column {
    /// FLOAT prints with 6 significant digits, which does not round-trip; as DOUBLE it
    /// prints the exact value of the stored single.
    pub(crate) fn select_expr(&self) -> String {
        if self.data_type == "float" {
            format!("CAST({} AS DOUBLE)", ident(&self.name))
        } else {
            ident(&self.name)
        }
    }

    /// How the loaded field becomes the column's value, when not directly: spatial values
    /// arrive in the server's internal form (SRID + WKB), which LOAD DATA cannot put into
    /// a geometry column but an assignment can; INET4/INET6/UUID arrive as text, which a
    /// binary-charset field would be taken as raw bytes of.
    pub(crate) fn assignment(&self, variable: &str) -> Option<String> {
        match self.data_type.as_str() {
            "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon" | "geometrycollection" => {
                Some(variable.to_string())
            }
            "inet4" | "inet6" | "uuid" => Some(format!("CONVERT({variable} USING ascii)")),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
    pub create: String,
    /// Stored columns in order (generated columns are computed by the destination).
    pub columns: Vec<Column>,
    /// The single integer primary key column, if any: the table can be copied in ranges.
    pub int_key: Option<String>,
    pub key_range: Option<(i128, i128)>,
    pub bytes: u64,
    pub rows_estimate: u64,
    /// InnoDB: read in the snapshot. Other engines (Aria, MyISAM) have no snapshot and are
    /// copied while the source's read lock still holds.
    pub transactional: bool,
    /// A column is AUTO_INCREMENT (see `locks_auto_increment_per_load` in the copier).
    pub auto_increment: bool,
}

/// A schema-bound object created after the tables, under its own session settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Routine {
    /// `VIEW`, `PROCEDURE`, `FUNCTION`, `TRIGGER` or `EVENT`.
    pub kind: String,
    pub name: String,
    pub sql_mode: String,
    pub time_zone: String,
    pub charset_client: String,
    pub collation_connection: String,
    /// As `SHOW CREATE` gives it (views: with the source database's name in it).
    pub ddl: String,
}

/// A sequence: its definition and its state (the one row of its table) in the snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Sequence {
    pub name: String,
    pub create: String,
    pub next_not_cached_value: String,
    pub cycle_count: String,
    /// Every column of its row, as text, for verification.
    pub state: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct DbPlan {
    pub name: String,
    /// The database's defaults, which tables without their own inherit: the copy is
    /// created with the same ones.
    pub charset: String,
    pub collation: String,
    /// `COMMENT` of the database (MariaDB 10.5+), empty if none.
    pub comment: String,
    /// Base tables by name (the data step orders their chunks largest first).
    pub tables: Vec<Table>,
    pub sequences: Vec<Sequence>,
    /// Views, routines, triggers and events, in an order that can be created.
    pub objects: Vec<Routine>,
    /// Privileges accounts hold on the database and its objects.
    pub grants: Vec<Grant>,
}

/// One account's (or role's) privileges on the database, on one of its tables or views
/// (or columns of one), or on one of its routines. MariaDB keeps privileges by database
/// *name*, so a copy under another name has none unless they are granted again; and a
/// view whose definer may not execute the functions it calls cannot even be created.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Grant {
    pub user: String,
    /// Empty for a role.
    pub host: String,
    pub is_role: bool,
    /// `SELECT, INSERT` or `SELECT (`a`), UPDATE (`b`)`, as GRANT takes them.
    pub privileges: Vec<String>,
    /// None for the database itself; else (`TABLE`, t) for a table or view, or
    /// (`PROCEDURE`/`FUNCTION`, r).
    pub object: Option<(String, String)>,
    pub grantable: bool,
}

impl Grant {
    /// Who it is granted to, quoted from the parts (never from a printed `'u'@'h'`,
    /// which the server does not escape).
    pub(crate) fn grantee(&self) -> String {
        if self.is_role {
            literal(&self.user)
        } else {
            format!("{}@{}", literal(&self.user), literal(&self.host))
        }
    }

    /// The statements that give the same privileges on database `db`. The session's
    /// sql_mode makes a GRANT to an account that does not exist fail instead of creating
    /// a login without a password.
    pub(crate) fn statements(&self, db: &str) -> [String; 2] {
        let on = match &self.object {
            // A database-level grant names a pattern: `_` and `%` must not match others.
            None => format!("{}.*", ident(&escape_pattern(db))),
            Some((kind, name)) if kind == "TABLE" => qualified(db, name),
            Some((kind, name)) => format!("{kind} {}", qualified(db, name)),
        };
        [
            "SET SESSION sql_mode = 'NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION'".to_string(),
            format!("GRANT {} ON {on} TO {}{}", self.privileges.join(", "), self.grantee(), if self.grantable { " WITH GRANT OPTION" } else { "" }),
        ]
    }

    /// The part of it a definer needs while the copy is built in staging: executing
    /// routines and reading (creating a view checks that its definer may run the functions
    /// and read the views it uses). Nothing that writes the verified tables.
    pub(crate) fn for_staging(&self) -> Option<Grant> {
        let read_only: Vec<String> = self
            .privileges
            .iter()
            .filter(|p| matches!(p.as_str(), "EXECUTE" | "SELECT" | "SHOW VIEW") || p.starts_with("SELECT ("))
            .cloned()
            .collect();
        (!read_only.is_empty()).then(|| Grant { privileges: read_only, grantable: false, ..self.clone() })
    }
}

/// A database name as a grant's pattern matches only itself.
pub(crate) fn escape_pattern(db: &str) -> String {
    db.replace('_', "\\_").replace('%', "\\%")
}

/// `Create_tmp_table_priv` → `CREATE TEMPORARY TABLES`, `Show_view_priv` → `SHOW VIEW`.
fn privilege_of_column(column: &str) -> Option<String> {
    let base = column.strip_suffix("_priv")?;
    Some(match base {
        "Grant" => return None,
        "Create_tmp_table" => "CREATE TEMPORARY TABLES".into(),
        other => other.replace('_', " ").to_uppercase(),
    })
}

/// `Delete versioning rows` (tables_priv's name) → `DELETE HISTORY`.
fn privilege_of_set_value(value: &str) -> String {
    match value {
        "Delete versioning rows" => "DELETE HISTORY".into(),
        other => other.to_uppercase(),
    }
}

fn src(what: &str) -> impl FnOnce(mysql_async::Error) -> MoveError + '_ {
    move |e| error(Side::Source, what, e)
}

fn text(row: &Row, i: usize) -> String {
    match row.as_ref(i) {
        Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(mysql_async::Value::NULL) | None => String::new(),
        Some(other) => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

fn number(row: &Row, i: usize) -> u64 {
    text(row, i).parse().unwrap_or(0)
}

/// Reads the plan of database `name` on `conn`, a session inside the copy's snapshot
/// (while the lock holds: its tables' definitions must be those of the rows it reads).
pub(crate) async fn read(conn: &mut Conn, name: &str) -> Result<DbPlan> {
    let schema: Vec<Row> = conn
        .exec(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME, SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (name,),
        )
        .await
        .map_err(src("read the database"))?;
    let Some(schema) = schema.first() else {
        return Err(MoveError::InvalidRequest(format!("the source has no database {name}")));
    };
    let (charset, collation, comment) = (text(schema, 0), text(schema, 1), text(schema, 2));

    let rows: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(DATA_LENGTH, 0), COALESCE(TABLE_ROWS, 0), COALESCE(ENGINE, '') FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (name,),
        )
        .await
        .map_err(src("list tables"))?;
    let mut tables = Vec::new();
    let mut sequences = Vec::new();
    for row in &rows {
        let (table, kind) = (text(row, 0), text(row, 1));
        match kind.as_str() {
            "BASE TABLE" => tables.push((table, number(row, 2), number(row, 3), text(row, 4).eq_ignore_ascii_case("InnoDB"))),
            "VIEW" => {}
            "SEQUENCE" => sequences.push(table),
            other => {
                return Err(MoveError::InvalidRequest(format!(
                    "database {name} holds {table}, a {other}; openrds copies base tables, sequences, views, routines, triggers and events only"
                )))
            }
        }
    }
    let mut plan = DbPlan { name: name.to_string(), charset, collation, comment, tables: Vec::new(), sequences: Vec::new(), objects: Vec::new(), grants: Vec::new() };
    plan.tables = read_tables(conn, name, tables).await?;
    for sequence in sequences {
        let create = text(&first(conn, &format!("SHOW CREATE SEQUENCE {}", qualified(name, &sequence)), "read a sequence").await?, 1);
        let state = sequence_state(conn, name, &sequence, Side::Source).await?;
        plan.sequences.push(Sequence {
            name: sequence,
            create,
            next_not_cached_value: state.first().cloned().unwrap_or_default(),
            cycle_count: state.get(7).cloned().unwrap_or_default(),
            state,
        });
    }
    Ok(plan)
}

/// Reads the views, routines, triggers, events and grants of database `plan.name` into
/// `plan`. They hold no rows, so they need not be read under the snapshot's lock.
pub(crate) async fn read_objects(conn: &mut Conn, plan: &mut DbPlan) -> Result<()> {
    let name = plan.name.clone();
    let name = name.as_str();
    for kind in &OBJECT_KINDS {
        let found: Vec<Row> = conn.exec(kind.list, (name,)).await.map_err(src(&format!("list {}", kind.what)))?;
        for object in &found {
            let (object_kind, object_name) = (text(object, 0), text(object, 1));
            let show = format!("SHOW CREATE {object_kind} {}", qualified(name, &object_name));
            let row = first(conn, &show, &format!("read one of the {}", kind.what)).await?;
            let column = |i: Option<usize>| i.map(|i| text(&row, i)).unwrap_or_default();
            plan.objects.push(Routine {
                kind: object_kind,
                name: object_name,
                sql_mode: column(kind.sql_mode),
                time_zone: column(kind.time_zone),
                ddl: text(&row, kind.ddl),
                charset_client: text(&row, kind.ddl + 1),
                collation_connection: text(&row, kind.ddl + 2),
            });
        }
    }
    plan.grants = read_grants(conn, plan).await?;
    Ok(())
}

/// One kind of object besides tables: how to list them (rows of kind and name, in the
/// order they are to be created) and where `SHOW CREATE` puts what the copy replays
/// (`None`: the kind has no such column). The client character set and collation follow
/// the DDL.
struct ObjectKind {
    what: &'static str,
    list: &'static str,
    sql_mode: Option<usize>,
    time_zone: Option<usize>,
    ddl: usize,
}

const OBJECT_KINDS: [ObjectKind; 4] = [
    // View, Create View, character_set_client, collation_connection
    ObjectKind {
        what: "views",
        list: "SELECT 'VIEW', TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'VIEW' ORDER BY TABLE_NAME",
        sql_mode: None,
        time_zone: None,
        ddl: 1,
    },
    // Routine, sql_mode, Create ..., character_set_client, collation_connection, Database Collation
    ObjectKind {
        what: "routines",
        list: "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
               AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        sql_mode: Some(1),
        time_zone: None,
        ddl: 2,
    },
    // Trigger, sql_mode, SQL Original Statement, character_set_client, collation_connection, ...
    ObjectKind {
        what: "triggers",
        list: "SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? \
               ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        sql_mode: Some(1),
        time_zone: None,
        ddl: 2,
    },
    // Event, sql_mode, time_zone, Create Event, character_set_client, collation_connection, ...
    ObjectKind {
        what: "events",
        list: "SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
        sql_mode: Some(1),
        time_zone: Some(2),
        ddl: 3,
    },
];

/// Every grant on database `db` and its objects, read from the privilege tables (whose
/// user and host are separate columns). A database-level grant's name may be stored with
/// `_` and `%` escaped. Grants on tables, views and routines that no longer exist (the
/// server keeps them after a DROP) are left out.
async fn read_grants(conn: &mut Conn, plan: &DbPlan) -> Result<Vec<Grant>> {
    let db = plan.name.as_str();
    let roles: Vec<String> = conn.query("SELECT User FROM mysql.user WHERE is_role = 'Y'").await.map_err(src("list roles"))?;
    let is_role = |user: &str, host: &str| host.is_empty() && roles.iter().any(|r| r == user);
    let mut grants = Vec::new();

    let pattern = escape_pattern(db);
    let rows: Vec<Row> = conn.exec("SELECT * FROM mysql.db WHERE Db IN (?, ?)", (db, &pattern)).await.map_err(src("read database grants"))?;
    for r in &rows {
        let columns = r.columns_ref();
        let (mut user, mut host, mut privileges, mut grantable) = (String::new(), String::new(), Vec::new(), false);
        for (i, c) in columns.iter().enumerate() {
            let name = c.name_str();
            match name.as_ref() {
                "User" => user = text(r, i),
                "Host" => host = text(r, i),
                "Grant_priv" => grantable = text(r, i) == "Y",
                other => {
                    if let Some(p) = privilege_of_column(other).filter(|_| text(r, i) == "Y") {
                        privileges.push(p);
                    }
                }
            }
        }
        if !privileges.is_empty() {
            grants.push(Grant { is_role: is_role(&user, &host), user, host, privileges, object: None, grantable });
        }
    }

    let relations: Vec<&str> = plan.tables.iter().map(|t| t.name.as_str()).chain(plan.sequences.iter().map(|q| q.name.as_str())).chain(
        plan.objects.iter().filter(|o| o.kind == "VIEW").map(|o| o.name.as_str()),
    )
    .collect();
    let rows: Vec<Row> =
        conn.exec("SELECT User, Host, Table_name, Table_priv FROM mysql.tables_priv WHERE Db = ?", (db,)).await.map_err(src("read table grants"))?;
    let columns: Vec<Row> = conn
        .exec("SELECT User, Host, Table_name, Column_name, Column_priv FROM mysql.columns_priv WHERE Db = ? ORDER BY Column_name", (db,))
        .await
        .map_err(src("read column grants"))?;
    for r in &rows {
        let (user, host, table) = (text(r, 0), text(r, 1), text(r, 2));
        if !relations.contains(&table.as_str()) {
            continue;
        }
        let held: Vec<String> = text(r, 3).split(',').filter(|p| !p.is_empty()).map(str::to_string).collect();
        let mut privileges: Vec<String> = held.iter().filter(|p| *p != "Grant").map(|p| privilege_of_set_value(p)).collect();
        for c in columns.iter().filter(|c| text(c, 0) == user && text(c, 1) == host && text(c, 2) == table) {
            for p in text(c, 4).split(',').filter(|p| !p.is_empty()) {
                privileges.push(format!("{} ({})", privilege_of_set_value(p), ident(&text(c, 3))));
            }
        }
        if !privileges.is_empty() {
            let grantable = held.iter().any(|p| p == "Grant");
            grants.push(Grant { is_role: is_role(&user, &host), user, host, privileges, object: Some(("TABLE".into(), table)), grantable });
        }
    }

    let rows: Vec<Row> = conn
        .exec("SELECT User, Host, Routine_type, Routine_name, Proc_priv FROM mysql.procs_priv WHERE Db = ? ORDER BY User, Host, Routine_name", (db,))
        .await
        .map_err(src("read routine grants"))?;
    for r in &rows {
        let (user, host, kind, routine) = (text(r, 0), text(r, 1), text(r, 2), text(r, 3));
        if !plan.objects.iter().any(|o| o.kind == kind && o.name == routine) {
            continue;
        }
        let held: Vec<String> = text(r, 4).split(',').filter(|p| !p.is_empty()).map(str::to_string).collect();
        let privileges: Vec<String> = held.iter().filter(|p| *p != "Grant").map(|p| p.to_uppercase()).collect();
        if !privileges.is_empty() {
            let grantable = held.iter().any(|p| p == "Grant");
            grants.push(Grant { is_role: is_role(&user, &host), user, host, privileges, object: Some((kind, routine)), grantable });
        }
    }
    Ok(grants)
}

async fn first(conn: &mut Conn, sql: &str, what: &str) -> Result<Row> {
    let row: Option<Row> = conn.query_first(sql).await.map_err(src(what))?;
    row.ok_or_else(|| MoveError::Internal(format!("{what}: `{sql}` returned nothing")))
}

/// Columns and primary keys of every table of `db`, two catalogue queries for all of
/// them (per table they cost milliseconds each, inside the snapshot's lock).
async fn read_tables(conn: &mut Conn, db: &str, tables: Vec<(String, u64, u64, bool)>) -> Result<Vec<Table>> {
    let cols: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (db,),
        )
        .await
        .map_err(src("list columns"))?;
    let keys: Vec<Row> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' \
             ORDER BY TABLE_NAME, SEQ_IN_INDEX",
            (db,),
        )
        .await
        .map_err(src("read primary keys"))?;
    let mut out = Vec::with_capacity(tables.len());
    for (table, bytes, rows_estimate, transactional) in tables {
        let create = text(&first(conn, &format!("SHOW CREATE TABLE {}", qualified(db, &table)), "read a table").await?, 1);
        // The server names a default's sequence with the database, so the copy's column
        // would keep drawing from the source database's sequence under its name.
        if create.contains(&format!("nextval({}.", ident(db))) {
            return Err(MoveError::InvalidRequest(format!(
                "table {table} of database {db} takes a default from a sequence of {db} (DEFAULT nextval(...)); a copy under another name would keep using the source's sequence, so openrds does not copy it: set the default in the application or after the import"
            )));
        }
        let own: Vec<&Row> = cols.iter().filter(|c| text(c, 0) == table).collect();
        let columns: Vec<Column> = own
            .iter()
            .filter(|c| !text(c, 3).to_ascii_uppercase().contains("GENERATED"))
            .map(|c| Column { name: text(c, 1), data_type: text(c, 2).to_ascii_lowercase() })
            .collect();
        let key: Vec<String> = keys.iter().filter(|k| text(k, 0) == table).map(|k| text(k, 1)).collect();
        let int_key = match key.as_slice() {
            [only] => own
                .iter()
                .find(|c| text(c, 1) == *only)
                .filter(|c| matches!(text(c, 2).to_ascii_lowercase().as_str(), "tinyint" | "smallint" | "mediumint" | "int" | "bigint"))
                .map(|_| only.clone()),
            _ => None,
        };
        let auto_increment = own.iter().any(|c| text(c, 3).to_ascii_lowercase().contains("auto_increment"));
        out.push(Table { name: table, create, columns, int_key, key_range: None, bytes, rows_estimate, transactional, auto_increment });
    }
    Ok(out)
}

/// The smallest and largest key of a table that will be split, in the snapshot.
/// Read as text: a BIGINT UNSIGNED key may exceed i64.
pub(crate) async fn key_range(conn: &mut Conn, db: &str, table: &str, key: &str) -> Result<Option<(i128, i128)>> {
    let sql = format!("SELECT MIN({k}), MAX({k}) FROM {}", qualified(db, table), k = ident(key));
    let row: Option<Row> = conn.query_first(sql).await.map_err(src("read a key range"))?;
    Ok(row.and_then(|r| Some((text(&r, 0).parse().ok()?, text(&r, 1).parse().ok()?))))
}

/// The one row of a sequence's table, every column as text.
pub(crate) async fn sequence_state(conn: &mut Conn, db: &str, sequence: &str, side: Side) -> Result<Vec<String>> {
    let row: Option<Row> = conn
        .query_first(format!(
            "SELECT next_not_cached_value, minimum_value, maximum_value, start_value, increment, cache_size, cycle_option, cycle_count FROM {}",
            qualified(db, sequence)
        ))
        .await
        .map_err(|e| error(side, "read a sequence", e))?;
    let row = row.ok_or_else(|| MoveError::Internal(format!("sequence {sequence} has no state")))?;
    Ok((0..8).map(|i| text(&row, i)).collect())
}
