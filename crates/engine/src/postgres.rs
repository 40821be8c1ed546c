//! The PostgreSQL adapter. Each instance is a cluster of its own under the directory it
//! is given:
//!
//! ```text
//! <dir>/            owned by openrds, 0711 (the engine user passes through, cannot list)
//!   admin.json      the internal administrator's credentials, 0600, openrds only
//!   data/           PGDATA, owned by the engine user, 0700
//!   server.log      the server's log, owned by the engine user
//! ```
//!
//! Servers listen on TCP only (socket paths under deep data directories can exceed the
//! kernel's limit) and authenticate every login with scram-sha-256.

use crate::process::{self, chown, RunAs};
use crate::{
    AccountInfo, AccountKind, AdminConnection, CharsetSpec, DatabaseInfo, Engine, EngineError, EngineKind, ErrorKind,
    InstanceSpec, Liveness, Privilege,
};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

const ADMIN_USER: &str = "openrds_admin";
const SYSTEM_DBS: &[&str] = &["postgres", "template0", "template1"];

/// Where this host's PostgreSQL binaries are and which system user runs them.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Directory with `initdb`, `pg_ctl`, `postgres` (e.g. `/usr/lib/postgresql/15/bin`).
    pub bin_dir: PathBuf,
    /// System user to run the server as when openrds runs as root (`postgres`).
    pub run_as: Option<String>,
}

impl PostgresConfig {
    /// The newest installed major version (or `OPENRDS_PG_BIN_DIR`), run as `postgres`
    /// when openrds is root.
    pub fn detect() -> Result<PostgresConfig, EngineError> {
        let bin_dir = match std::env::var_os("OPENRDS_PG_BIN_DIR") {
            Some(d) => PathBuf::from(d),
            None => {
                let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                    .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("no PostgreSQL under /usr/lib/postgresql: {e}")))?
                    .filter_map(|e| e.ok())
                    .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
                    .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                    .collect();
                majors.sort();
                majors
                    .pop()
                    .map(|(_, b)| b)
                    .ok_or_else(|| EngineError::new(ErrorKind::HostSetup, "no PostgreSQL server binaries (initdb, pg_ctl) found"))?
            }
        };
        let run_as = nix::unistd::geteuid().is_root().then(|| "postgres".to_string());
        Ok(PostgresConfig { bin_dir, run_as })
    }

    /// Major version of the binaries, read from their directory or `pg_config`-free
    /// `postgres --version`.
    fn major(&self) -> String {
        let from_path = self.bin_dir.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).filter(|n| n.parse::<u32>().is_ok());
        if let Some(m) = from_path {
            return m.to_string();
        }
        std::process::Command::new(self.bin_dir.join("postgres"))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                text.split_whitespace().last().and_then(|v| v.split('.').next()).map(String::from)
            })
            .unwrap_or_else(|| "0".into())
    }
}

pub struct PostgresEngine {
    pub config: PostgresConfig,
    run_as: Option<RunAs>,
    major: String,
}

impl PostgresEngine {
    pub fn new(config: PostgresConfig) -> PostgresEngine {
        let run_as = config.run_as.as_deref().and_then(|n| process::lookup_user(n).ok());
        let major = config.major();
        PostgresEngine { config, run_as, major }
    }

    fn bin(&self, tool: &str) -> PathBuf {
        self.config.bin_dir.join(tool)
    }

    fn data(spec: &InstanceSpec) -> PathBuf {
        spec.dir.join("data")
    }

    async fn pg_ctl(&self, spec: &InstanceSpec, args: &[&str], what: &str) -> Result<String, EngineError> {
        let data = Self::data(spec);
        let data = data.to_string_lossy();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        process::run(&self.bin("pg_ctl"), &all, self.run_as, what).await
    }

    fn log_tail(spec: &InstanceSpec) -> String {
        std::fs::read_to_string(spec.dir.join("server.log")).map(|t| process::tail(&t, 6)).unwrap_or_default()
    }

