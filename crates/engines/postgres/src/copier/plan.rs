//! The plan of one source database, read from its catalog inside the exported snapshot:
//! what has data (leaf tables, extension configuration tables), how each table is copied
//! (columns, binary or text, split key), the indexes that can be built as soon as their
//! table is loaded, sequences with their values, large objects, roles and database-level
//! properties. Nothing here writes.

use super::conn::{ident, qualified};
use super::error::{pg_error, Result};
use mover::{MoveError, Side};
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::Client;

/// First OID handed to user objects; below it everything is built in and has the same
/// OID on every server of a major version.
const FIRST_NORMAL_OID: u32 = 16384;

/// `bpchar`, the type of `char(n)`: built in, so the same OID on every server.
const BPCHAR_OID: u32 = 1042;

#[derive(Debug, Clone)]
pub(crate) struct DbInfo {
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    /// `i` for ICU (PostgreSQL 15+), with its locale.
    pub locale_provider: Option<String>,
    pub icu_locale: Option<String>,
    pub owner: String,
    pub comment: Option<String>,
    /// `None`: default privileges. `Some`: explicit grants (grantee `None` is PUBLIC).
    pub acl: Option<Vec<(Option<String>, String, bool)>>,
    /// (role or `None` for all roles, `name=value` entries).
    pub settings: Vec<(Option<String>, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct TablePlan {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub is_partition: bool,
    pub bytes: u64,
    pub rows_estimate: u64,
    /// Quoted column names in attribute order, generated columns left out (the
    /// destination computes them; COPY refuses them).
    pub columns: Vec<String>,
    /// Every column survives a binary COPY between two servers of the same major.
    pub binary_safe: bool,
    /// Copied `char(n)` columns (not domains over it): the unquoted name and `atttypmod`.
    pub fixed_chars: Vec<(String, i32)>,
    /// A single-column integer primary key, for splitting into key ranges.
    pub int_key: Option<String>,
    /// The WHERE clause of an extension configuration table (`pg_extension_config_dump`).
    pub filter: Option<String>,
    /// An extension configuration table: rows the extension itself inserted stay.
    pub extension_config: bool,
}

impl TablePlan {
    pub(crate) fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }
    pub(crate) fn column_list(&self) -> String {
        self.columns.join(", ")
    }
    pub(crate) fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConstraintPlan {
    pub oid: u32,
    pub name: String,
    /// `p`, `u` or `x`.
    pub kind: String,
    pub deferrable: bool,
    pub deferred: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct IndexPlan {
    pub index_oid: u32,
    pub index_name: String,
    pub table_oid: u32,
    pub indexdef: String,
    pub constraint: Option<ConstraintPlan>,
    /// A plain b-tree unique index (no expressions, predicate, INCLUDE or ordering
    /// options): its constraint can be added with `USING INDEX`.
    pub plain_unique: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct SeqPlan {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DbPlan {
    pub server_version: i32,
    pub info: DbInfo,
    pub tables: Vec<TablePlan>,
    pub indexes: Vec<IndexPlan>,
    pub sequences: Vec<SeqPlan>,
    pub large_objects: u64,
    pub roles: BTreeSet<String>,
}

fn err(what: &str) -> impl FnOnce(tokio_postgres::Error) -> MoveError + '_ {
    move |e| pg_error(Side::Source, what, e)
}

/// Reads the plan through `client`, which must be inside the snapshot transaction with
/// `search_path` empty (so that definitions come out schema-qualified).
pub(crate) async fn read(client: &Client, server_version: i32) -> Result<DbPlan> {
    let info = read_info(client, server_version).await?;
    let mut tables = read_tables(client).await?;
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let types = TypeMap::read(client, server_version).await?;

    // Columns, and whether each table can travel in binary.
    let mut cols: HashMap<u32, (Vec<String>, bool)> = HashMap::new();
    let mut fixed_chars: HashMap<u32, Vec<(String, i32)>> = HashMap::new();
    for r in client
        .query(
            "SELECT a.attrelid, a.attname::text, a.atttypid, a.attgenerated <> '', a.atttypmod \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(err("list columns"))?
    {
        let rel: u32 = r.get(0);
        let entry = cols.entry(rel).or_insert_with(|| (Vec::new(), true));
        if r.get::<_, bool>(3) {
            continue;
        }
        entry.0.push(ident(r.get::<_, &str>(1)));
        entry.1 &= types.binary_safe(r.get(2));
        if r.get::<_, u32>(2) == BPCHAR_OID && r.get::<_, i32>(4) >= 0 {
            fixed_chars.entry(rel).or_default().push((r.get(1), r.get(4)));
        }
    }
    let mut keys: HashMap<u32, String> = HashMap::new();
    for r in client
        .query(
            "SELECT i.indrelid, a.attname::text FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indisprimary AND i.indnkeyatts = 1 AND a.atttypid IN (20, 21, 23) AND i.indrelid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(err("find integer keys"))?
    {
        keys.insert(r.get(0), ident(r.get::<_, &str>(1)));
    }
    for t in &mut tables {
        let (c, binary) = cols.remove(&t.oid).unwrap_or((Vec::new(), true));
        t.columns = c;
        t.binary_safe = binary;
        t.fixed_chars = fixed_chars.remove(&t.oid).unwrap_or_default();
        t.int_key = keys.remove(&t.oid);
    }

    let nulls_distinct = if server_version >= 150000 { "AND NOT i.indnullsnotdistinct" } else { "" };
    let indexes = client
        .query(
            &format!(
                "SELECT i.indexrelid, i.indrelid, pg_catalog.pg_get_indexdef(i.indexrelid), \
                   con.oid, con.conname::text, con.contype::text, con.condeferrable, con.condeferred, \
                   (am.amname = 'btree' AND i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL \
                    AND i.indnkeyatts = i.indnatts AND i.indoption::text ~ '^[0 ]*$' AND ic.reloptions IS NULL {nulls_distinct}), \
                   ic.relname::text \
                 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
                 JOIN pg_catalog.pg_am am ON am.oid = ic.relam \
                 LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid \
                   AND con.contype IN ('p', 'u', 'x') \
                 WHERE i.indrelid = ANY($1)"
            ),
            &[&oids],
        )
        .await
        .map_err(err("list indexes"))?
        .into_iter()
        .map(|r| IndexPlan {
            index_oid: r.get(0),
            table_oid: r.get(1),
            indexdef: r.get(2),
            constraint: r.get::<_, Option<u32>>(3).map(|oid| ConstraintPlan {
                oid,
                name: r.get(4),
                kind: r.get(5),
                deferrable: r.get(6),
                deferred: r.get(7),
            }),
            plain_unique: r.get(8),
            index_name: r.get(9),
        })
        .collect();

    let sequences = read_sequences(client).await?;
    let large_objects: i64 = client
        .query_one("SELECT count(*) FROM pg_catalog.pg_largeobject_metadata", &[])
        .await
        .map_err(err("count large objects"))?
        .get(0);
    let roles = read_roles(client).await?;
    Ok(DbPlan { server_version, info, tables, indexes, sequences, large_objects: large_objects as u64, roles })
}

async fn read_info(client: &Client, server_version: i32) -> Result<DbInfo> {
    let locale = if server_version >= 150000 { "d.datlocprovider::text, d.daticulocale" } else { "NULL::text, NULL::text" };
    let r = client
        .query_one(
            &format!(
                "SELECT pg_catalog.pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datctype::text, {locale}, \
                   pg_catalog.pg_get_userbyid(d.datdba)::text, pg_catalog.shobj_description(d.oid, 'pg_database'), d.datacl IS NULL \
                 FROM pg_catalog.pg_database d WHERE d.datname = current_database()"
            ),
            &[],
        )
        .await
        .map_err(err("read database properties"))?;
    let acl = if r.get::<_, bool>(7) {
        None
    } else {
        let rows = client
            .query(
                "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END, \
                   a.privilege_type, a.is_grantable \
                 FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a WHERE d.datname = current_database()",
                &[],
            )
            .await
            .map_err(err("read database privileges"))?;
        Some(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    };
    let settings = client
        .query(
            "SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(s.setrole)::text END, s.setconfig \
             FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase \
             WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST",
            &[],
        )
        .await
        .map_err(err("read database settings"))?
        .into_iter()
        .map(|r| (r.get(0), r.get::<_, Option<Vec<String>>>(1).unwrap_or_default()))
        .collect();
    Ok(DbInfo {
        encoding: r.get(0),
        collate: r.get(1),
        ctype: r.get(2),
        locale_provider: r.get(3),
        icu_locale: r.get(4),
        owner: r.get(5),
        comment: r.get(6),
        acl,
        settings,
    })
}

/// Tables that hold data: plain and leaf-partition tables that no extension owns, plus
/// extension configuration tables with their filter (as pg_dump does).
async fn read_tables(client: &Client) -> Result<Vec<TablePlan>> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relispartition, pg_catalog.pg_relation_size(c.oid), \
               greatest(c.reltuples, 0)::float8, NULL::text, false \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND c.relpersistence <> 't' \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
                               AND d.objid = c.oid AND d.deptype = 'e') \
             UNION ALL \
             SELECT c.oid, n.nspname::text, c.relname::text, c.relispartition, pg_catalog.pg_relation_size(c.oid), \
               greatest(c.reltuples, 0)::float8, nullif(x.cond, ''), true \
             FROM pg_catalog.pg_extension e CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) AS x(reloid, cond) \
             JOIN pg_catalog.pg_class c ON c.oid = x.reloid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r'",
            &[],
        )
        .await
        .map_err(err("list tables"))?;
    Ok(rows
        .into_iter()
        .map(|r| TablePlan {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            is_partition: r.get(3),
            bytes: r.get::<_, i64>(4).max(0) as u64,
            rows_estimate: r.get::<_, f64>(5) as u64,
            columns: Vec::new(),
            binary_safe: false,
            fixed_chars: Vec::new(),
            int_key: None,
            filter: r.get(6),
            extension_config: r.get(7),
        })
        .collect())
}

/// Sequences with their values. A sequence is not transactional, so this reads its
/// current state; it is read right after the snapshot was taken, which is as close to
/// the snapshot as PostgreSQL allows (pg_dump does the same).
async fn read_sequences(client: &Client) -> Result<Vec<SeqPlan>> {
    let names: Vec<(String, String)> = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') \
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE c.oid = ANY(e.extconfig))) \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(err("list sequences"))?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut out = Vec::with_capacity(names.len());
    // One round trip per batch rather than per sequence.
    for batch in names.chunks(200) {
        let sql = batch
            .iter()
            .enumerate()
            .map(|(i, (s, n))| format!("SELECT {i} AS i, last_value, is_called FROM {}", qualified(s, n)))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut rows = client.query(&sql, &[]).await.map_err(err("read sequence values"))?;
        rows.sort_by_key(|r| r.get::<_, i32>(0));
        for (r, (s, n)) in rows.iter().zip(batch) {
            out.push(SeqPlan { schema: s.clone(), name: n.clone(), last_value: r.get(1), is_called: r.get(2) });
        }
    }
    Ok(out)
}

/// Roles that own, are granted on, or have settings in the database. pg_shdepend has
/// owners and grantees of everything but pinned roles (the bootstrap superuser), which
/// the owner columns of user objects add back.
async fn read_roles(client: &Client) -> Result<BTreeSet<String>> {
    let rows = client
        .query(
            "WITH db AS (SELECT oid, datdba, datacl FROM pg_catalog.pg_database WHERE datname = current_database()) \
             SELECT DISTINCT r.rolname::text FROM pg_catalog.pg_roles r WHERE r.oid IN ( \
               SELECT refobjid FROM pg_catalog.pg_shdepend, db WHERE dbid = db.oid AND refclassid = 'pg_catalog.pg_authid'::regclass \
               UNION SELECT relowner FROM pg_catalog.pg_class WHERE oid >= 16384 \
               UNION SELECT nspowner FROM pg_catalog.pg_namespace WHERE oid >= 16384 \
               UNION SELECT proowner FROM pg_catalog.pg_proc WHERE oid >= 16384 \
               UNION SELECT typowner FROM pg_catalog.pg_type WHERE oid >= 16384 \
               UNION SELECT lomowner FROM pg_catalog.pg_largeobject_metadata \
               UNION SELECT datdba FROM db \
               UNION SELECT (pg_catalog.aclexplode(datacl)).grantee FROM db \
               UNION SELECT setrole FROM pg_catalog.pg_db_role_setting, db WHERE setdatabase = db.oid) \
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(err("list roles in use"))?;
    Ok(rows.into_iter().map(|r| r.get::<_, String>(0)).filter(|n| !n.starts_with("pg_")).collect())
}

/// Enough of pg_type to decide whether a column's values survive binary COPY between two
/// databases: binary output carries type OIDs for arrays and composites, and reg* types
/// are OIDs themselves, and OIDs of user types differ between databases.
struct TypeMap {
    types: HashMap<u32, TypeRow>,
}

struct TypeRow {
    typtype: String,
    elem: u32,
    base: u32,
    category: String,
    has_binary_io: bool,
    is_reg: bool,
    range_subtype: u32,
    multirange_of: u32,
}

impl TypeMap {
    async fn read(client: &Client, server_version: i32) -> Result<Self> {
        let multirange = if server_version >= 140000 {
            "coalesce((SELECT m.rngtypid FROM pg_catalog.pg_range m WHERE m.rngmultitypid = t.oid), 0)"
        } else {
            "0::oid"
        };
        let rows = client
            .query(
                &format!(
                    "SELECT t.oid, t.typtype::text, t.typelem, t.typbasetype, t.typcategory::text, \
                       t.typsend::oid <> 0 AND t.typreceive::oid <> 0, n.nspname = 'pg_catalog' AND t.typname ~ '^_?reg', \
                       coalesce(r.rngsubtype, 0), {multirange} \
                     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                     LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid"
                ),
                &[],
            )
            .await
            .map_err(err("read types"))?;
        let types = rows
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    TypeRow {
                        typtype: r.get(1),
                        elem: r.get(2),
                        base: r.get(3),
                        category: r.get(4),
                        has_binary_io: r.get(5),
                        is_reg: r.get(6),
                        range_subtype: r.get(7),
                        multirange_of: r.get(8),
                    },
                )
            })
            .collect();
        Ok(TypeMap { types })
    }

    fn binary_safe(&self, oid: u32) -> bool {
        self.safe(oid, 0)
    }

    fn safe(&self, oid: u32, depth: u32) -> bool {
        let Some(t) = self.types.get(&oid) else { return false };
        if depth > 16 || !t.has_binary_io || t.is_reg {
            return false;
        }
        match t.typtype.as_str() {
            "e" => true,
            "d" => self.safe(t.base, depth + 1),
            // Arrays carry their element type's OID.
            "b" if t.category == "A" && t.elem != 0 => t.elem < FIRST_NORMAL_OID && self.safe(t.elem, depth + 1),
            "b" => true,
            "r" => oid < FIRST_NORMAL_OID && self.safe(t.range_subtype, depth + 1),
            "m" => oid < FIRST_NORMAL_OID && self.safe(t.multirange_of, depth + 1),
            // Composite values carry their columns' type OIDs; pseudo-types have no I/O.
            _ => false,
        }
    }
}
