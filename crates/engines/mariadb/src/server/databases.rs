//! Databases as the API sees them: every schema of the server except MariaDB's own,
//! however it was made (API, SQL, an import).

use super::sql::{code_of, ident, literal, my_error};
use super::{MariaDbEngine, SYSTEM_DBS};
use engine::{CharsetSpec, DatabaseInfo, EngineError, ErrorKind, InstanceSpec};
use mysql_async::prelude::*;
use std::path::Path;

/// Character sets the API offers on MariaDB.
const CHARSETS: &[&str] = &["utf8mb4", "utf8", "latin1", "gbk"];

fn refuse_system_db(name: &str, doing: &str) -> Result<(), EngineError> {
    if SYSTEM_DBS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return Err(EngineError::new(ErrorKind::InvalidInput, format!("cannot {doing} {name}: it is a system database")));
    }
    Ok(())
}

/// `utf8` is an alias of `utf8mb3`, which the server reports; Alibaba shows `utf8`.
fn api_charset(charset: &str) -> String {
    if charset == "utf8mb3" {
        "utf8".into()
    } else {
        charset.into()
    }
}

/// The system schemas as a SQL list, for `NOT IN`.
fn system_list() -> String {
    SYSTEM_DBS.iter().map(|s| literal(s)).collect::<Vec<_>>().join(", ")
}

/// Bytes of the files under the datadir's database directories, system ones excepted.
///
/// information_schema's sizes are estimates InnoDB refreshes only on ANALYZE or after
/// enough changes, so fresh data would not show; the files are what the disk holds.
/// With innodb_file_per_table (the default) every table lives in its database's
/// directory. The shared system tablespace, undo and redo logs are the engine's
/// overhead, not user data, and are left out. openrds runs as root (or as the engine
/// user) and can read the datadir.
pub(super) fn user_data_bytes(spec: &InstanceSpec) -> Result<u64, EngineError> {
    let data = spec.dir.join("data");
    let entries = std::fs::read_dir(&data).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::HostSetup };
        EngineError::new(kind, format!("measure instance {}: cannot read {}: {e}", spec.id, data.display()))
    })?;
    let mut total = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `#sql...`, `#innodb_redo` and the like are the engine's, not a database.
        if name.starts_with('#') || SYSTEM_DBS.contains(&name.as_str()) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        total += dir_bytes(&entry.path());
    }
    Ok(total)
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

impl MariaDbEngine {



    /// Whether database `name` exists, for calls that would otherwise act on nothing.
    pub(super) async fn require_db(&self, c: &mut mysql_async::Conn, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        let found: Option<String> = c
            .exec_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (name,))
            .await
            .map_err(|e| my_error(e, &format!("look up database {name}")))?;
        if found.is_none() || SYSTEM_DBS.contains(&name) {
            return Err(EngineError::new(ErrorKind::NotFound, format!("database {name} does not exist on instance {}", spec.id)));
        }
        Ok(())
    }

}

#[async_trait::async_trait]
impl engine::Databases for MariaDbEngine {
    async fn list_databases(&self, spec: &InstanceSpec) -> Result<Vec<DatabaseInfo>, EngineError> {
        let mut c = self.connect(spec).await?;
        let sql = format!(
            "SELECT s.SCHEMA_NAME, s.DEFAULT_CHARACTER_SET_NAME, s.DEFAULT_COLLATION_NAME,
                    CAST(COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) AS UNSIGNED)
             FROM information_schema.SCHEMATA s
             LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME
             WHERE s.SCHEMA_NAME NOT IN ({})
             GROUP BY s.SCHEMA_NAME, s.DEFAULT_CHARACTER_SET_NAME, s.DEFAULT_COLLATION_NAME
             ORDER BY 1",
            system_list()
        );
        let rows: Vec<(String, String, String, u64)> =
            c.query(sql).await.map_err(|e| my_error(e, &format!("list the databases of instance {}", spec.id)))?;
        let _ = c.disconnect().await;
        Ok(rows
            .into_iter()
            .map(|(name, charset, collate, size)| DatabaseInfo {
                name,
                charset: api_charset(&charset),
                collate,
                ctype: String::new(),
                owner: String::new(),
                size_bytes: size,
                conn_limit: -1,
                tablespace: String::new(),
            })
            .collect())
    }

    async fn create_database(&self, spec: &InstanceSpec, name: &str, charset: &CharsetSpec) -> Result<(), EngineError> {
        refuse_system_db(name, "create database")?;
        let requested = charset.charset.to_ascii_lowercase();
        if !CHARSETS.contains(&requested.as_str()) {
            return Err(EngineError::new(
                ErrorKind::InvalidCharset,
                format!("cannot create database {name} with character set {}: MariaDB offers {}", charset.charset, CHARSETS.join(", ")),
            ));
        }
        let mut sql = format!("CREATE DATABASE {} CHARACTER SET {requested}", ident(name));
        if let Some(collate) = &charset.collate {
            sql.push_str(&format!(" COLLATE {}", literal(collate)));
        }
        let mut c = self.connect(spec).await?;
        let result = c.query_drop(sql).await;
        let _ = c.disconnect().await;
        result.map_err(|e| match code_of(&e) {
            Some(1007) => EngineError::new(ErrorKind::AlreadyExists, format!("database {name} already exists on instance {}", spec.id)),
            _ => my_error(e, &format!("create database {name}")),
        })
    }

    async fn drop_database(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        refuse_system_db(name, "drop database")?;
        let mut c = self.connect(spec).await?;
        // Sessions using it would keep their locks, and DROP DATABASE would wait on them.
        super::sql::end_sessions(&mut c, super::sql::SessionsOf::Database(name)).await?;
        let result = c.query_drop(format!("DROP DATABASE {}", ident(name))).await;
        let _ = c.disconnect().await;
        result.map_err(|e| match code_of(&e) {
            Some(1008) => EngineError::new(ErrorKind::NotFound, format!("database {name} does not exist on instance {}", spec.id)),
            _ => my_error(e, &format!("drop database {name}")),
        })
    }

    async fn user_object_count(&self, spec: &InstanceSpec, db: &str) -> Result<u64, EngineError> {
        let mut c = self.connect(spec).await?;
        self.require_db(&mut c, spec, db).await?;
        // TABLES holds views too.
        let count: Option<u64> = c
            .exec_first(
                "SELECT CAST((SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?)
                           + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)
                           + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?)
                           + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS UNSIGNED)",
                (db, db, db, db),
            )
            .await
            .map_err(|e| my_error(e, &format!("count the objects in database {db}")))?;
        let _ = c.disconnect().await;
        Ok(count.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8mb3_is_shown_as_utf8() {
        for (server, api) in [("utf8mb3", "utf8"), ("utf8mb4", "utf8mb4"), ("latin1", "latin1")] {
            assert_eq!(api_charset(server), api, "{server}");
        }
    }

    #[test]
    fn system_databases_are_refused() {
        assert_eq!(refuse_system_db("MySQL", "drop database").unwrap_err().kind, ErrorKind::InvalidInput);
        assert!(refuse_system_db("shop", "drop database").is_ok());
    }
}