    async fn connect(&self, spec: &InstanceSpec, db: &str) -> Result<Client, EngineError> {
        let admin = self.admin(spec)?;
        let (client, conn) = tokio_postgres::Config::new()
            .host(&admin.host)
            .port(admin.port)
            .user(&admin.user)
            .password(&admin.password)
            .dbname(db)
            .application_name("openrds")
            .connect_timeout(Duration::from_secs(5))
            .connect(NoTls)
            .await
            .map_err(|e| pg_error(e, &format!("connect to instance {} database {db}", spec.id)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "admin connection ended");
            }
        });
        Ok(client)
    }

    async fn wait_accepting(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match self.connect(spec, "postgres").await {
                Ok(c) => match c.simple_query("SELECT 1").await {
                    Ok(_) => return Ok(()),
                    Err(e) if tokio::time::Instant::now() >= deadline => return Err(pg_error(e, "check the server")),
                    Err(_) => {}
                },
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(EngineError::new(ErrorKind::Unavailable, format!("{e}; server log: {}", Self::log_tail(spec))))
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn postmaster_pid(spec: &InstanceSpec) -> Option<i32> {
        let text = std::fs::read_to_string(Self::data(spec).join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn alive(pid: i32) -> bool {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
    }

    async fn do_provision(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        let host_err = |what: &str, e: std::io::Error| EngineError::new(ErrorKind::HostSetup, format!("{what}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&spec.dir).map_err(|e| host_err("create the instance directory", e))?;
        std::fs::set_permissions(&spec.dir, std::fs::Permissions::from_mode(0o711)).map_err(|e| host_err("chmod the instance directory", e))?;
        let data = Self::data(spec);
        std::fs::create_dir_all(&data).map_err(|e| host_err("create PGDATA", e))?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).map_err(|e| host_err("chmod PGDATA", e))?;
        chown(&data, self.run_as)?;
        let log = spec.dir.join("server.log");
        std::fs::write(&log, b"").map_err(|e| host_err("create server.log", e))?;
        chown(&log, self.run_as)?;

        let password = random_password();
        write_private(&spec.dir.join("admin.json"), &serde_json::json!({"user": ADMIN_USER, "password": password}).to_string())?;
        // initdb reads the password from a file the engine user can read; it goes away
        // right after.
        let pwfile = spec.dir.join("initdb.pw");
        write_private(&pwfile, &password)?;
        chown(&pwfile, self.run_as)?;
        let result = process::run(
            &self.bin("initdb"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                ADMIN_USER,
                &format!("--pwfile={}", pwfile.display()),
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            self.run_as,
            "initdb",
        )
        .await;
        let _ = std::fs::remove_file(&pwfile);
        result?;

        let mem = spec.settings.memory_mb.max(256);
        let conf = format!(
            "\n# openrds: set from the instance class\n\
             listen_addresses = '{host}'\nport = {port}\nunix_socket_directories = ''\n\
             max_connections = {maxconn}\nshared_buffers = {sb}MB\neffective_cache_size = {ecs}MB\n\
             maintenance_work_mem = {mwm}MB\nwork_mem = {wm}MB\npassword_encryption = 'scram-sha-256'\n\
             logging_collector = off\nmax_wal_size = 2GB\n",
            host = spec.listen_host.replace('\'', ""),
            port = spec.port,
            maxconn = spec.settings.max_connections.clamp(20, 5000),
            sb = (mem / 4).clamp(128, 8192),
            ecs = mem * 3 / 4,
            mwm = (mem / 16).clamp(64, 2048),
            wm = (mem / 512).clamp(4, 256),
        );
        append(&data.join("postgresql.conf"), &conf)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "# openrds: every login over TCP with a password\n\
             host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n\
             host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n",
        )
        .map_err(|e| host_err("write pg_hba.conf", e))?;
        self.start(spec).await
    }
}

fn random_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

fn write_private(path: &Path, text: &str) -> Result<(), EngineError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("write {}: {e}", path.display())))
}

fn append(path: &Path, text: &str) -> Result<(), EngineError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("write {}: {e}", path.display())))
}

