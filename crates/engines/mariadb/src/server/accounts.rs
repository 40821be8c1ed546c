//! Login accounts and their privileges. Every account is `'name'@'%'`.
//!
//! `Super` is Alibaba's high-privilege account: every privilege on every database, with
//! grant option, so it can create databases and accounts and manage them, without the
//! ones Alibaba's privileged account lacks: FILE, SHUTDOWN, SUPER and its 10.5+ pieces
//! (replication, binlog and connection administration, setting globals such as log file
//! paths). It is not sealed off from the instance's own administration: it can write the
//! `mysql` schema (and so give itself those too) and, with CREATE USER, drop any user,
//! openrds_admin included (MariaDB has no partial revokes to prevent either). That is
//! harmless: the server runs as the instance's own system user in its own namespace
//! (`engine::isolation`), and secure_file_priv confines file access to the instance's tmp
//! directory, so whatever it grants itself reaches nothing outside this instance.
//! `Normal` holds nothing globally and gets databases through [`grant`].
//!
//! API levels map to these database-level privileges (Alibaba's documented sets for
//! MySQL); DBOwner is not offered for MySQL by Alibaba and is refused:
//!
//! | level     | privileges on `db`.* |
//! |-----------|----------------------|
//! | ReadWrite | ALL PRIVILEGES |
//! | ReadOnly  | SELECT, LOCK TABLES, SHOW VIEW, EXECUTE |
//! | DDLOnly   | CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER |
//! | DMLOnly   | SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, SHOW VIEW, EVENT, TRIGGER |
//!
//! Nothing else is stored: mysql.db is read back, so what the API reports is what the
//! server enforces, whoever changed it.
//!
//! Passwords never reach the server in the clear: CREATE USER / ALTER USER carry their
//! mysql_native_password hash (`IDENTIFIED BY PASSWORD`), since those statements go into
//! the binary log as written and the log is archived; errors are built without statement
//! text.

use super::sql::{account, code_of, grant_pattern, ident, literal, my_error, my_error_redacted};
use super::{MariaDbEngine, ADMIN_USER};
use engine::{AccountInfo, AccountKind, EngineError, ErrorKind, InstanceSpec, Privilege};
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::collections::BTreeSet;

/// Users MariaDB or openrds make, which are not accounts.
const RESERVED: &[&str] = &[ADMIN_USER, "root", "mysql", "mariadb.sys", "PUBLIC"];

/// What a Super account holds on `*.*` (see the module comment for what is left out).
const SUPER_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, \
     SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, \
     ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, DELETE HISTORY";

/// The columns of mysql.db and the privilege each stands for, in GRANT's spelling.
/// `Grant_priv` is left out: accounts never get it on a database.
const DB_COLUMNS: &[(&str, &str)] = &[
    ("Select_priv", "SELECT"),
    ("Insert_priv", "INSERT"),
    ("Update_priv", "UPDATE"),
    ("Delete_priv", "DELETE"),
    ("Create_priv", "CREATE"),
    ("Drop_priv", "DROP"),
    ("References_priv", "REFERENCES"),
    ("Index_priv", "INDEX"),
    ("Alter_priv", "ALTER"),
    ("Create_tmp_table_priv", "CREATE TEMPORARY TABLES"),
    ("Lock_tables_priv", "LOCK TABLES"),
    ("Create_view_priv", "CREATE VIEW"),
    ("Show_view_priv", "SHOW VIEW"),
    ("Create_routine_priv", "CREATE ROUTINE"),
    ("Alter_routine_priv", "ALTER ROUTINE"),
    ("Execute_priv", "EXECUTE"),
    ("Event_priv", "EVENT"),
    ("Trigger_priv", "TRIGGER"),
    ("Delete_history_priv", "DELETE HISTORY"),
];

