//! An engine that keeps its servers in memory: the same [`Engine`] and [`mover::Copier`]
//! contracts as a real engine, with no process behind them. It lets the API, RAM checks,
//! the error envelope and the control plane's rules be tested in-process in seconds;
//! what needs a real server (privileges enforced, data copied and verified, confinement)
//! is tested against the real engines.
//!
//! A fake engine poses as any engine: it is given the catalogue to answer with (the real
//! PostgreSQL or MariaDB one, so classes, names and charsets are the real rules). It is
//! not in the registry: tests build control planes with it directly.

use async_trait::async_trait;
use engine::{
    AccessControl,
    AccountInfo, AccountKind, Accounts, AdminConnection, Catalogue, CharsetSpec, DatabaseInfo, Databases, Engine, EngineError, ErrorKind, Lifecycle,
    InstanceSpec, Liveness, Privilege, Privileges,
};
use mover::{CopyReport, DatabaseReport, Endpoint, MoveError, Run, Side};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A catalogue of no real engine, for tests of the fake alone.
pub static TOY: Catalogue = Catalogue {
    kind: engine::EngineKind::new("Toy"),
    id_prefix: "toy",
    classes: &[
        engine::InstanceClass::new("toy.n2.small.1", engine::ClassFamily::GeneralPurpose, 1, 1024, 100, 1000),
        engine::InstanceClass::new("toy.x4.large.2c", engine::ClassFamily::Dedicated, 4, 16384, 1000, 10000),
    ],
    names: engine::NameRules {
        reserved_dbs: &["system"],
        reserved_db_prefixes: &["sys_"],
        reserved_accounts: &["root"],
        reserved_account_prefixes: &["sys_"],
        account_max_len: 32,
    },
    default_charset: "utf8",
    parse_charset: |s| Ok(CharsetSpec { charset: s.to_ascii_lowercase(), collate: None, ctype: None }),
    charsets: &["utf8"],
    performance_keys: &[],
};

/// One fake server: what a real one would hold.
#[derive(Debug, Default, Clone)]
struct Server {
    running: bool,
    databases: BTreeMap<String, Database>,
    accounts: BTreeMap<String, AccountInfo>,
    allowed: Vec<String>,
    /// Parameters set through the API, and those in effect (a restart-only one takes
    /// effect at the next start).
    configured: BTreeMap<String, String>,
    running_parameters: BTreeMap<String, String>,
    /// Performance samples taken so far.
    samples: u64,
}

#[derive(Debug, Clone)]
struct Database {
    info: DatabaseInfo,
    /// Objects users made in it (tables, views, ...); a database with none is empty.
    objects: u64,
}

/// Servers by port, shared by an engine and its copier (a copy goes by endpoints).
type Servers = Arc<Mutex<BTreeMap<u16, Server>>>;

pub struct FakeEngine {
    catalogue: &'static Catalogue,
    servers: Servers,
}

impl FakeEngine {
    pub fn new(catalogue: &'static Catalogue) -> FakeEngine {
        FakeEngine { catalogue, servers: Servers::default() }
    }

    fn with<T>(&self, spec: &InstanceSpec, f: impl FnOnce(&mut Server) -> Result<T, EngineError>) -> Result<T, EngineError> {
        let mut servers = self.servers.lock().unwrap();
        let server = servers.get_mut(&spec.port).ok_or_else(|| error(ErrorKind::NotFound, format!("no server for {}", spec.id)))?;
        if !server.running {
            return Err(error(ErrorKind::Unavailable, format!("server of {} is not running", spec.id)));
        }
        f(server)
    }
}

fn error(kind: ErrorKind, message: String) -> EngineError {
    EngineError::new(kind, message)
}

