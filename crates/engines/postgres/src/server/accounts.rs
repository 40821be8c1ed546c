//! Login accounts. `Normal` is a plain login role. `Super` is Alibaba's privileged
//! account: `LOGIN CREATEDB CREATEROLE` and a member of [`TENANT_ADMIN`], which owns every
//! database made without an owner of its own, so it can create, alter and grant in them
//! (on 15, `public` belongs to the database's owner). With CREATEROLE it can also join any
//! other account's role, and so manage what that account owns. It is never a superuser,
//! never has REPLICATION, and cannot join the internal administrator (a superuser). What it
//! could grant itself beyond that (`pg_execute_server_program`, `pg_read_server_files`)
//! runs as the instance's own system user, confined to the instance (`engine::isolation`).
//!
//! Passwords travel in statements as literals (`CREATE ROLE ... PASSWORD` takes no
//! parameters), so the sessions that send them first switch statement logging off: a
//! failed statement would otherwise be copied, password and all, into server.log.

use super::privileges::{self, DbGrants};
use super::sql::{ident, literal, pg_error};
use super::{PostgresEngine, ADMIN_USER, SYSTEM_DBS, TENANT_ADMIN};
use engine::{AccountInfo, AccountKind, EngineError, ErrorKind, InstanceSpec};
use tokio_postgres::Client;

/// Settings for a session that sends passwords: no statement text in the server log.
const QUIET_SESSION: &str = "SET log_statement = 'none'; SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1";

/// The internal administrator and PostgreSQL's built-in roles are not accounts.
pub(super) fn refuse_reserved(name: &str) -> Result<(), EngineError> {
    if name == ADMIN_USER || name == TENANT_ADMIN || name.starts_with("pg_") {
        return Err(EngineError::new(ErrorKind::InvalidInput, format!("{name} is a reserved role name, not an account")));
    }
    Ok(())
}

fn not_found(name: &str, err: EngineError) -> EngineError {
    match err.kind {
        ErrorKind::NotFound => EngineError::new(ErrorKind::NotFound, format!("account {name} does not exist")),
        _ => err,
    }
}

impl PostgresEngine {
    /// Makes sure [`TENANT_ADMIN`] exists, owns every user database the internal
    /// administrator owns, and has every Super account as a member with CREATEROLE. Run at
    /// every start, so instances of earlier versions (whose Super accounts were cut down
    /// and whose databases belonged to the administrator) get the same powers. Idempotent.
    pub(super) async fn prepare_tenant_admin(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let fail = |e| pg_error(e, &format!("prepare the privileged accounts' role on instance {}", spec.id));
        let exists = c.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&TENANT_ADMIN]).await.map_err(fail)?.is_some();
        if !exists {
            if let Err(e) = c.batch_execute(&format!("CREATE ROLE {} NOLOGIN", ident(TENANT_ADMIN))).await {
                let err = fail(e);
                // Made meanwhile by a concurrent start.
                if err.kind != ErrorKind::AlreadyExists {
                    return Err(err);
                }
            }
        }
        // Databases the administrator owns go to the privileged accounts' role, and every
        // privileged account joins it; each query writes the statements that fix what it finds.
        let fixes: [(&str, &[&(dyn tokio_postgres::types::ToSql + Sync)]); 2] = [
            (
                "SELECT format('ALTER DATABASE %I OWNER TO %I', datname, $3::text) FROM pg_database
                 WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) AND NOT datistemplate AND datname <> ALL($2)",
                &[&ADMIN_USER, &SYSTEM_DBS, &TENANT_ADMIN],
            ),
            (
                "SELECT format('ALTER ROLE %1$I CREATEROLE; GRANT %2$I TO %1$I', rolname, $2::text) FROM pg_roles
                 WHERE rolcanlogin AND rolcreatedb AND NOT rolsuper AND rolname <> $1
                 AND NOT pg_has_role(oid, (SELECT oid FROM pg_roles WHERE rolname = $2), 'MEMBER')",
                &[&ADMIN_USER, &TENANT_ADMIN],
            ),
        ];
        for (find, params) in fixes {
            for fix in c.query(find, params).await.map_err(fail)? {
                c.batch_execute(fix.get::<_, &str>(0)).await.map_err(fail)?;
            }
        }
        Ok(())
    }

    async fn quiet_session(&self, spec: &InstanceSpec) -> Result<Client, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        c.batch_execute(QUIET_SESSION).await.map_err(|e| pg_error(e, "prepare a session for a password change"))?;
        Ok(c)
    }
}