/// `"name"` with inner quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled (standard_conforming_strings is on).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Normalises a driver error. Messages name what was being done and never carry
/// statement text (which may hold a password).
fn pg_error(e: tokio_postgres::Error, doing: &str) -> EngineError {
    let Some(db) = e.as_db_error() else {
        return EngineError::new(ErrorKind::Unavailable, format!("{doing}: {e}"));
    };
    let code = db.code();
    let kind = if *code == SqlState::DUPLICATE_DATABASE || *code == SqlState::DUPLICATE_OBJECT {
        ErrorKind::AlreadyExists
    } else if *code == SqlState::INVALID_CATALOG_NAME || *code == SqlState::UNDEFINED_OBJECT {
        ErrorKind::NotFound
    } else if *code == SqlState::OBJECT_IN_USE || *code == SqlState::DEPENDENT_OBJECTS_STILL_EXIST {
        ErrorKind::InUse
    } else if *code == SqlState::DISK_FULL {
        ErrorKind::DiskFull
    } else if *code == SqlState::INVALID_PARAMETER_VALUE || *code == SqlState::WRONG_OBJECT_TYPE {
        ErrorKind::InvalidCharset
    } else if code.code().starts_with("08") || code.code().starts_with("57") {
        ErrorKind::Unavailable
    } else if code.code().starts_with("42") || code.code().starts_with("22") {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Internal
    };
    EngineError::new(kind, format!("{doing}: {}", db.message()))
}

/// Schemas a user works in: everything but PostgreSQL's own.
const USER_SCHEMAS: &str =
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1";