/// The privileges a level grants on a database; `None` for ReadWrite, which is
/// ALL PRIVILEGES (every column of [`DB_COLUMNS`]).
fn level(privilege: Privilege) -> Result<Option<&'static [&'static str]>, EngineError> {
    Ok(match privilege {
        Privilege::ReadWrite => None,
        Privilege::ReadOnly => Some(&["SELECT", "LOCK TABLES", "SHOW VIEW", "EXECUTE"]),
        Privilege::DDLOnly => Some(&[
            "CREATE",
            "DROP",
            "INDEX",
            "ALTER",
            "CREATE TEMPORARY TABLES",
            "LOCK TABLES",
            "CREATE VIEW",
            "SHOW VIEW",
            "CREATE ROUTINE",
            "ALTER ROUTINE",
            "EVENT",
            "TRIGGER",
        ]),
        Privilege::DMLOnly => Some(&[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "CREATE TEMPORARY TABLES",
            "LOCK TABLES",
            "EXECUTE",
            "SHOW VIEW",
            "EVENT",
            "TRIGGER",
        ]),
        Privilege::DBOwner => {
            return Err(EngineError::new(
                ErrorKind::InvalidInput,
                "DBOwner is not available on MariaDB (as on Alibaba's MySQL); use ReadWrite, ReadOnly, DDLOnly or DMLOnly",
            ))
        }
    })
}

fn level_set(privilege: Privilege) -> BTreeSet<&'static str> {
    match level(privilege) {
        Ok(Some(set)) => set.iter().copied().collect(),
        Ok(None) => DB_COLUMNS.iter().map(|(_, p)| *p).collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// The API level of what an account holds on a database: the level whose set it is, or
/// for a set changed by hand, the broadest level it covers most of. `None` when it holds
/// nothing.
fn privilege_of(held: &BTreeSet<&str>) -> Option<Privilege> {
    if held.is_empty() {
        return None;
    }
    const LEVELS: [Privilege; 4] = [Privilege::ReadWrite, Privilege::DMLOnly, Privilege::DDLOnly, Privilege::ReadOnly];
    if let Some(p) = LEVELS.iter().find(|p| level_set(**p) == *held) {
        return Some(*p);
    }
    let writes = held.contains("INSERT") || held.contains("UPDATE") || held.contains("DELETE");
    let ddl = held.contains("CREATE") || held.contains("ALTER") || held.contains("DROP");
    Some(match (writes, ddl) {
        (true, true) => Privilege::ReadWrite,
        (true, false) => Privilege::DMLOnly,
        (false, true) => Privilege::DDLOnly,
        (false, false) => Privilege::ReadOnly,
    })
}

/// Undoes [`grant_pattern`] for a pattern that names one database.
fn unescape_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn refuse_reserved(name: &str) -> Result<(), EngineError> {
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(EngineError::new(ErrorKind::InvalidInput, format!("{name} is a reserved user name, not an account")));
    }
    Ok(())
}

fn not_found(name: &str) -> EngineError {
    EngineError::new(ErrorKind::NotFound, format!("account {name} does not exist"))
}

async fn require_account(c: &mut Conn, name: &str) -> Result<(), EngineError> {
    let found: Option<String> = c
        .exec_first("SELECT User FROM mysql.user WHERE User = ? AND Host = '%'", (name,))
        .await
        .map_err(|e| my_error(e, &format!("look up account {name}")))?;
    found.map(|_| ()).ok_or_else(|| not_found(name))
}

/// Ends an account's sessions, which would otherwise keep what it held when they began.
async fn end_sessions(c: &mut Conn, name: &str) -> Result<(), EngineError> {
    super::sql::end_sessions(c, super::sql::SessionsOf::Account(name)).await
}

