//! API privileges as real grants, and back. Each level is a set of grants on the database,
//! its schemas, and the tables, sequences and routines in them, plus default privileges so
//! that objects made later are covered too:
//!
//! | level     | database           | schemas       | tables                 | sequences    | routines |
//! |-----------|--------------------|---------------|------------------------|--------------|----------|
//! | ReadOnly  | CONNECT            | USAGE         | SELECT                 | SELECT       |          |
//! | DMLOnly   | CONNECT            | USAGE         | SELECT, INSERT, UPDATE, DELETE | USAGE, SELECT |  |
//! | ReadWrite | CONNECT, TEMPORARY | USAGE, CREATE | ALL                    | ALL          | EXECUTE  |
//! | DDLOnly   | CONNECT, TEMPORARY | USAGE, CREATE |                        |              |          |
//! | DBOwner   | owner of the database and of the objects its previous owner held, plus ReadWrite |
//!
//! Default privileges are set for every role that can create objects in the database:
//! its owner, the administrator (imports create as it), and accounts holding CREATE on a
//! schema. When an account becomes such a creator, the administrator's default
//! privileges are copied to it, so accounts granted earlier see its objects too.
//!
//! Nothing else is stored: [`read_grants`] reads the catalogs back, so what the API
//! reports is what the engine enforces, whoever changed it.

use super::accounts::refuse_reserved;
use super::databases::USER_SCHEMA_FILTER;
use super::sql::{ident, pg_error};
use super::{PostgresEngine, ADMIN_USER, SYSTEM_DBS, TENANT_ADMIN};
use engine::{EngineError, ErrorKind, InstanceSpec, Privilege};
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::{GenericClient, Transaction};

/// Serialises privilege changes within one database (advisory locks are per database):
/// concurrent ACL updates would otherwise fail with "tuple concurrently updated".
const PRIVILEGE_LOCK: i64 = 0x6f70_656e_7264_7301;

/// The grants one API level makes.
struct Level {
    database: &'static str,
    schemas: &'static str,
    tables: Option<&'static str>,
    sequences: Option<&'static str>,
    routines: Option<&'static str>,
    /// Whether the account may create objects, whose readers then need default privileges.
    creates: bool,
}

fn level(privilege: Privilege) -> Level {
    match privilege {
        Privilege::ReadOnly => Level {
            database: "CONNECT",
            schemas: "USAGE",
            tables: Some("SELECT"),
            sequences: Some("SELECT"),
            routines: None,
            creates: false,
        },
        Privilege::DMLOnly => Level {
            database: "CONNECT",
            schemas: "USAGE",
            tables: Some("SELECT, INSERT, UPDATE, DELETE"),
            sequences: Some("USAGE, SELECT"),
            routines: None,
            creates: false,
        },
        Privilege::ReadWrite | Privilege::DBOwner => Level {
            database: "CONNECT, TEMPORARY",
            schemas: "USAGE, CREATE",
            tables: Some("ALL"),
            sequences: Some("ALL"),
            routines: Some("EXECUTE"),
            creates: true,
        },
        Privilege::DDLOnly => Level {
            database: "CONNECT, TEMPORARY",
            schemas: "USAGE, CREATE",
            tables: None,
            sequences: None,
            routines: None,
            creates: true,
        },
    }
}

/// What one role holds in one database, as the catalogs say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DbGrants {
    /// On the database itself: CONNECT, TEMPORARY, CREATE.
    database: BTreeSet<String>,
    /// On any user schema, now or by default: USAGE, CREATE.
    schemas: BTreeSet<String>,
    /// On any table or view, now or by default: SELECT, INSERT, ...
    tables: BTreeSet<String>,
}

const TABLE_PRIVILEGES: [&str; 7] = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"];

impl DbGrants {
    /// The API level these grants amount to; `None` when they amount to nothing more than
    /// being able to connect.
    pub(super) fn privilege(&self, is_owner: bool) -> Option<Privilege> {
        let creates = self.schemas.contains("CREATE");
        let writes = ["INSERT", "UPDATE", "DELETE"].iter().any(|p| self.tables.contains(*p));
        match (is_owner, creates, writes) {
            (true, _, _) => Some(Privilege::DBOwner),
            (false, true, true) => Some(Privilege::ReadWrite),
            (false, true, false) => Some(Privilege::DDLOnly),
            (false, false, true) => Some(Privilege::DMLOnly),
            (false, false, false) if self.tables.contains("SELECT") => Some(Privilege::ReadOnly),
            _ => None,
        }
    }

