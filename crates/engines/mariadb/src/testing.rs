//! MariaDB test support, for this crate's tests, the server's and the CLI's, and the demo:
//! the dataset holding every object kind a copy must carry
//! (`fixtures/mariadb/every_kind.sql`), and comparisons of two databases (schema by
//! `SHOW CREATE`, data by digests computed in SQL) that use nothing of the code under
//! test. The `try_` functions return errors; the others fail the test with the error.

use anyhow::Context;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use std::collections::BTreeMap;

/// The line that separates the fixture's statements (bodies contain `;`, and DELIMITER is
/// a client feature drivers do not understand).
pub const MARKER: &str = "-- @@";

const EVERY_KIND: &str = include_str!("../../../../fixtures/mariadb/every_kind.sql");

/// A TCP connection, `db` as default database; a server that cannot be reached fails the test.
pub async fn connect(login: &engine::Login, db: Option<&str>) -> Conn {
    try_connect(login, db).await.unwrap_or_else(|e| panic!("MariaDB must be reachable for these tests: {e:#}"))
}

/// [`connect`], failing with an error.
pub async fn try_connect(login: &engine::Login, db: Option<&str>) -> anyhow::Result<Conn> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(login.host.clone())
        .tcp_port(login.port)
        .user(Some(login.user.clone()))
        .pass((!login.password.is_empty()).then(|| login.password.clone()))
        .db_name(db)
        // Otherwise the driver switches to the server's Unix socket when it is local, where
        // root may authenticate differently (unix_socket plugin) than over TCP.
        .prefer_socket(false);
    Conn::new(opts).await.with_context(|| format!("connect to {}:{} as {}", login.host, login.port, login.user))
}

/// `'user'@'%'`, as the fixture's `@definer@` wants it.
pub fn account(user: &str) -> String {
    format!("'{}'@'%'", user.replace('\\', "\\\\").replace('\'', "''"))
}

/// `name` as a quoted identifier.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `db` quoted for GRANT and REVOKE, where `_` and `%` in a database name are wildcards:
/// escaped, so that exactly `db` is meant.
pub fn grant_ident(db: &str) -> String {
    ident(&db.replace('_', "\\_").replace('%', "\\%"))
}

/// Splits a script on lines holding exactly [`MARKER`]: pieces holding only comments and
/// blanks are dropped, and so is one trailing `;` (a piece is sent as one statement).
pub fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut flush = |cur: &mut String| {
        let has_sql = cur.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("--")
        });
        if has_sql {
            let s = cur.trim();
            out.push(s.strip_suffix(';').unwrap_or(s).trim_end().to_string());
        }
        cur.clear();
    };
    for line in script.lines() {
        if line.trim_end() == MARKER {
            flush(&mut cur);
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    flush(&mut cur);
    out
}

/// The fixture's statements, with `@definer@` replaced by `definer` (an account such as
/// `'app'@'%'`, see [`account`]), in the order they must run.
pub fn every_kind(definer: &str) -> Vec<String> {
    split_statements(&EVERY_KIND.replace("@definer@", definer))
}

/// Loads the fixture into the existing (empty) database `db`. The account
/// `'definer_user'@'%'` is created if absent and granted everything on `db`, so that the
/// views, routines, triggers and events it defines work there.
pub async fn load_every_kind(login: &engine::Login, db: &str, definer_user: &str) {
    let definer = account(definer_user);
    let mut c = connect(login, None).await;
    c.query_drop(format!("CREATE USER IF NOT EXISTS {definer}")).await.unwrap_or_else(|e| panic!("create {definer}: {e}"));
    c.query_drop(format!("GRANT ALL PRIVILEGES ON {}.* TO {definer}", grant_ident(db)))
        .await
        .unwrap_or_else(|e| panic!("grant {definer} on {db}: {e}"));
    c.disconnect().await.ok();
    let mut c = connect(login, Some(db)).await;
    for s in every_kind(&definer) {
        c.query_drop(&s).await.unwrap_or_else(|e| panic!("loading every_kind into {db}: {e}\n{s}"));
    }
    c.disconnect().await.ok();
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::NULL) => "NULL".to_string(),
        Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => other.as_sql(true),
    }
}

/// The rows of a `SHOW CREATE …` as `column: value` lines, leaving out `skip` columns.
async fn show(c: &mut Conn, sql: &str, skip: &[&str]) -> anyhow::Result<String> {
    let rows: Vec<Row> = c.query(sql).await.with_context(|| sql.to_string())?;
    let mut out = String::new();
    for r in &rows {
        for (i, col) in r.columns_ref().iter().enumerate() {
            let name = col.name_str();
            if !skip.contains(&name.as_ref()) {
                out.push_str(&format!("{name}: {}\n", text(r.as_ref(i))));
            }
        }
    }
    Ok(out)
}