#[async_trait]
impl Engine for FakeEngine {
    fn catalogue(&self) -> &'static Catalogue {
        self.catalogue
    }

    fn copier(&self) -> Arc<dyn mover::Copier> {
        Arc::new(FakeCopier { servers: self.servers.clone() })
    }

    fn versions(&self) -> Vec<String> {
        vec!["15.0".into(), "10.11".into()]
    }

    async fn disk_used(&self, spec: &InstanceSpec) -> Result<u64, EngineError> {
        self.with(spec, |s| Ok(s.databases.values().map(|d| d.info.size_bytes).sum::<u64>() + (8 << 20)))
    }

    fn parameters(&self) -> Option<&dyn engine::parameters::Parameters> {
        Some(self)
    }

    /// Counters that grow by the same steps at every sample, from the server's databases
    /// and sessions: 3 sessions (1 active), 10 statements and 2 transactions per sample.
    async fn performance(&self, spec: &InstanceSpec) -> Result<engine::PerformanceSample, EngineError> {
        self.with(spec, |s| {
            if !s.running {
                return Err(EngineError::new(ErrorKind::Unavailable, "the fake server is stopped"));
            }
            s.samples += 1;
            let n = s.samples;
            Ok(engine::PerformanceSample {
                cpu_usec: n * 100_000,
                memory_bytes: 64 << 20,
                total_sessions: 3,
                active_sessions: 1,
                queries: n * 10,
                transactions: n * 2,
                io_reads: n * 4,
                io_writes: n * 2,
                bytes_received: n * 2048,
                bytes_sent: n * 4096,
                rows_read: n * 100,
                rows_inserted: n * 5,
                com_select: n * 6,
                com_insert: n * 4,
                ..Default::default()
            })
        })
    }
}

/// Two parameters of the fake: one that applies at once, one at the next start.
const FAKE_PARAMETERS: &[engine::parameters::ParameterDef] = &[
    engine::parameters::ParameterDef { name: "work_mem", kind: engine::parameters::ParameterKind::Integer { min: 64, max: 2147483647 }, default: "4096", restart: false, description: "kB" },
    engine::parameters::ParameterDef { name: "max_locks_per_transaction", kind: engine::parameters::ParameterKind::Integer { min: 10, max: 2147483647 }, default: "64", restart: true, description: "locks" },
];