    /// The grants in engine terms, e.g. `CONNECT,USAGE,SELECT`.
    pub(super) fn detail(&self, is_owner: bool) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if is_owner {
            parts.push("OWNER");
        }
        for p in ["CONNECT", "TEMPORARY", "CREATE"] {
            if self.database.contains(p) {
                parts.push(p);
            }
        }
        for p in ["USAGE", "CREATE"] {
            if self.schemas.contains(p) && !parts.contains(&p) {
                parts.push(p);
            }
        }
        if TABLE_PRIVILEGES.iter().all(|p| self.tables.contains(*p)) {
            parts.push("ALL");
        } else {
            parts.extend(TABLE_PRIVILEGES.iter().filter(|p| self.tables.contains(**p)));
        }
        parts.join(",")
    }
}

/// Every role's grants in the connected database. An owner's own entries in an ACL are
/// left out: they are ownership, not grants.
pub(super) async fn read_grants(c: &impl GenericClient, db: &str) -> Result<HashMap<String, DbGrants>, EngineError> {
    let sql = format!(
        "WITH ns AS (SELECT oid, nspowner, nspacl FROM pg_namespace WHERE {USER_SCHEMA_FILTER}),
         held AS (
           SELECT a.grantee, 'database' AS scope, a.privilege_type
             FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a
             WHERE d.datname = current_database() AND a.grantee <> d.datdba
           UNION
           SELECT a.grantee, 'schema', a.privilege_type
             FROM ns CROSS JOIN LATERAL aclexplode(ns.nspacl) a WHERE a.grantee <> ns.nspowner
           UNION
           SELECT a.grantee, CASE d.defaclobjtype WHEN 'n' THEN 'schema' ELSE 'table' END, a.privilege_type
             FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
             WHERE d.defaclobjtype IN ('r', 'n') AND a.grantee <> d.defaclrole
           UNION
           SELECT a.grantee, 'table', a.privilege_type
             FROM pg_class c JOIN ns ON ns.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.grantee <> c.relowner)
         SELECT r.rolname::text, h.scope, array_agg(DISTINCT h.privilege_type::text)
         FROM held h JOIN pg_roles r ON r.oid = h.grantee GROUP BY 1, 2"
    );
    let rows = c.query(&sql, &[]).await.map_err(|e| pg_error(e, &format!("read the grants in database {db}")))?;
    let mut grants: HashMap<String, DbGrants> = HashMap::new();
    for row in rows {
        let entry = grants.entry(row.get(0)).or_default();
        let privileges: Vec<String> = row.get(2);
        let set = match row.get::<_, &str>(1) {
            "database" => &mut entry.database,
            "schema" => &mut entry.schemas,
            _ => &mut entry.tables,
        };
        set.extend(privileges);
    }
    Ok(grants)
}

/// The user schemas of the connected database, quoted.
async fn schemas(tx: &Transaction<'_>) -> Result<Vec<String>, EngineError> {
    let rows = tx
        .query(&format!("SELECT nspname::text FROM pg_namespace WHERE {USER_SCHEMA_FILTER} ORDER BY 1"), &[])
        .await
        .map_err(|e| pg_error(e, "list schemas"))?;
    Ok(rows.iter().map(|r| ident(r.get(0))).collect())
}

async fn owner(tx: &Transaction<'_>) -> Result<String, EngineError> {
    let row = tx
        .query_one("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()", &[])
        .await
        .map_err(|e| pg_error(e, "read the database owner"))?;
    Ok(row.get(0))
}

