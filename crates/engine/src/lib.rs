//! Database engines as plugins: the [`Engine`] trait every engine implements, the
//! [`Catalogue`] it declares, and what every engine shares on the host (running tools and
//! servers confined to their instance, an instance's files). Each engine lives in a crate
//! of its own under `crates/engines/`: its adapter provisions a real server process under
//! a directory it is given, starts, stops and adopts it, manages databases and roles in it
//! through its admin connection, and hands out the copier its imports run with.
//!
//! Adapters know nothing of accounts, regions or the API: they are given an
//! [`InstanceSpec`] and answer with [`EngineError`]s whose [`ErrorKind`] is the same for
//! every engine.

pub mod backup;
mod catalogue;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod instance_dir;
pub mod isolation;
pub mod lifecycle;
pub mod parameters;
pub mod performance;
pub mod process;
mod showcase;

pub use backup::{BackupSet, Backups, RestoreTarget};
pub use catalogue::{check_db_name_format, Catalogue, ClassFamily, EngineKind, InstanceClass, NameRules};
pub use error::{EngineError, ErrorKind};
pub use performance::{PerformanceKey, PerformanceSample};
pub use showcase::{Login, Showcase};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Engine settings implied by an instance class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Memory the class promises, in MiB; buffers are sized from it.
    pub memory_mb: u64,
    pub cpu: u32,
    pub max_connections: u32,
}

/// Everything an adapter needs to find and drive one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// Instance id, used in log lines and file names only.
    pub id: String,
    /// The adapter's directory for this server; the adapter creates it on provision and
    /// removes it on destroy. Everything of the server lives below it.
    pub dir: PathBuf,
    pub listen_host: String,
    pub port: u16,
    pub settings: ServerSettings,
}

/// How to reach a server as its internal administrator. Mover and verification code use
/// it; it never leaves the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConnection {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// A database that always exists on the server, for cluster-level work.
    pub maintenance_db: String,
}

/// A database as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    pub name: String,
    /// The engine's name for the database's encoding or character set (`UTF8`, `utf8mb4`).
    pub charset: String,
    pub collate: String,
    pub ctype: String,
    pub owner: String,
    pub size_bytes: u64,
    pub conn_limit: i64,
    pub tablespace: String,
}

/// The kind of login account, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    Normal,
    Super,
}

/// A privilege the API grants on one database, mapped by each adapter to real grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Privilege {
    ReadWrite,
    ReadOnly,
    DDLOnly,
    DMLOnly,
    DBOwner,
}

impl Privilege {
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::ReadWrite => "ReadWrite",
            Privilege::ReadOnly => "ReadOnly",
            Privilege::DDLOnly => "DDLOnly",
            Privilege::DMLOnly => "DMLOnly",
            Privilege::DBOwner => "DBOwner",
        }
    }

    pub fn parse(s: &str) -> Option<Privilege> {
        Some(match s {
            "ReadWrite" => Privilege::ReadWrite,
            "ReadOnly" => Privilege::ReadOnly,
            "DDLOnly" => Privilege::DDLOnly,
            "DMLOnly" => Privilege::DMLOnly,
            "DBOwner" => Privilege::DBOwner,
            _ => return None,
        })
    }
}

/// A login account and what it holds on each database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub name: String,
    pub kind: AccountKind,
    /// False for a role or account that exists without a login (made by an import for
    /// what copied objects name): CreateAccount or ResetAccountPassword gives it one,
    /// keeping what it owns and holds.
    pub can_login: bool,
    /// (database, privilege) pairs, one per database the account has rights on.
    pub privileges: Vec<(String, Privilege)>,
    /// Free text describing the grants in engine terms (e.g. `CONNECT,SELECT`).
    pub privilege_detail: Vec<(String, String)>,
    /// The role's own attributes, on engines whose accounts have them (PostgreSQL).
    pub role: Option<RoleAttributes>,
}

/// A PostgreSQL role's attributes, as `pg_roles` holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAttributes {
    pub create_db: bool,
    pub create_role: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// When its password stops working, as the server writes it; `None`: never.
    pub valid_until: Option<String>,
}

/// Whether the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Liveness {
    /// Accepts connections.
    Running,
    /// No server process for this directory.
    Stopped,
    /// A process exists but does not accept connections (starting, stopping, stuck).
    Unresponsive,
}