async fn names(c: &mut Conn, sql: &str, db: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let rows: Vec<Row> = c.exec(sql, (db,)).await.with_context(|| sql.to_string())?;
    Ok(rows.iter().map(|r| (0..r.len()).map(|i| text(r.as_ref(i))).collect()).collect())
}

async fn session(c: &mut Conn) -> anyhow::Result<()> {
    // Fixed output whatever the server's defaults: TIMESTAMPs are shown in the session zone.
    Ok(c.query_drop("SET NAMES utf8mb4, time_zone = '+00:00', max_statement_time = 0").await?)
}

/// Every object's `SHOW CREATE` output with all its columns (so definers, sql_mode,
/// time_zone and character set/collation contexts are compared), sorted by kind and name,
/// with `from` replaced by `to` (choose names that occur nowhere else). Covers the
/// database (default charset, collation, comment), tables (with AUTO_INCREMENT and
/// partitions), sequences (definition; their state is in [`digests`]), views, functions,
/// procedures, triggers (with their order among triggers of the same table and event) and
/// events.
///
/// Removed, as genuinely per-load: the `Created` column of `SHOW CREATE TRIGGER` (the
/// moment the trigger was created). Nothing else in these outputs varies between two
/// loads of the same text: `SHOW CREATE EVENT` holds no CREATED/LAST_ALTERED/LAST_EXECUTED
/// (those are only in information_schema.EVENTS, not read here), and routines' created and
/// modified times are only in information_schema.ROUTINES / SHOW … STATUS.
pub async fn schema_dump(login: &engine::Login, db: &str, from: &str, to: &str) -> String {
    try_schema_dump(login, db, from, to).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`schema_dump`], failing with an error.