/// Statements giving every object of `from` in the connected database to `to`, one
/// object at a time: `REASSIGN OWNED` would also move the databases `from` owns
/// elsewhere. Extension members stay with their extension; sequences owned by a column
/// follow their table.
async fn reassign_statements(tx: &Transaction<'_>, from: &str, to: &str) -> Result<Vec<String>, EngineError> {
    let sql = format!(
        "WITH ns AS (SELECT oid, nspname, nspowner FROM pg_namespace WHERE {USER_SCHEMA_FILTER}),
              src AS (SELECT oid FROM pg_roles WHERE rolname = $1)
         SELECT format('ALTER SCHEMA %I OWNER TO %I', ns.nspname, $2::text) FROM ns
           WHERE ns.nspowner = (SELECT oid FROM src)
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_namespace'::regclass AND d.objid = ns.oid AND d.deptype = 'e')
         UNION ALL
         SELECT format('ALTER %s %s OWNER TO %I',
                       CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                       c.oid::regclass, $2::text)
           FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
           WHERE c.relowner = (SELECT oid FROM src) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                               AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')
                                                        AND d.refclassid = 'pg_class'::regclass)))
         UNION ALL
         SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $2::text)
           FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
           WHERE p.proowner = (SELECT oid FROM src)
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
         UNION ALL
         SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, $2::text)
           FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
           WHERE t.typowner = (SELECT oid FROM src)
             -- a range's multirange does not follow it
             AND (t.typtype IN ('e', 'd', 'r', 'm')
                  OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')"
    );
    let rows = tx.query(&sql, &[&from, &to]).await.map_err(|e| pg_error(e, &format!("list the objects {from} owns")))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The object class keyword `ALTER DEFAULT PRIVILEGES` uses for a `defaclobjtype`.
fn default_acl_objects(objtype: i8) -> Option<&'static str> {
    Some(match objtype as u8 {
        b'r' => "TABLES",
        b'S' => "SEQUENCES",
        b'f' => "FUNCTIONS",
        b'T' => "TYPES",
        b'n' => "SCHEMAS",
        _ => return None,
    })
}

fn in_schema(schema: Option<&str>) -> String {
    schema.map(|s| format!(" IN SCHEMA {}", ident(s))).unwrap_or_default()
}

impl PostgresEngine {
    /// A transaction in database `db` holding the privilege lock, after checking that the
    /// account exists.
    async fn privilege_tx<'a>(
        &self,
        c: &'a mut tokio_postgres::Client,
        account: &str,
        db: &str,
    ) -> Result<Transaction<'a>, EngineError> {
        let tx = c.transaction().await.map_err(|e| pg_error(e, &format!("begin a transaction in database {db}")))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PRIVILEGE_LOCK])
            .await
            .map_err(|e| pg_error(e, &format!("wait for other privilege changes in database {db}")))?;
        super::sql::require_role(&tx, account).await?;
        Ok(tx)
    }

    async fn connect_for_privileges(&self, spec: &InstanceSpec, account: &str, db: &str) -> Result<tokio_postgres::Client, EngineError> {
        refuse_reserved(account)?;
        if SYSTEM_DBS.contains(&db) {
            return Err(EngineError::new(ErrorKind::InvalidInput, format!("{db} is a system database; privileges on it cannot be changed")));
        }
        self.connect(spec, db).await
    }


}

/// Everything `account` holds on the connected database, undone: ownership back to the
/// privileged accounts' role (where a Super account can still manage it), grants on the database, its schemas and objects, default privileges
/// for it, and the default privileges it gives others as a creator.
async fn revoke_statements(tx: &Transaction<'_>, account: &str, db: &str) -> Result<Vec<String>, EngineError> {
    let a = ident(account);
    let d = ident(db);
    let mut sql = Vec::new();
    if owner(tx).await? == account {
        sql.push(format!("ALTER DATABASE {d} OWNER TO {}", ident(TENANT_ADMIN)));
        sql.extend(reassign_statements(tx, account, TENANT_ADMIN).await?);
    }
    sql.push(format!("REVOKE ALL ON DATABASE {d} FROM {a}"));
    for s in schemas(tx).await? {
        sql.push(format!("REVOKE ALL ON SCHEMA {s} FROM {a}"));
        for objects in ["TABLES", "SEQUENCES", "ROUTINES"] {
            sql.push(format!("REVOKE ALL ON ALL {objects} IN SCHEMA {s} FROM {a}"));
        }
    }
    let defaults = tx
        .query(
            "SELECT DISTINCT pg_get_userbyid(d.defaclrole)::text, n.nspname::text, d.defaclobjtype,
                    CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee)::text END
             FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
                  CROSS JOIN LATERAL aclexplode(d.defaclacl) a
             WHERE a.grantee <> d.defaclrole
               AND (a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)
                    OR (d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1) AND a.grantee <> 0))",
            &[&account],
        )
        .await
        .map_err(|e| pg_error(e, &format!("read the default privileges involving {account}")))?;
    for row in defaults {
        let (role, schema, objtype, grantee): (String, Option<String>, i8, Option<String>) = (row.get(0), row.get(1), row.get(2), row.get(3));
        let (Some(objects), Some(grantee)) = (default_acl_objects(objtype), grantee) else { continue };
        sql.push(format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE ALL ON {objects} FROM {}",
            ident(&role),
            in_schema(schema.as_deref()),
            ident(&grantee)
        ));
    }
    Ok(sql)
}