/// Character set request for a new database, already validated by the caller's syntax
/// rules but not against the host's locales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharsetSpec {
    pub charset: String,
    pub collate: Option<String>,
    pub ctype: Option<String>,
}

/// One engine on this host. Implementations are cheap to share (`Arc<dyn Engine>`).
#[async_trait]
pub trait Engine: Lifecycle + Databases + Accounts + Privileges + AccessControl + Backups + Send + Sync + 'static {
    /// What the engine offers through the API.
    fn catalogue(&self) -> &'static Catalogue;

    fn kind(&self) -> EngineKind {
        self.catalogue().kind
    }

    /// The copier ImportDatabaseBetweenInstances runs with between two servers of this
    /// engine (it knows where the engine's client tools are).
    fn copier(&self) -> std::sync::Arc<dyn mover::Copier>;

    /// The engine versions this host can run, as the API spells them (`15.0`). The first
    /// is the default.
    fn versions(&self) -> Vec<String>;

    /// Bytes the server uses for data (all databases, as the engine measures them).
    async fn disk_used(&self, spec: &InstanceSpec) -> Result<u64, EngineError>;

    /// The parameters callers may change, if the engine offers any.
    fn parameters(&self) -> Option<&dyn parameters::Parameters> {
        None
    }

    /// The errors the server logged between the unix milliseconds `from_ms` and `to_ms`
    /// (its error log, read from the instance's directory), oldest first.
    async fn error_log(&self, _spec: &InstanceSpec, _from_ms: i64, _to_ms: i64) -> Result<Vec<ErrorLogEntry>, EngineError> {
        Ok(Vec::new())
    }

    /// The statements the server logged as slow (it logs those that ran at least a
    /// second by default) that started between `from_ms` and `to_ms`, oldest first.
    async fn slow_log(&self, _spec: &InstanceSpec, _from_ms: i64, _to_ms: i64) -> Result<Vec<SlowQuery>, EngineError> {
        Ok(Vec::new())
    }

    /// The server's counters now (DescribeDBInstancePerformance): CPU and memory of its
    /// processes, connections, statements, transactions, I/O and traffic. Disk use is
    /// left 0: the caller measures it ([`Engine::disk_used`]).
    async fn performance(&self, _spec: &InstanceSpec) -> Result<PerformanceSample, EngineError> {
        Err(EngineError::new(ErrorKind::Unavailable, format!("{} reports no performance counters", self.kind())))
    }
}

/// One statement a server logged as slow (DescribeSlowLogRecords).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowQuery {
    /// When it started, unix milliseconds.
    pub started_ms: i64,
    pub duration_ms: i64,
    pub sql: String,
    pub user: String,
    pub database: String,
    pub client: String,
    /// Rows returned and examined, and time spent waiting for locks, where the engine logs them.
    pub rows_sent: i64,
    pub rows_examined: i64,
    pub lock_ms: i64,
}

/// One error a server logged (DescribeErrorLogs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLogEntry {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The message, with the lines the server logged after it (detail, statement).
    pub message: String,
    /// The session's user, database and client address, where the log says.
    pub user: String,
    pub database: String,
    pub client: String,
}

/// The last this many bytes of a server's log are read for its errors: enough for days of
/// errors, bounded whatever the log grew to.
pub const ERROR_LOG_TAIL_BYTES: u64 = 16 << 20;

