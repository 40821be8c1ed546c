//! Databases as the API sees them: every database of the cluster except PostgreSQL's own,
//! however it was made (API, SQL, an import).

use super::sql::{ident, is_charset_error, literal, pg_error};
use super::{PostgresEngine, SYSTEM_DBS, TENANT_ADMIN};
use engine::{CharsetSpec, DatabaseInfo, EngineError, ErrorKind, InstanceSpec};
use tokio_postgres::Client;

/// Schemas a user works in: everything but PostgreSQL's own.
pub(super) const USER_SCHEMA_FILTER: &str = "nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'";

fn refuse_system_db(name: &str, doing: &str) -> Result<(), EngineError> {
    if SYSTEM_DBS.contains(&name) {
        return Err(EngineError::new(ErrorKind::InvalidInput, format!("cannot {doing} {name}: it is a system database")));
    }
    Ok(())
}

impl PostgresEngine {



    pub(super) async fn database_sizes(&self, spec: &InstanceSpec) -> Result<u64, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let row = c
            .query_one("SELECT coalesce(sum(pg_database_size(oid)), 0)::bigint FROM pg_database", &[])
            .await
            .map_err(|e| pg_error(e, &format!("measure the databases of instance {}", spec.id)))?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

}

fn is_utf8(charset: &str) -> bool {
    matches!(charset.to_ascii_uppercase().replace(['-', '_'], "").as_str(), "UTF8" | "UNICODE")
}

/// The libc locales the server knows (initdb imports them from `locale -a`), for telling
/// a caller what it could have asked for.
async fn offered_locales(c: &Client) -> String {
    let rows = c
        .query("SELECT DISTINCT collcollate FROM pg_collation WHERE collprovider = 'c' AND collcollate IS NOT NULL ORDER BY 1", &[])
        .await;
    match rows {
        Ok(rows) if !rows.is_empty() => rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join(", "),
        _ => "C, POSIX".into(),
    }
}

#[async_trait::async_trait]
impl engine::Databases for PostgresEngine {
    async fn list_databases(&self, spec: &InstanceSpec) -> Result<Vec<DatabaseInfo>, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let rows = c
            .query(
                "SELECT d.datname, pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
                        pg_get_userbyid(d.datdba), pg_database_size(d.oid)::bigint, d.datconnlimit::bigint, t.spcname
                 FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
                 WHERE d.datallowconn AND NOT d.datistemplate AND d.datname <> ALL($1) ORDER BY 1",
                &[&SYSTEM_DBS],
            )
            .await
            .map_err(|e| pg_error(e, &format!("list the databases of instance {}", spec.id)))?;
        Ok(rows
            .iter()
            .map(|r| DatabaseInfo {
                name: r.get(0),
                charset: r.get(1),
                collate: r.get(2),
                ctype: r.get(3),
                owner: r.get(4),
                size_bytes: r.get::<_, i64>(5).max(0) as u64,
                conn_limit: r.get(6),
                tablespace: r.get(7),
            })
            .collect())
    }

    async fn create_database(&self, spec: &InstanceSpec, name: &str, charset: &CharsetSpec) -> Result<(), EngineError> {
        refuse_system_db(name, "create database")?;
        let c = self.connect(spec, "postgres").await?;
        // The cluster's default locale is C.UTF-8, which only fits UTF8; another encoding
        // without a locale gets the C locale, which fits every encoding.
        let default_locale = if is_utf8(&charset.charset) { None } else { Some("C") };
        let collate = charset.collate.as_deref().or(default_locale);
        let ctype = charset.ctype.as_deref().or(default_locale);
        // Owned by the privileged accounts' role, so a Super account can work in it.
        let mut sql = format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING {}",
            ident(name),
            ident(TENANT_ADMIN),
            literal(&charset.charset)
        );
        if let Some(v) = collate {
            sql.push_str(&format!(" LC_COLLATE {}", literal(v)));
        }
        if let Some(v) = ctype {
            sql.push_str(&format!(" LC_CTYPE {}", literal(v)));
        }
        let Err(e) = c.batch_execute(&sql).await else {
            return Ok(());
        };
        if !is_charset_error(&e) {
            return Err(pg_error(e, &format!("create database {name}")));
        }
        let offered = offered_locales(&c).await;
        let reason = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string());
        Err(EngineError::new(
            ErrorKind::InvalidCharset,
            format!(
                "cannot create database {name} with character set {} (collate {}, ctype {}): {reason}; \
                 locales on this host: {offered}; a character set other than UTF8 needs locale C or POSIX",
                charset.charset,
                collate.unwrap_or("default"),
                ctype.unwrap_or("default"),
            ),
        ))
    }

    async fn drop_database(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        refuse_system_db(name, "drop database")?;
        let c = self.connect(spec, "postgres").await?;
        c.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", ident(name))).await.map_err(|e| {
            let err = pg_error(e, &format!("drop database {name}"));
            match err.kind {
                ErrorKind::NotFound => EngineError::new(ErrorKind::NotFound, format!("database {name} does not exist on instance {}", spec.id)),
                _ => err,
            }
        })
    }

    async fn user_object_count(&self, spec: &InstanceSpec, db: &str) -> Result<u64, EngineError> {
        let c = self.connect(spec, db).await?;
        let sql = format!(
            "WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE {USER_SCHEMA_FILTER})
             SELECT (SELECT count(*) FROM pg_class c JOIN ns ON ns.oid = c.relnamespace)
                  + (SELECT count(*) FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace)
                  -- enums, domains, ranges: composite types are counted in pg_class
                  + (SELECT count(*) FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'r'))
                  + (SELECT count(*) FROM ns WHERE nspname <> 'public')
                  + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
                  + (SELECT count(*) FROM pg_largeobject_metadata)"
        );
        let row = c.query_one(&sql, &[]).await.map_err(|e| pg_error(e, &format!("count the objects in database {db}")))?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf8_spellings() {
        for s in ["UTF8", "utf8", "UTF-8", "utf_8", "Unicode"] {
            assert!(super::is_utf8(s), "{s}");
        }
        assert!(!super::is_utf8("LATIN1"));
    }
}