/// The grants of `level` to `account` on the connected database, and default privileges
/// from every role that creates objects there.
async fn grant_statements(tx: &Transaction<'_>, account: &str, db: &str, level: &Level) -> Result<Vec<String>, EngineError> {
    let a = ident(account);
    let mut sql = vec![format!("GRANT {} ON DATABASE {} TO {a}", level.database, ident(db))];
    let creators = tx
        .query(
            &format!(
                "SELECT DISTINCT r.rolname::text
                 FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee
                 WHERE {USER_SCHEMA_FILTER} AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner"
            ),
            &[],
        )
        .await
        .map_err(|e| pg_error(e, "list the roles that create objects"))?;
    let mut grantors: BTreeSet<String> = [owner(tx).await?, ADMIN_USER.to_string()].into();
    grantors.extend(creators.iter().map(|r| r.get::<_, String>(0)));
    grantors.remove(account);
    let objects = [("TABLES", level.tables), ("SEQUENCES", level.sequences), ("FUNCTIONS", level.routines)];
    for s in schemas(tx).await? {
        sql.push(format!("GRANT {} ON SCHEMA {s} TO {a}", level.schemas));
        for (kind, privileges) in objects {
            let Some(p) = privileges else { continue };
            let all = if kind == "FUNCTIONS" { "ROUTINES" } else { kind };
            sql.push(format!("GRANT {p} ON ALL {all} IN SCHEMA {s} TO {a}"));
            for g in &grantors {
                sql.push(format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {s} GRANT {p} ON {kind} TO {a}", ident(g)));
            }
        }
    }
    // Without a schema, default privileges also cover schemas made later.
    for g in &grantors {
        let g = ident(g);
        sql.push(format!("ALTER DEFAULT PRIVILEGES FOR ROLE {g} GRANT {} ON SCHEMAS TO {a}", level.schemas));
        for (kind, privileges) in objects {
            if let Some(p) = privileges {
                sql.push(format!("ALTER DEFAULT PRIVILEGES FOR ROLE {g} GRANT {p} ON {kind} TO {a}"));
            }
        }
    }
    if level.creates {
        sql.extend(copy_admin_defaults(tx, account).await?);
    }
    Ok(sql)
}

/// The administrator's default privileges for other accounts, repeated for `account`, so
/// that what it creates is visible to them as what the administrator creates is.
async fn copy_admin_defaults(tx: &Transaction<'_>, account: &str) -> Result<Vec<String>, EngineError> {
    let rows = tx
        .query(
            "SELECT n.nspname::text, d.defaclobjtype, pg_get_userbyid(a.grantee)::text,
                    string_agg(DISTINCT a.privilege_type, ', ')
             FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
                  CROSS JOIN LATERAL aclexplode(d.defaclacl) a
             WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1)
               AND a.grantee NOT IN (0, d.defaclrole) AND pg_get_userbyid(a.grantee) <> $2
             GROUP BY 1, 2, 3",
            &[&ADMIN_USER, &account],
        )
        .await
        .map_err(|e| pg_error(e, "read the administrator's default privileges"))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let (schema, objtype, grantee, privileges): (Option<String>, i8, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
            Some(format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {}{} GRANT {privileges} ON {} TO {}",
                ident(account),
                in_schema(schema.as_deref()),
                default_acl_objects(objtype)?,
                ident(&grantee)
            ))
        })
        .collect())
}