/// The end of the file at `path` (at most [`ERROR_LOG_TAIL_BYTES`]), from a line start;
/// empty if there is none.
pub fn log_tail(path: &std::path::Path) -> Result<String, EngineError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(instance_dir::host_error(format!("open {}", path.display()), e)),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(ERROR_LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(|e| instance_dir::host_error(format!("seek {}", path.display()), e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| instance_dir::host_error(format!("read {}", path.display()), e))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(if start > 0 { text.split_once('\n').map(|(_, rest)| rest.to_string()).unwrap_or_default() } else { text })
}

/// Who may log in to a server (part of [`Engine`]).
#[async_trait]
pub trait AccessControl {
    /// The internal administrator's connection (credentials kept under `spec.dir`).
    fn admin(&self, spec: &InstanceSpec) -> Result<AdminConnection, EngineError>;

    /// Lets API accounts log in only from `allowed` (IPv4 addresses and CIDR blocks,
    /// validated by the caller), in the engine's own access control; takes effect for new
    /// sessions at once. The internal administrator keeps its access.
    async fn set_allowed_addresses(&self, spec: &InstanceSpec, allowed: &[String]) -> Result<(), EngineError>;
}

/// An engine made from the host's binaries, for tests: they fail, never skip, on a host
/// without them (`on_host` panics saying what to install).
pub trait OnHost: Engine + Sized {
    fn on_host() -> Self;
}

/// A server's life (part of [`Engine`]): every [`lifecycle::ServerLifecycle`] has it.
#[async_trait]
pub trait Lifecycle {
    /// Creates the server's files under `spec.dir`, configures it for `spec`, starts it and
    /// returns once it accepts connections. On failure nothing is left running and the
    /// directory is removed.
    async fn provision(&self, spec: &InstanceSpec) -> Result<(), EngineError>;
    /// Starts a stopped server (idempotent: a running one is left alone). Returns once it
    /// accepts connections. The process must outlive the control plane.
    async fn start(&self, spec: &InstanceSpec) -> Result<(), EngineError>;
    /// Stops the server (fast shutdown); idempotent.
    async fn stop(&self, spec: &InstanceSpec) -> Result<(), EngineError>;
    /// Restarts the server and returns once it accepts connections again.
    async fn restart(&self, spec: &InstanceSpec) -> Result<(), EngineError>;
    /// Stops the server and removes its directory. After it returns no process of the
    /// server remains. Idempotent.
    async fn destroy(&self, spec: &InstanceSpec) -> Result<(), EngineError>;
    async fn liveness(&self, spec: &InstanceSpec) -> Liveness;
    /// Whether the server's process exists, from its pid file and `/proc` alone: no
    /// connection, so it can be asked often (a death shows within the asking interval).
    fn server_running(&self, spec: &InstanceSpec) -> bool;
}

/// An engine's databases (part of [`Engine`]; in scope with `engine::prelude::*`).
#[async_trait]
pub trait Databases {
    /// User databases (system and template databases excluded), however they were made.
    async fn list_databases(&self, spec: &InstanceSpec) -> Result<Vec<DatabaseInfo>, EngineError>;
    /// `AlreadyExists` if taken, `InvalidCharset` if the host cannot provide it.
    async fn create_database(&self, spec: &InstanceSpec, name: &str, charset: &CharsetSpec) -> Result<(), EngineError>;
    /// Drops the database, ending its sessions first. `NotFound` if absent.
    async fn drop_database(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError>;
    /// Objects a user made in database `db` (tables, views, sequences, functions, types,
    /// schemas other than the default one). Zero means the database is empty.
    async fn user_object_count(&self, spec: &InstanceSpec, db: &str) -> Result<u64, EngineError>;
}

/// An engine's accounts (part of [`Engine`]).
#[async_trait]
pub trait Accounts {
    /// Accounts, without the internal administrator and built-in roles: login accounts,
    /// and roles or locked accounts without a login (`can_login` false).
    async fn list_accounts(&self, spec: &InstanceSpec) -> Result<Vec<AccountInfo>, EngineError>;
    /// Creates a login account; an existing account without a login gets one (keeping
    /// what it owns and holds); `AlreadyExists` if a login account has the name.
    async fn create_account(&self, spec: &InstanceSpec, name: &str, password: &str, kind: AccountKind) -> Result<(), EngineError>;
    async fn drop_account(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError>;
    async fn reset_password(&self, spec: &InstanceSpec, name: &str, password: &str) -> Result<(), EngineError>;
}

/// What accounts may do in databases (part of [`Engine`]).
#[async_trait]
pub trait Privileges {
    /// Grants `privilege` on database `db` to `account`, replacing what it held there.
    /// `DBOwner` makes the account the owner of the database and its objects.
    async fn grant(&self, spec: &InstanceSpec, account: &str, db: &str, privilege: Privilege) -> Result<(), EngineError>;
    /// Removes every privilege `account` holds on `db` (ownership goes back to the admin).
    async fn revoke(&self, spec: &InstanceSpec, account: &str, db: &str) -> Result<(), EngineError>;
}

/// The engine traits, for calling their methods on an `Arc<dyn Engine>`.
pub mod prelude {
    pub use crate::{AccessControl, Accounts, Backups, Databases, Engine, Lifecycle, Privileges};
}