#[async_trait]
impl engine::parameters::Parameters for FakeEngine {
    fn definitions(&self) -> &'static [engine::parameters::ParameterDef] {
        FAKE_PARAMETERS
    }

    async fn running(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError> {
        self.with(spec, |s| {
            Ok(FAKE_PARAMETERS.iter().map(|d| (d.name.to_string(), s.running_parameters.get(d.name).cloned().unwrap_or_else(|| d.default.to_string()))).collect())
        })
    }

    fn configured(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError> {
        self.with(spec, |s| Ok(s.configured.clone()))
    }

    async fn configure(&self, spec: &InstanceSpec, values: &BTreeMap<String, String>) -> Result<(), EngineError> {
        self.with(spec, |s| {
            for (name, value) in values {
                s.configured.insert(name.clone(), value.clone());
                if FAKE_PARAMETERS.iter().any(|d| d.name == name && !d.restart) {
                    s.running_parameters.insert(name.clone(), value.clone());
                }
            }
            Ok(())
        })
    }
}

/// A fake backup is the server's databases and accounts, in the shared backup layout
/// (so the control plane sizes, seals, checks and deletes it as any other).
#[async_trait]
impl engine::Backups for FakeEngine {
    async fn take_backup(&self, spec: &InstanceSpec, target: &std::path::Path) -> Result<engine::BackupSet, EngineError> {
        let (databases, accounts) = self.with(spec, |s| Ok((s.databases.values().map(|d| (d.info.clone(), d.objects)).collect::<Vec<_>>(), s.accounts.values().cloned().collect::<Vec<_>>())))?;
        engine::backup::into_new_target(target, || async {
            let data = engine::backup::data_of(target);
            std::fs::create_dir(&data)
                .and_then(|()| std::fs::write(data.join("state.json"), serde_json::to_vec(&(databases, accounts)).unwrap_or_default()))
                .map_err(|e| error(ErrorKind::Internal, format!("write {}: {e}", data.display())))?;
            Ok(engine::BackupSet {
                checksum: engine::backup::seal(target)?,
                size_bytes: engine::backup::size_of(target),
                consistent_at: engine::backup::now_unix(),
                log_start: String::new(),
                log_end: String::new(),
            })
        })
        .await
    }

    async fn verify_backup(&self, backup: &std::path::Path) -> Result<(), EngineError> {
        engine::backup::check_manifest(backup)
    }

    async fn provision_from_backup(&self, spec: &InstanceSpec, backup: &std::path::Path, target: Option<&engine::RestoreTarget>) -> Result<(), EngineError> {
        if target.is_some() {
            return Err(engine::backup::no_log_archive("fake"));
        }
        let path = engine::backup::data_of(backup).join("state.json");
        let text = std::fs::read(&path).map_err(|e| error(ErrorKind::Corrupt, format!("read {}: {e}", path.display())))?;
        let (databases, accounts): (Vec<(DatabaseInfo, u64)>, Vec<AccountInfo>) =
            serde_json::from_slice(&text).map_err(|e| error(ErrorKind::Corrupt, format!("{}: {e}", path.display())))?;
        self.provision(spec).await?;
        self.with(spec, |s| {
            s.databases = databases.into_iter().map(|(info, objects)| (info.name.clone(), Database { info, objects })).collect();
            s.accounts = accounts.into_iter().map(|a| (a.name.clone(), a)).collect();
            Ok(())
        })
    }
}

#[async_trait]
impl AccessControl for FakeEngine {
    fn admin(&self, spec: &InstanceSpec) -> Result<AdminConnection, EngineError> {
        Ok(AdminConnection {
            host: spec.listen_host.clone(),
            port: spec.port,
            user: "fake_admin".into(),
            password: "fake".into(),
            maintenance_db: "fake".into(),
        })
    }

    async fn set_allowed_addresses(&self, spec: &InstanceSpec, allowed: &[String]) -> Result<(), EngineError> {
        self.with(spec, |s| {
            s.allowed = allowed.to_vec();
            Ok(())
        })
    }
}

#[async_trait]
impl Lifecycle for FakeEngine {
    async fn provision(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        std::fs::create_dir_all(&spec.dir).map_err(|e| error(ErrorKind::Internal, format!("create {}: {e}", spec.dir.display())))?;
        self.servers.lock().unwrap().insert(spec.port, Server { running: true, ..Server::default() });
        Ok(())
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        match self.servers.lock().unwrap().get_mut(&spec.port) {
            Some(s) => {
                s.running = true;
                // A real server reads its configured parameters as it starts.
                let configured = s.configured.clone();
                s.running_parameters.extend(configured);
                Ok(())
            }
            None => Err(error(ErrorKind::NotFound, format!("no server for {}", spec.id))),
        }
    }

    async fn stop(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        if let Some(s) = self.servers.lock().unwrap().get_mut(&spec.port) {
            s.running = false;
        }
        Ok(())
    }

    async fn restart(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        self.start(spec).await
    }

    async fn destroy(&self, spec: &InstanceSpec) -> Result<(), EngineError> {
        self.servers.lock().unwrap().remove(&spec.port);
        let _ = std::fs::remove_dir_all(&spec.dir);
        Ok(())
    }

    async fn liveness(&self, spec: &InstanceSpec) -> Liveness {
        match self.servers.lock().unwrap().get(&spec.port) {
            Some(s) if s.running => Liveness::Running,
            _ => Liveness::Stopped,
        }
    }

    fn server_running(&self, spec: &InstanceSpec) -> bool {
        self.servers.lock().unwrap().get(&spec.port).is_some_and(|s| s.running)
    }
}

#[async_trait]
impl Databases for FakeEngine {
    async fn list_databases(&self, spec: &InstanceSpec) -> Result<Vec<DatabaseInfo>, EngineError> {
        self.with(spec, |s| Ok(s.databases.values().map(|d| d.info.clone()).collect()))
    }

    async fn create_database(&self, spec: &InstanceSpec, name: &str, charset: &CharsetSpec) -> Result<(), EngineError> {
        self.with(spec, |s| {
            if s.databases.contains_key(name) {
                return Err(error(ErrorKind::AlreadyExists, format!("database {name} already exists")));
            }
            let info = DatabaseInfo {
                name: name.into(),
                charset: charset.charset.clone(),
                collate: charset.collate.clone().unwrap_or_else(|| "C".into()),
                ctype: charset.ctype.clone().unwrap_or_else(|| "C".into()),
                owner: String::new(),
                size_bytes: 7 << 20,
                conn_limit: -1,
                tablespace: "default".into(),
            };
            s.databases.insert(name.into(), Database { info, objects: 0 });
            Ok(())
        })
    }

    async fn drop_database(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        self.with(spec, |s| {
            s.databases.remove(name).ok_or_else(|| error(ErrorKind::NotFound, format!("database {name} does not exist")))?;
            for account in s.accounts.values_mut() {
                account.privileges.retain(|(db, _)| db != name);
                account.privilege_detail.retain(|(db, _)| db != name);
            }
            Ok(())
        })
    }

    async fn user_object_count(&self, spec: &InstanceSpec, db: &str) -> Result<u64, EngineError> {
        self.with(spec, |s| s.databases.get(db).map(|d| d.objects).ok_or_else(|| error(ErrorKind::NotFound, format!("database {db} does not exist"))))
    }
}

#[async_trait]
impl Accounts for FakeEngine {
    async fn list_accounts(&self, spec: &InstanceSpec) -> Result<Vec<AccountInfo>, EngineError> {
        self.with(spec, |s| Ok(s.accounts.values().cloned().collect()))
    }

    async fn create_account(&self, spec: &InstanceSpec, name: &str, _password: &str, kind: AccountKind) -> Result<(), EngineError> {
        self.with(spec, |s| match s.accounts.get_mut(name) {
            Some(a) if a.can_login => Err(error(ErrorKind::AlreadyExists, format!("account {name} already exists"))),
            Some(a) => {
                a.can_login = true;
                a.kind = kind;
                Ok(())
            }
            None => {
                let info = AccountInfo { name: name.into(), kind, can_login: true, privileges: Vec::new(), privilege_detail: Vec::new(), role: None };
                s.accounts.insert(name.into(), info);
                Ok(())
            }
        })
    }

    async fn drop_account(&self, spec: &InstanceSpec, name: &str) -> Result<(), EngineError> {
        self.with(spec, |s| s.accounts.remove(name).map(|_| ()).ok_or_else(|| error(ErrorKind::NotFound, format!("account {name} does not exist"))))
    }

    async fn reset_password(&self, spec: &InstanceSpec, name: &str, _password: &str) -> Result<(), EngineError> {
        self.with(spec, |s| match s.accounts.get_mut(name) {
            Some(a) => {
                a.can_login = true;
                Ok(())
            }
            None => Err(error(ErrorKind::NotFound, format!("account {name} does not exist"))),
        })
    }
}

#[async_trait]
impl Privileges for FakeEngine {
    async fn grant(&self, spec: &InstanceSpec, account: &str, db: &str, privilege: Privilege) -> Result<(), EngineError> {
        self.with(spec, |s| {
            if !s.databases.contains_key(db) {
                return Err(error(ErrorKind::NotFound, format!("database {db} does not exist")));
            }
            let a = s.accounts.get_mut(account).ok_or_else(|| error(ErrorKind::NotFound, format!("account {account} does not exist")))?;
            a.privileges.retain(|(d, _)| d != db);
            a.privilege_detail.retain(|(d, _)| d != db);
            a.privileges.push((db.into(), privilege));
            a.privilege_detail.push((db.into(), privilege.as_str().to_uppercase()));
            if privilege == Privilege::DBOwner {
                if let Some(d) = s.databases.get_mut(db) {
                    d.info.owner = account.into();
                }
            }
            Ok(())
        })
    }

    async fn revoke(&self, spec: &InstanceSpec, account: &str, db: &str) -> Result<(), EngineError> {
        self.with(spec, |s| {
            let a = s.accounts.get_mut(account).ok_or_else(|| error(ErrorKind::NotFound, format!("account {account} does not exist")))?;
            a.privileges.retain(|(d, _)| d != db);
            a.privilege_detail.retain(|(d, _)| d != db);
            Ok(())
        })
    }
}

/// Copies fake databases between fake servers, keeping the copier's contract: every name
/// checked first, nothing visible until the gate passed, nothing left on failure.
struct FakeCopier {
    servers: Servers,
}

type Copies = Vec<(String, String, Database)>;

#[async_trait]
impl mover::CopySteps for FakeCopier {
    type Planned = Copies;
    type Staged = Copies;
    type Loaded = Copies;
    type Built = Copies;

    async fn plan(&self, run: &Run) -> mover::Result<Copies> {
        let servers = self.servers.lock().unwrap();
        let up = |ep: &Endpoint, side| servers.get(&ep.port).filter(|s| s.running).ok_or_else(|| MoveError::unavailable(side, "server not running"));
        let (src, dst) = (up(&run.source, Side::Source)?, up(&run.dest, Side::Destination)?);
        let mut copies = Vec::new();
        for (from, to) in &run.names {
            let db = src.databases.get(from).ok_or_else(|| MoveError::InvalidRequest(format!("source database {from} does not exist")))?;
            if let Some(existing) = dst.databases.get(to) {
                if existing.objects > 0 {
                    return Err(MoveError::DestinationNotEmpty { database: to.clone(), detail: format!("{} objects", existing.objects) });
                }
            }
            run.progress.register_db(from, to);
            copies.push((from.clone(), to.clone(), db.clone()));
        }
        Ok(copies)
    }

    async fn schema(&self, _run: &Run, copies: Copies) -> mover::Result<Copies> {
        Ok(copies)
    }

    async fn data(&self, _run: &Run, copies: Copies) -> mover::Result<Copies> {
        Ok(copies)
    }

    async fn post_data(&self, _run: &Run, copies: Copies) -> mover::Result<Copies> {
        Ok(copies)
    }

    fn verify(&self, _run: &Run, _copies: &Copies) -> mover::Result<()> {
        Ok(())
    }

    async fn publish(&self, run: &Run, copies: Copies) -> mover::Result<CopyReport> {
        if let Some(gate) = &run.opts.before_publish {
            gate.pass(serde_json::json!(run.names.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>())).await?;
        }
        let mut servers = self.servers.lock().unwrap();
        let dst = servers.get_mut(&run.dest.port).filter(|s| s.running).ok_or_else(|| MoveError::unavailable(Side::Destination, "server not running"))?;
        let mut report = CopyReport::default();
        for (from, to, mut db) in copies {
            let replaced_existing = dst.databases.contains_key(&to);
            db.info.name = to.clone();
            dst.databases.insert(to.clone(), db);
            report.databases.push(DatabaseReport { source: from, destination: to, replaced_existing, ..DatabaseReport::default() });
        }
        Ok(report)
    }

    async fn cleanup(&self, _dest: &Endpoint, _staging_tag: &str) -> mover::Result<()> {
        Ok(())
    }

    /// The mark is the destination names; they exist once published.
    async fn published(&self, dest: &Endpoint, _staging_tag: &str, mark: &serde_json::Value) -> mover::Result<bool> {
        let servers = self.servers.lock().unwrap();
        let Some(server) = servers.get(&dest.port) else { return Ok(false) };
        let names: Vec<&str> = mark.as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        Ok(!names.is_empty() && names.iter().all(|n| server.databases.contains_key(*n)))
    }
}