#[async_trait::async_trait]
impl engine::Accounts for PostgresEngine {
    async fn list_accounts(&self, spec: &InstanceSpec) -> Result<Vec<AccountInfo>, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let roles = c
            .query(
                "SELECT rolname, rolcreaterole OR rolcreatedb, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,
                        to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM pg_roles
                 WHERE rolname <> $1 AND rolname <> $2 AND rolname NOT LIKE 'pg\\_%' ORDER BY 1",
                &[&ADMIN_USER, &TENANT_ADMIN],
            )
            .await
            .map_err(|e| pg_error(e, &format!("list the accounts of instance {}", spec.id)))?;
        let mut accounts: Vec<AccountInfo> = roles
            .iter()
            .map(|r| AccountInfo {
                name: r.get(0),
                kind: if r.get::<_, bool>(1) { AccountKind::Super } else { AccountKind::Normal },
                can_login: r.get(2),
                privileges: Vec::new(),
                privilege_detail: Vec::new(),
                role: Some(engine::RoleAttributes { create_db: r.get(3), create_role: r.get(4), replication: r.get(5), bypass_rls: r.get(6), valid_until: r.get(7) }),
            })
            .collect();
        if accounts.is_empty() {
            return Ok(accounts);
        }
        for db in engine::Databases::list_databases(self, spec).await? {
            let dc = match self.connect(spec, &db.name).await {
                Ok(dc) => dc,
                // Dropped since it was listed.
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let grants = privileges::read_grants(&dc, &db.name).await?;
            for account in accounts.iter_mut() {
                let held = grants.get(&account.name).cloned().unwrap_or_default();
                let is_owner = db.owner == account.name;
                if let Some(p) = DbGrants::privilege(&held, is_owner) {
                    account.privileges.push((db.name.clone(), p));
                    account.privilege_detail.push((db.name.clone(), held.detail(is_owner)));
                }
            }
        }
        Ok(accounts)
    }

    async fn create_account(&self, spec: &InstanceSpec, name: &str, password: &str, kind: AccountKind) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let c = self.quiet_session(spec).await?;
        let attrs = match kind {
            AccountKind::Normal => "LOGIN",
            AccountKind::Super => "LOGIN CREATEDB CREATEROLE NOREPLICATION",
        };
        let existing = c
            .query_opt("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .map_err(|e| pg_error(e, &format!("look up account {name}")))?;
        if existing.is_some_and(|r| !r.get::<_, bool>(0)) {
            // A role an import made for what copied objects name: it becomes the account,
            // keeping what it owns and holds.
            let mut sql = format!("ALTER ROLE {} {attrs} PASSWORD {}", ident(name), literal(password));
            if kind == AccountKind::Super {
                sql.push_str(&format!("; GRANT {} TO {}", ident(TENANT_ADMIN), ident(name)));
            }
            return c.batch_execute(&sql).await.map_err(|e| pg_error(e, &format!("give role {name} a login")));
        }
        let member = if kind == AccountKind::Super { format!(" IN ROLE {}", ident(TENANT_ADMIN)) } else { String::new() };
        c.batch_execute(&format!("CREATE ROLE {} {attrs}{member} PASSWORD {}", ident(name), literal(password))).await.map_err(|e| {
            let err = pg_error(e, &format!("create account {name}"));
            match err.kind {
                ErrorKind::AlreadyExists => EngineError::new(ErrorKind::AlreadyExists, format!("account {name} already exists")),
                _ => err,
            }
        })
    }

    /// Hands what the account owns to the privileged accounts' role and revokes what it was granted,
    /// database by database (ownership and grants are per database), then drops it.
    async fn drop_account(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let c = self.connect(spec, "postgres").await?;
        super::sql::require_role(&c, name).await?;
        // Its sessions would keep working under a role that no longer exists. Wait for
        // them to end: an ending session drops its temporary tables, which the statements
        // below would otherwise trip over.
        c.execute("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = $1", &[&name])
            .await
            .map_err(|e| pg_error(e, &format!("end the sessions of account {name}")))?;
        let dbs: Vec<String> = c
            .query("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1", &[])
            .await
            .map_err(|e| pg_error(e, "list databases"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for db in dbs {
            let dc = match self.connect(spec, &db).await {
                Ok(dc) => dc,
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            dc.batch_execute(&format!("REASSIGN OWNED BY {0} TO {1}; DROP OWNED BY {0}", ident(name), ident(TENANT_ADMIN)))
                .await
                .map_err(|e| not_found(name, pg_error(e, &format!("release what account {name} holds in database {db}"))))?;
        }
        c.batch_execute(&format!("DROP ROLE {}", ident(name)))
            .await
            .map_err(|e| not_found(name, pg_error(e, &format!("drop account {name}"))))
    }

    async fn reset_password(&self, spec: &InstanceSpec, name: &str, password: &str) -> Result<(), EngineError> {
        refuse_reserved(name)?;
        let c = self.quiet_session(spec).await?;
        // LOGIN too: a role an import made without a login becomes an account this way.
        c.batch_execute(&format!("ALTER ROLE {} LOGIN PASSWORD {}", ident(name), literal(password)))
            .await
            .map_err(|e| not_found(name, pg_error(e, &format!("reset the password of account {name}"))))
    }
}