#[async_trait]
impl Engine for PostgresEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::PostgreSQL
    }

    fn versions(&self) -> Vec<String> {
        vec![format!("{}.0", self.major)]
    }

    async fn provision(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        if self.config.run_as.is_some() && self.run_as.is_none() {
            return Err(EngineError::new(ErrorKind::HostSetup, "the postgres system user does not exist; install postgresql"));
        }
        let result = self.do_provision(spec).await;
        if let Err(e) = &result {
            tracing::error!(instance = %spec.id, error = %e, "provisioning failed; removing what was made");
            let _ = self.destroy(spec).await;
        }
        result
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        if !Self::data(spec).join("PG_VERSION").exists() {
            return Err(EngineError::new(ErrorKind::NotFound, format!("instance {} has no data directory", spec.id)));
        }
        if matches!(Self::postmaster_pid(spec), Some(pid) if Self::alive(pid)) {
            return self.wait_accepting(spec).await;
        }
        let log = spec.dir.join("server.log");
        self.pg_ctl(spec, &["start", "-w", "-t", "60", "-s", "-l", &log.to_string_lossy()], "start the server")
            .await
            .map_err(|e| EngineError::new(e.kind, format!("{}; server log: {}", e.message, Self::log_tail(spec))))?;
        self.wait_accepting(spec).await
    }

    async fn stop(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        match Self::postmaster_pid(spec) {
            Some(pid) if Self::alive(pid) => {
                self.pg_ctl(spec, &["stop", "-m", "fast", "-w", "-t", "60", "-s"], "stop the server").await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn restart(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        self.stop(spec).await?;
        self.start(spec).await
    }

    async fn destroy(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        if !spec.dir.exists() {
            return Ok(());
        }
        if let Err(e) = self.stop(spec).await {
            tracing::warn!(instance = %spec.id, error = %e, "fast stop failed; killing the server");
        }
        if let Some(pid) = Self::postmaster_pid(spec) {
            if Self::alive(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                for _ in 0..50 {
                    if !Self::alive(pid) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        std::fs::remove_dir_all(&spec.dir)
            .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
            .map_err(|e| EngineError::new(ErrorKind::HostSetup, format!("remove {}: {e}", spec.dir.display())))
    }

    async fn liveness(&self, spec: &InstanceSpec) -> Liveness {
        match Self::postmaster_pid(spec) {
            Some(pid) if Self::alive(pid) => match self.connect(spec, "postgres").await {
                Ok(c) if c.simple_query("SELECT 1").await.is_ok() => Liveness::Running,
                _ => Liveness::Unresponsive,
            },
            _ => Liveness::Stopped,
        }
    }

    async fn disk_used(&self, spec: &InstanceSpec) -> Result<u64, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let row = c
            .query_one("SELECT coalesce(sum(pg_database_size(oid)), 0)::bigint FROM pg_database", &[])
            .await
            .map_err(|e| pg_error(e, "measure database sizes"))?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    async fn user_object_count(&self, spec: &InstanceSpec, db: &str) -> Result<u64, EngineError> {
        let c = self.connect(spec, db).await?;
        let row = c
            .query_one(
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema')
                      + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema')
                      + (SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'
                          AND nspname NOT IN ('information_schema', 'public'))
                      + (SELECT count(*) FROM pg_largeobject_metadata)",
                &[],
            )
            .await
            .map_err(|e| pg_error(e, &format!("count objects in database {db}")))?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    fn tool_dir(&self) -> PathBuf {
        self.config.bin_dir.clone()
    }

    fn admin(&self, spec: &InstanceSpec) -> Result<AdminConnection, EngineError> {
        let path = spec.dir.join("admin.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EngineError::new(ErrorKind::NotFound, format!("instance {} has no admin credentials: {e}", spec.id)))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| EngineError::new(ErrorKind::Internal, format!("admin credentials of {} unreadable: {e}", spec.id)))?;
        Ok(AdminConnection {
            host: spec.listen_host.clone(),
            port: spec.port,
            user: v["user"].as_str().unwrap_or(ADMIN_USER).to_string(),
            password: v["password"].as_str().unwrap_or_default().to_string(),
            maintenance_db: "postgres".into(),
        })
    }

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
            .map_err(|e| pg_error(e, "list databases"))?;
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
        let c = self.connect(spec, "postgres").await?;
        // The cluster's default locale is C.UTF-8, which only fits UTF8; another encoding
        // without a locale gets the C locale, which fits every encoding.
        let default_locale = if charset.charset == "UTF8" { None } else { Some("C") };
        let collate = charset.collate.as_deref().or(default_locale);
        let ctype = charset.ctype.as_deref().or(default_locale);
        let mut sql = format!("CREATE DATABASE {} TEMPLATE template0 ENCODING {}", ident(name), literal(&charset.charset));
        if let Some(v) = collate {
            sql.push_str(&format!(" LC_COLLATE {}", literal(v)));
        }
        if let Some(v) = ctype {
            sql.push_str(&format!(" LC_CTYPE {}", literal(v)));
        }
        c.batch_execute(&sql).await.map_err(|e| {
            let err = pg_error(e, &format!("create database {name}"));
            if err.kind == ErrorKind::InvalidCharset || err.kind == ErrorKind::InvalidInput {
                let offered = std::process::Command::new("locale")
                    .arg("-a")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                EngineError::new(ErrorKind::InvalidCharset, format!("{}; locales on this host: {offered}", err.message))
            } else {
                err
            }
        })
    }

    async fn drop_database(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        let c = self.connect(spec, "postgres").await?;
        c.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", ident(name)))
            .await
            .map_err(|e| pg_error(e, &format!("drop database {name}")))
    }

    async fn list_accounts(&self, spec: &InstanceSpec) -> Result<Vec<AccountInfo>, EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let roles = c
            .query(
                "SELECT rolname, rolcreaterole, oid FROM pg_roles
                 WHERE rolcanlogin AND rolname <> $1 AND rolname NOT LIKE 'pg\\_%' ORDER BY 1",
                &[&ADMIN_USER],
            )
            .await
            .map_err(|e| pg_error(e, "list accounts"))?;
        let mut accounts: Vec<AccountInfo> = roles
            .iter()
            .map(|r| AccountInfo {
                name: r.get(0),
                kind: if r.get::<_, bool>(1) { AccountKind::Super } else { AccountKind::Normal },
                privileges: Vec::new(),
                privilege_detail: Vec::new(),
            })
            .collect();
        if accounts.is_empty() {
            return Ok(accounts);
        }
        for db in self.list_databases(spec).await? {
            let dc = match self.connect(spec, &db.name).await {
                Ok(dc) => dc,
                Err(e) => {
                    tracing::debug!(db = %db.name, error = %e, "skipping a database for privileges");
                    continue;
                }
            };
            for account in accounts.iter_mut() {
                let (privilege, detail) = if db.owner == account.name {
                    (Some(Privilege::DBOwner), "ALL".to_string())
                } else {
                    derive_privilege(&dc, &account.name, &db.name).await?
                };
                if let Some(p) = privilege {
                    account.privileges.push((db.name.clone(), p));
                    account.privilege_detail.push((db.name.clone(), detail));
                }
            }
        }
        Ok(accounts)
    }

    async fn create_account(&self, spec: &InstanceSpec, name: &str, password: &str, kind: AccountKind) -> Result<(), EngineError> {
        let c = self.connect(spec, "postgres").await?;
        let attrs = match kind {
            AccountKind::Normal => "LOGIN",
            AccountKind::Super => "LOGIN CREATEDB CREATEROLE",
        };
        c.batch_execute(&format!("CREATE ROLE {} {attrs} PASSWORD {}", ident(name), literal(password)))
            .await
            .map_err(|e| pg_error(e, &format!("create account {name}")))
    }

    async fn drop_account(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        for db in self.list_databases(spec).await?.iter().map(|d| d.name.clone()).chain(["postgres".to_string()]) {
            let c = self.connect(spec, &db).await?;
            c.batch_execute(&format!("REASSIGN OWNED BY {0} TO {1}; DROP OWNED BY {0}", ident(name), ident(ADMIN_USER)))
                .await
                .map_err(|e| pg_error(e, &format!("release what account {name} holds in {db}")))?;
        }
        let c = self.connect(spec, "postgres").await?;
        c.batch_execute(&format!("DROP ROLE {}", ident(name))).await.map_err(|e| pg_error(e, &format!("drop account {name}")))
    }

    async fn reset_password(&self, spec: &InstanceSpec, name: &str, password: &str) -> Result<(), EngineError> {
        let c = self.connect(spec, "postgres").await?;
        c.batch_execute(&format!("ALTER ROLE {} PASSWORD {}", ident(name), literal(password)))
            .await
            .map_err(|e| pg_error(e, &format!("reset the password of {name}")))
    }

    async fn grant(&self, spec: &InstanceSpec, account: &str, db: &str, privilege: Privilege) -> Result<(), EngineError> {
        self.revoke(spec, account, db).await?;
        let c = self.connect(spec, db).await?;
        let a = ident(account);
        let d = ident(db);
        if privilege == Privilege::DBOwner {
            let sql = format!("ALTER DATABASE {d} OWNER TO {a}; GRANT ALL ON DATABASE {d} TO {a};");
            c.batch_execute(&sql).await.map_err(|e| pg_error(e, &format!("make {account} the owner of {db}")))?;
        }
        let owner: String = c
            .query_one("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()", &[])
            .await
            .map_err(|e| pg_error(e, "read the database owner"))?
            .get(0);
        let (db_privs, schema_privs, table_privs, seq_privs, func_privs) = match privilege {
            Privilege::ReadOnly => ("CONNECT", "USAGE", Some("SELECT"), Some("SELECT"), None),
            Privilege::DMLOnly => ("CONNECT", "USAGE", Some("SELECT, INSERT, UPDATE, DELETE"), Some("USAGE, SELECT"), None),
            Privilege::ReadWrite | Privilege::DBOwner => ("CONNECT, TEMPORARY", "USAGE, CREATE", Some("ALL"), Some("ALL"), Some("EXECUTE")),
            Privilege::DDLOnly => ("CONNECT, TEMPORARY", "USAGE, CREATE", None, None, None),
        };
        let mut sql = format!("GRANT {db_privs} ON DATABASE {d} TO {a};");
        let grantors: Vec<String> = [owner, ADMIN_USER.to_string()].into_iter().filter(|g| g != account).collect();
        for row in c.query(USER_SCHEMAS, &[]).await.map_err(|e| pg_error(e, "list schemas"))? {
            let s = ident(row.get::<_, &str>(0));
            sql.push_str(&format!("GRANT {schema_privs} ON SCHEMA {s} TO {a};"));
            for (privs, objects) in [(table_privs, "TABLES"), (seq_privs, "SEQUENCES"), (func_privs, "FUNCTIONS")] {
                if let Some(p) = privs {
                    sql.push_str(&format!("GRANT {p} ON ALL {objects} IN SCHEMA {s} TO {a};"));
                    for g in &grantors {
                        sql.push_str(&format!(
                            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {s} GRANT {p} ON {objects} TO {a};",
                            ident(g)
                        ));
                    }
                }
            }
        }
        c.batch_execute(&sql).await.map_err(|e| pg_error(e, &format!("grant {} on {db} to {account}", privilege.as_str())))
    }

    async fn revoke(&self, spec: &InstanceSpec, account: &str, db: &str) -> Result<(), EngineError> {
        let c = self.connect(spec, db).await?;
        let a = ident(account);
        let d = ident(db);
        let owner: String = c
            .query_one("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()", &[])
            .await
            .map_err(|e| pg_error(e, "read the database owner"))?
            .get(0);
        let mut sql = String::new();
        if owner == account {
            sql.push_str(&format!("ALTER DATABASE {d} OWNER TO {};", ident(ADMIN_USER)));
        }
        sql.push_str(&format!("REVOKE ALL ON DATABASE {d} FROM {a};"));
        let grantors: Vec<String> = [owner, ADMIN_USER.to_string()].into_iter().filter(|g| g != account).collect();
        for row in c.query(USER_SCHEMAS, &[]).await.map_err(|e| pg_error(e, "list schemas"))? {
            let s = ident(row.get::<_, &str>(0));
            sql.push_str(&format!(
                "REVOKE ALL ON SCHEMA {s} FROM {a}; REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {a};
                 REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {a}; REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM {a};"
            ));
            for g in &grantors {
                for objects in ["TABLES", "SEQUENCES", "FUNCTIONS"] {
                    sql.push_str(&format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {s} REVOKE ALL ON {objects} FROM {a};", ident(g)));
                }
            }
        }
        c.batch_execute(&sql).await.map_err(|e| pg_error(e, &format!("revoke privileges on {db} from {account}")))
    }
}

/// Reads back which API privilege the grants of `account` on the connected database
/// amount to, from the default privileges and schema ACLs that `grant` writes.
async fn derive_privilege(c: &Client, account: &str, db: &str) -> Result<(Option<Privilege>, String), EngineError> {
    let row = c
        .query_one(
            "WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1)
             SELECT
               coalesce((SELECT string_agg(DISTINCT a.privilege_type, ',' ORDER BY a.privilege_type)
                  FROM pg_default_acl d, aclexplode(d.defaclacl) a, r
                  WHERE d.defaclobjtype = 'r' AND a.grantee = r.oid), ''),
               coalesce((SELECT bool_or(a.privilege_type = 'CREATE')
                  FROM pg_namespace n, aclexplode(n.nspacl) a, r
                  WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' AND a.grantee = r.oid), false),
               coalesce((SELECT bool_or(a.privilege_type = 'CONNECT')
                  FROM pg_database dd, aclexplode(dd.datacl) a, r
                  WHERE dd.datname = $2 AND a.grantee = r.oid), false)",
            &[&account, &db],
        )
        .await
        .map_err(|e| pg_error(e, &format!("read the privileges of {account} on {db}")))?;
    let table: String = row.get(0);
    let create: bool = row.get(1);
    let connect: bool = row.get(2);
    let has = |p: &str| table.split(',').any(|t| t == p);
    let privilege = if has("TRUNCATE") && create {
        Some(Privilege::ReadWrite)
    } else if has("INSERT") && has("DELETE") {
        Some(Privilege::DMLOnly)
    } else if has("SELECT") {
        Some(Privilege::ReadOnly)
    } else if create && connect {
        Some(Privilege::DDLOnly)
    } else {
        None
    };
    let mut detail = Vec::new();
    if connect {
        detail.push("CONNECT".to_string());
    }
    if create {
        detail.push("CREATE".to_string());
    }
    if !table.is_empty() {
        detail.push(table);
    }
    Ok((privilege, detail.join(",")))
}