/// Removes what `name` holds on `db`; holding nothing there already is fine.
async fn revoke_all(c: &mut Conn, name: &str, db: &str) -> Result<(), EngineError> {
    let on = format!("ON {}.* FROM {}", ident(&grant_pattern(db)), account(name));
    // GRANT OPTION goes separately: ALL PRIVILEGES does not include it.
    for what in ["ALL PRIVILEGES", "GRANT OPTION"] {
        match c.query_drop(format!("REVOKE {what} {on}")).await {
            // There is no such grant defined.
            Err(e) if code_of(&e) == Some(1141) => {}
            Err(e) => return Err(my_error(e, &format!("revoke the privileges of account {name} on database {db}"))),
            Ok(()) => {}
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl engine::Accounts for MariaDbEngine {
    async fn list_accounts(&self, spec: &InstanceSpec) -> Result<Vec<AccountInfo>, EngineError> {
        let mut c = self.connect(spec).await?;
        let reserved = RESERVED.iter().map(|r| literal(r)).collect::<Vec<_>>().join(", ");
        // A locked account (made by an import for grants whose account the destination
        // lacked) has no login until CreateAccount or ResetAccountPassword gives it one.
        let users: Vec<(String, String, Option<String>)> = c
            .query(format!(
                "SELECT u.User, u.Grant_priv, JSON_VALUE(g.Priv, '$.account_locked') FROM mysql.user u \
                 JOIN mysql.global_priv g ON g.User = u.User AND g.Host = u.Host \
                 WHERE u.Host = '%' AND u.is_role = 'N' AND u.User NOT IN ({reserved}) ORDER BY u.User"
            ))
            .await
            .map_err(|e| my_error(e, &format!("list the accounts of instance {}", spec.id)))?;
        let mut accounts = Vec::new();
        let columns = DB_COLUMNS.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
        for (name, grant_priv, locked) in users {
            let rows: Vec<mysql_async::Row> = c
                .exec(format!("SELECT Db, {columns} FROM mysql.db WHERE User = ? AND Host = '%' ORDER BY Db"), (name.as_str(),))
                .await
                .map_err(|e| my_error(e, &format!("read the privileges of account {name}")))?;
            let mut info = AccountInfo {
                kind: if grant_priv == "Y" { AccountKind::Super } else { AccountKind::Normal },
                can_login: !matches!(locked.as_deref(), Some("true" | "1")),
                name,
                privileges: Vec::new(),
                privilege_detail: Vec::new(),
                role: None,
            };
            for row in rows {
                let Some(Ok(pattern)) = row.get_opt::<String, _>(0) else { continue };
                let held: BTreeSet<&str> = DB_COLUMNS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| row.get_opt::<String, _>(i + 1).and_then(Result::ok).as_deref() == Some("Y"))
                    .map(|(_, (_, p))| *p)
                    .collect();
                if let Some(p) = privilege_of(&held) {
                    let db = unescape_pattern(&pattern);
                    info.privileges.push((db.clone(), p));
                    info.privilege_detail.push((db, held.iter().copied().collect::<Vec<_>>().join(",")));
                }
            }
            accounts.push(info);
        }
        let _ = c.disconnect().await;
        Ok(accounts)
    }

    async fn create_account(&self, spec: &InstanceSpec, name: &str, password: &str, kind: AccountKind) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let mut c = self.connect(spec).await?;
        let locked: Option<Option<String>> = c
            .exec_first("SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = ? AND Host = '%'", (name,))
            .await
            .map_err(|e| my_error(e, &format!("look up account {name}")))?;
        if matches!(locked, Some(Some(ref l)) if l == "true" || l == "1") {
            // An account an import made locked: it gets its login, keeping its grants.
            c.query_drop(format!("ALTER USER {} {} ACCOUNT UNLOCK", account(name), identified_by(password)))
                .await
                .map_err(|e| my_error_redacted(e, &format!("give account {name} a login")))?;
            if kind == AccountKind::Super {
                c.query_drop(format!("GRANT {SUPER_PRIVILEGES} ON *.* TO {} WITH GRANT OPTION", account(name)))
                    .await
                    .map_err(|e| my_error(e, &format!("make account {name} a high-privilege account")))?;
            }
            let _ = c.disconnect().await;
            return Ok(());
        }
        c.query_drop(format!("CREATE USER {} {}", account(name), identified_by(password))).await.map_err(|e| match code_of(&e) {
            Some(1396) => EngineError::new(ErrorKind::AlreadyExists, format!("account {name} already exists")),
            _ => my_error_redacted(e, &format!("create account {name}")),
        })?;
        if kind == AccountKind::Super {
            let granted = c.query_drop(format!("GRANT {SUPER_PRIVILEGES} ON *.* TO {} WITH GRANT OPTION", account(name))).await;
            if let Err(e) = granted {
                // Half an account would be listed as Normal; take it back.
                let _ = c.query_drop(format!("DROP USER {}", account(name))).await;
                return Err(my_error(e, &format!("make account {name} a high-privilege account")));
            }
        }
        let _ = c.disconnect().await;
        Ok(())
    }

    async fn drop_account(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let mut c = self.connect(spec).await?;
        require_account(&mut c, name).await?;
        end_sessions(&mut c, name).await?;
        c.query_drop(format!("DROP USER {}", account(name))).await.map_err(|e| match code_of(&e) {
            Some(1396) => not_found(name),
            _ => my_error(e, &format!("drop account {name}")),
        })?;
        let _ = c.disconnect().await;
        Ok(())
    }

    async fn reset_password(&self, spec: &InstanceSpec, name: &str, password: &str) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let mut c = self.connect(spec).await?;
        // ACCOUNT UNLOCK too: an account an import made locked gets its login this way.
        c.query_drop(format!("ALTER USER {} {} ACCOUNT UNLOCK", account(name), identified_by(password))).await.map_err(|e| match code_of(&e) {
            Some(1396) => not_found(name),
            _ => my_error_redacted(e, &format!("reset the password of account {name}")),
        })?;
        let _ = c.disconnect().await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl engine::Privileges for MariaDbEngine {
    async fn grant(&self, spec: &InstanceSpec, name: &str, db: &str, privilege: Privilege) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let set = level(privilege)?;
        let mut c = self.connect(spec).await?;
        require_account(&mut c, name).await?;
        self.require_db(&mut c, spec, db).await?;
        revoke_all(&mut c, name, db).await?;
        let privileges = set.map(|s| s.join(", ")).unwrap_or_else(|| "ALL PRIVILEGES".into());
        c.query_drop(format!("GRANT {privileges} ON {}.* TO {}", ident(&grant_pattern(db)), account(name)))
            .await
            .map_err(|e| my_error(e, &format!("grant {} on database {db} to account {name}", privilege.as_str())))?;
        let _ = c.disconnect().await;
        Ok(())
    }

    async fn revoke(&self, spec: &InstanceSpec, name: &str, db: &str) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let mut c = self.connect(spec).await?;
        require_account(&mut c, name).await?;
        revoke_all(&mut c, name, db).await?;
        let _ = c.disconnect().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_reads_back_as_itself() {
        for p in [Privilege::ReadWrite, Privilege::ReadOnly, Privilege::DDLOnly, Privilege::DMLOnly] {
            assert_eq!(privilege_of(&level_set(p)), Some(p), "{p:?}");
        }
        assert_eq!(privilege_of(&BTreeSet::new()), None);
        assert_eq!(privilege_of(&["SELECT", "INSERT"].into_iter().collect()), Some(Privilege::DMLOnly));
        assert_eq!(privilege_of(&["SELECT"].into_iter().collect()), Some(Privilege::ReadOnly));
    }

    #[test]
    fn db_owner_is_refused_with_a_reason() {
        let err = level(Privilege::DBOwner).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("DBOwner"));
    }

    #[test]
    fn grant_patterns_read_back_as_the_database_name() {
        for db in ["plain", "my_db", "50%_off", r"back\slash"] {
            assert_eq!(unescape_pattern(&super::super::sql::grant_pattern(db)), db);
        }
    }

    #[test]
    fn reserved_users_are_not_accounts() {
        for name in ["openrds_admin", "root", "mariadb.sys", "mysql", "PUBLIC"] {
            assert_eq!(refuse_reserved(name).unwrap_err().kind, ErrorKind::InvalidInput, "{name}");
        }
        assert!(refuse_reserved("app").is_ok());
    }
}

/// `IDENTIFIED BY PASSWORD '*<hash>'`: the mysql_native_password hash (SHA-1 of SHA-1),
/// computed here, the same the server would store for the password itself. Statements
/// that change accounts go into the binary log as written, and the log is archived: it
/// must hold the hash, never the password.
fn identified_by(password: &str) -> String {
    use sha1::{Digest, Sha1};
    let hash = Sha1::digest(Sha1::digest(password.as_bytes()));
    let hex: String = hash.iter().map(|b| format!("{b:02X}")).collect();
    format!("IDENTIFIED BY PASSWORD '*{hex}'")
}

#[cfg(test)]
mod password_tests {
    #[test]
    fn the_hash_is_mysql_native_password_s() {
        // SELECT PASSWORD('secret') on MariaDB.
        assert_eq!(super::identified_by("secret"), "IDENTIFIED BY PASSWORD '*14E65567ABDB5135D0CFD9A70B3032C179A49EE7'");
    }
}