#[async_trait::async_trait]
impl engine::Privileges for PostgresEngine {
    async fn grant(&self, spec: &InstanceSpec, account: &str, db: &str, privilege: Privilege) -> Result<(), EngineError> {
        let mut c = self.connect_for_privileges(spec, account, db).await?;
        let tx = self.privilege_tx(&mut c, account, db).await?;
        let doing = format!("grant {} on database {db} to account {account}", privilege.as_str());
        let run = |sql: Vec<String>| {
            let tx = &tx;
            let doing = &doing;
            async move { tx.batch_execute(&sql.join(";\n")).await.map_err(|e| pg_error(e, doing)) }
        };
        run(revoke_statements(&tx, account, db).await?).await?;
        if privilege == Privilege::DBOwner {
            let previous = owner(&tx).await?;
            let mut sql = vec![format!("ALTER DATABASE {} OWNER TO {}", ident(db), ident(account))];
            sql.extend(reassign_statements(&tx, &previous, account).await?);
            // What openrds made in it as the internal administrator is the database's too.
            if previous != ADMIN_USER {
                sql.extend(reassign_statements(&tx, ADMIN_USER, account).await?);
            }
            run(sql).await?;
        }
        run(grant_statements(&tx, account, db, &level(privilege)).await?).await?;
        tx.commit().await.map_err(|e| pg_error(e, &doing))
    }

    async fn revoke(&self, spec: &InstanceSpec, account: &str, db: &str) -> Result<(), EngineError> {
        let mut c = self.connect_for_privileges(spec, account, db).await?;
        let tx = self.privilege_tx(&mut c, account, db).await?;
        let doing = format!("revoke the privileges of account {account} on database {db}");
        let sql = revoke_statements(&tx, account, db).await?;
        tx.batch_execute(&sql.join(";\n")).await.map_err(|e| pg_error(e, &doing))?;
        tx.commit().await.map_err(|e| pg_error(e, &doing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(database: &[&str], schemas: &[&str], tables: &[&str]) -> DbGrants {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        DbGrants { database: set(database), schemas: set(schemas), tables: set(tables) }
    }

    #[test]
    fn catalogs_read_back_as_the_level_that_wrote_them() {
        let all = &TABLE_PRIVILEGES;
        let cases = [
            (grants(&["CONNECT"], &["USAGE"], &["SELECT"]), Some(Privilege::ReadOnly), "CONNECT,USAGE,SELECT"),
            (
                grants(&["CONNECT"], &["USAGE"], &["SELECT", "INSERT", "UPDATE", "DELETE"]),
                Some(Privilege::DMLOnly),
                "CONNECT,USAGE,SELECT,INSERT,UPDATE,DELETE",
            ),
            (grants(&["CONNECT", "TEMPORARY"], &["USAGE", "CREATE"], all), Some(Privilege::ReadWrite), "CONNECT,TEMPORARY,USAGE,CREATE,ALL"),
            (grants(&["CONNECT", "TEMPORARY"], &["USAGE", "CREATE"], &[]), Some(Privilege::DDLOnly), "CONNECT,TEMPORARY,USAGE,CREATE"),
            (grants(&["CONNECT"], &[], &[]), None, "CONNECT"),
            (grants(&[], &["USAGE"], &[]), None, "USAGE"),
        ];
        for (g, privilege, detail) in cases {
            assert_eq!(g.privilege(false), privilege, "{g:?}");
            assert_eq!(g.detail(false), detail);
        }
        assert_eq!(grants(&[], &[], &[]).privilege(true), Some(Privilege::DBOwner));
        assert_eq!(grants(&["CONNECT"], &[], &[]).detail(true), "OWNER,CONNECT");
    }

    #[test]
    fn default_privilege_object_classes() {
        assert_eq!(default_acl_objects(b'r' as i8), Some("TABLES"));
        assert_eq!(default_acl_objects(b'n' as i8), Some("SCHEMAS"));
        assert_eq!(default_acl_objects(b'L' as i8), None);
        assert_eq!(in_schema(Some("a\"b")), " IN SCHEMA \"a\"\"b\"");
        assert_eq!(in_schema(None), "");
    }
}