pub async fn try_schema_dump(login: &engine::Login, db: &str, from: &str, to: &str) -> anyhow::Result<String> {
    let mut c = try_connect(login, Some(db)).await?;
    session(&mut c).await?;
    // (kind order, kind, name) -> text; the order puts dependencies first for a reader.
    let mut parts: BTreeMap<(u8, String, String), String> = BTreeMap::new();
    parts.insert((0, "DATABASE".into(), db.into()), show(&mut c, &format!("SHOW CREATE DATABASE {}", ident(db)), &[]).await?);
    for t in names(&mut c, "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", db).await? {
        let (kind, order) = match t[1].as_str() {
            "VIEW" => ("VIEW", 3),
            "SEQUENCE" => ("SEQUENCE", 2),
            _ => ("TABLE", 1),
        };
        let sql = format!("SHOW CREATE {kind} {}", ident(&t[0]));
        parts.insert((order, kind.into(), t[0].clone()), show(&mut c, &sql, &[]).await?);
    }
    for r in names(&mut c, "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", db).await? {
        let sql = format!("SHOW CREATE {} {}", r[0], ident(&r[1]));
        parts.insert((4, r[0].clone(), r[1].clone()), show(&mut c, &sql, &[]).await?);
    }
    for t in names(
        &mut c,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?",
        db,
    )
    .await?
    {
        // SHOW CREATE TRIGGER does not say where the trigger runs among its siblings.
        let head = format!("order: {} {} ON {} #{}\n", t[2], t[3], t[1], t[4]);
        let body = show(&mut c, &format!("SHOW CREATE TRIGGER {}", ident(&t[0])), &["Created"]).await?;
        parts.insert((5, "TRIGGER".into(), t[0].clone()), head + &body);
    }
    for e in names(&mut c, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", db).await? {
        let sql = format!("SHOW CREATE EVENT {}", ident(&e[0]));
        parts.insert((6, "EVENT".into(), e[0].clone()), show(&mut c, &sql, &[]).await?);
    }
    c.disconnect().await.ok();
    Ok(parts
        .into_iter()
        .map(|((_, kind, name), body)| format!("-- {kind} {name}\n{body}"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(from, to))
}

/// Tables holding rows: base and system-versioned tables, and sequences (one row: state).
async fn data_tables(c: &mut Conn, db: &str, with_sequences: bool) -> anyhow::Result<Vec<String>> {
    let kinds = if with_sequences { "'BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE'" } else { "'BASE TABLE', 'SYSTEM VERSIONED'" };
    let sql = format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ({kinds}) ORDER BY TABLE_NAME");
    Ok(names(c, &sql, db).await?.into_iter().map(|mut r| r.remove(0)).collect())
}

/// How one column's value becomes text that keeps every distinction: bytes as hex (HEX of a
/// number would round it), floats widened to DOUBLE so that all their digits print, BIT as
/// a number, ENUM/SET as value and index (an invalid '' and a declared '' differ), the rest
/// as their exact text form.
fn column_expr(name: &str, data_type: &str) -> String {
    let c = ident(name);
    let v = match data_type {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "binary" | "varbinary" | "tinyblob" | "blob"
        | "mediumblob" | "longblob" | "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" => format!("HEX({c})"),
        "float" | "double" => format!("HEX(CAST({c} * 1e0 AS CHAR))"),
        "bit" => format!("HEX({c} + 0)"),
        "enum" | "set" => format!("CONCAT(HEX({c}), '/', {c} + 0)"),
        _ => format!("HEX(CAST({c} AS CHAR))"),
    };
    format!("IF({c} IS NULL, 'N', CONCAT('V', {v}))")
}

/// Per table holding rows (base tables and sequences): row count and an order-independent
/// digest computed in SQL, independent of CHECKSUM TABLE and of the mover. Each row becomes
/// MD5 over every column (generated VIRTUAL and INVISIBLE ones included), with an explicit
/// NULL marker; the digest is the exact sums and the XORs of both 64-bit halves of those
/// MD5s, so a changed byte, NULL against empty, or one duplicate more or less all show.
pub async fn digests(login: &engine::Login, db: &str) -> BTreeMap<String, (u64, String)> {
    try_digests(login, db).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`digests`], failing with an error.
pub async fn try_digests(login: &engine::Login, db: &str) -> anyhow::Result<BTreeMap<String, (u64, String)>> {
    let mut c = try_connect(login, Some(db)).await?;
    session(&mut c).await?;
    let mut out = BTreeMap::new();
    for t in data_tables(&mut c, db, true).await? {
        let cols: Vec<Row> = c
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db, t.as_str()),
            )
            .await
            .context("read columns")?;
        anyhow::ensure!(!cols.is_empty(), "{db}.{t} has no columns in information_schema");
        let exprs: Vec<String> = cols.iter().map(|r| column_expr(&text(r.as_ref(0)), &text(r.as_ref(1)).to_lowercase())).collect();
        let hi = "CONV(SUBSTRING(h, 1, 16), 16, 10)";
        let lo = "CONV(SUBSTRING(h, 17, 16), 16, 10)";
        let sql = format!(
            "SELECT COUNT(*), COALESCE(SUM(CAST({hi} AS DECIMAL(20,0))), 0), COALESCE(SUM(CAST({lo} AS DECIMAL(20,0))), 0), \
             BIT_XOR(CAST({hi} AS UNSIGNED)), BIT_XOR(CAST({lo} AS UNSIGNED)) \
             FROM (SELECT MD5(CONCAT_WS(',', {})) AS h FROM {}) x",
            exprs.join(", "),
            ident(&t)
        );
        let rows: Vec<Row> = c.query(&sql).await.with_context(|| format!("digest of {db}.{t}: {sql}"))?;
        let r = rows.first().context("a digest without a row")?;
        let n: u64 = text(r.as_ref(0)).parse().context("a row count")?;
        let d = (1..5).map(|i| text(r.as_ref(i))).collect::<Vec<_>>().join(":");
        out.insert(t, (n, d));
    }
    c.disconnect().await.ok();
    Ok(out)
}

/// Per base table, `CHECKSUM TABLE … EXTENDED`. It depends on the storage format too (row
/// format, temporal format, server version), so it is equal only between like tables on
/// like servers; [`digests`] is the comparison that does not.
pub async fn checksums(login: &engine::Login, db: &str) -> BTreeMap<String, u64> {
    let mut c = connect(login, Some(db)).await;
    session(&mut c).await.unwrap();
    let mut out = BTreeMap::new();
    for t in data_tables(&mut c, db, false).await.unwrap() {
        let sql = format!("CHECKSUM TABLE {} EXTENDED", ident(&t));
        let rows: Vec<Row> = c.query(&sql).await.unwrap_or_else(|e| panic!("{sql} in {db}: {e}"));
        let v = text(rows[0].as_ref(1));
        out.insert(t, v.parse().unwrap_or_else(|_| panic!("{sql} in {db} gave {v}")));
    }
    c.disconnect().await.ok();
    out
}

impl engine::OnHost for crate::MariaDbEngine {
    fn on_host() -> Self {
        crate::MariaDbEngine::new(crate::MariaDbConfig::detect().expect("MariaDB server binaries are required for these tests (install mariadb-server)"))
    }
}
