//! The domain of openrds: instances, their databases and accounts, RAM administration and
//! the rules around them (ownership, states, names, quotas). It drives engines through the
//! `engine` crate and persists through the `store` crate; it knows nothing of HTTP.
//!
//! Long work (provisioning, deleting, restarting) runs as background tasks tracked by the
//! [`ControlPlane`], each stoppable through its cancellation token. Rows come first: a
//! task's instance is in the store, in a transient state, before the task starts, so a
//! restarted control plane finds and finishes (or undoes) whatever was interrupted.

pub mod accounts;
pub mod backup_policy;
pub mod backups;
pub mod classes;
mod config;
pub mod databases;
pub mod dbinfo;
pub mod diagnostics;
mod error;
pub mod identity;
pub mod imports;
mod ids;
pub mod instances;
pub mod modify;
pub mod names;
pub mod observe;
pub mod parameters;
pub mod performance;
pub mod ram;
pub mod recovery;
pub mod security_ips;
pub mod tags;
mod supervisor;

pub use config::{ControlConfig, Region};
pub use mover::Verification;

/// The domain's data as the API shows it: what the server reads from the control plane's
/// answers, so that it depends on the control plane alone (not on the store or engines).
pub mod model {
    pub use engine::{ErrorKind, InstanceClass};
    pub use store::{
        AccessKeyStatus, BackupMode, BackupPolicy, RecoveryRole, BackupRow, BackupStatus, ImportStatus, ImportTaskRow, InstanceFilter, InstanceRow, InstanceStatus, Page, Paged, Policy, Principal,
        RamUser,
    };
}
pub use error::{ControlError, Result};
pub use identity::{Caller, RootCredentials};
pub use ids::order_id;

use engine::{Catalogue, Engine, EngineKind, InstanceClass, InstanceSpec};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use store::{InstanceRow, MetadataStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The control plane of one openrds node.
pub struct ControlPlane {
    store: Arc<dyn MetadataStore>,
    engines: HashMap<EngineKind, Arc<dyn Engine>>,
    config: ControlConfig,
    /// The account that owns this node's root key.
    root: store::Account,
    /// Cancelled at shutdown; every background task watches it.
    shutdown: CancellationToken,
    /// Every background task, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Serialises port allocation so two concurrent creations never pick the same port.
    port_lock: tokio::sync::Mutex<()>,
    /// Cancellation tokens of the imports running in this process, by ImportId.
    running_imports: std::sync::Mutex<HashMap<i64, CancellationToken>>,
    /// One lock per instance, held while its engine is started, restarted or destroyed:
    /// the watcher, the supervisor and API calls may each decide to start a dead engine,
    /// and two starts at once trip over each other's pid file.
    engine_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Held while archived log files are moved to the backup area (see `backups`).
    log_sweep: tokio::sync::Mutex<()>,
    /// Bytes used by each running instance, as last sampled (see `observe`).
    storage_samples: std::sync::Mutex<HashMap<String, u64>>,
    /// What imports moved since this process started (see `observe`).
    import_totals: observe::ImportTotals,
    /// Lets methods hand an owned handle to the background tasks they start.
    me: Weak<ControlPlane>,
}

impl ControlPlane {
    /// Serialises the engine work on one instance (see `engine_locks`).
    pub(crate) async fn lock_engine(&self, instance_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self.engine_locks.lock().unwrap_or_else(|e| e.into_inner()).entry(instance_id.to_string()).or_default().clone();
        lock.lock_owned().await
    }

    /// Opens the control plane: makes sure the root account and its key exist, adopts the
    /// instances left by a previous run (finishing or undoing interrupted work), and starts
    /// the supervisor that restarts engines that died.
    pub async fn start(
        config: ControlConfig,
        store: Arc<dyn MetadataStore>,
        engines: Vec<Arc<dyn Engine>>,
    ) -> Result<Arc<ControlPlane>> {
        let mut config = config;
        config.absolutize()?;
        config.prepare_dirs()?;
        let root = identity::bootstrap_root(store.as_ref(), &config).await?;
        let engines = engines.into_iter().map(|e| (e.kind(), e)).collect();
        let plane = Arc::new_cyclic(|me| ControlPlane {
            store,
            engines,
            config,
            root,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            port_lock: tokio::sync::Mutex::new(()),
            running_imports: std::sync::Mutex::new(HashMap::new()),
            engine_locks: std::sync::Mutex::new(HashMap::new()),
            log_sweep: tokio::sync::Mutex::new(()),
            storage_samples: std::sync::Mutex::new(HashMap::new()),
            import_totals: observe::ImportTotals::default(),
            me: me.clone(),
        });
        supervisor::recover(&plane).await?;
        plane.recover_imports().await?;
        plane.recover_backups().await?;
        supervisor::spawn(&plane);
        supervisor::spawn_watcher(&plane);
        plane.spawn_log_archiver();
        plane.spawn_backup_scheduler();
        plane.spawn_storage_sampler();
        plane.spawn_performance_sampler();
        Ok(plane)
    }

    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    pub fn root_account(&self) -> &store::Account {
        &self.root
    }

    /// Stops background work: cancels every task and waits for them up to `deadline`.
    /// Engines keep running; the next start adopts them.
    pub async fn shutdown(&self, deadline: Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait()).await.is_err() {
            tracing::warn!(?deadline, "background tasks did not stop in time");
        }
    }

    fn self_arc(&self) -> Option<Arc<ControlPlane>> {
        self.me.upgrade()
    }

    /// The engine the API's `Engine` value names, in any case.
    fn engine_named(&self, name: &str) -> Result<&Arc<dyn Engine>> {
        self.engines.iter().find(|(kind, _)| kind.matches(name)).map(|(_, e)| e).ok_or_else(|| {
            ControlError::EngineNotSupported(format!(
                "Engine {name} is not available on this host; available: {}.",
                self.engine_names().join(", ")
            ))
        })
    }

    fn engine_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.engines.keys().map(|k| k.as_str()).collect();
        names.sort();
        names
    }

    fn engine_of(&self, row: &InstanceRow) -> Result<&Arc<dyn Engine>> {
        self.engine_named(&row.engine)
    }

    /// The engine and spec of an instance that must be `Running` for what comes next.
    fn running_engine(&self, row: &InstanceRow) -> Result<(&Arc<dyn Engine>, InstanceSpec)> {
        Self::require_running(row)?;
        Ok((self.engine_of(row)?, self.spec(row)?))
    }

    /// The catalogues of the engines this node runs, by engine name.
    pub fn catalogues(&self) -> Vec<&'static Catalogue> {
        let mut all: Vec<_> = self.engines.values().map(|e| e.catalogue()).collect();
        all.sort_by_key(|c| c.kind);
        all
    }

    /// The engine the API's `Engine` value names: its canonical name and the versions
    /// installed on this host.
    pub fn engine_offer(&self, name: &str) -> Result<(&'static str, Vec<String>)> {
        let engine = self.engine_named(name)?;
        Ok((engine.kind().as_str(), engine.versions()))
    }

    /// The class of code `code`, and the catalogue that offers it.
    pub fn find_class(&self, code: &str) -> Option<(&'static Catalogue, &'static InstanceClass)> {
        self.engines.values().find_map(|e| e.catalogue().class(code).map(|class| (e.catalogue(), class)))
    }

    /// The engine's view of an instance row.
    fn spec(&self, row: &InstanceRow) -> Result<InstanceSpec> {
        let class = self
            .engine_of(row)?
            .catalogue()
            .class(&row.class_code)
            .ok_or_else(|| ControlError::Internal(format!("instance {} has unknown class {}", row.id, row.class_code)))?;
        Ok(InstanceSpec {
            id: row.id.clone(),
            dir: row.data_dir.clone().into(),
            listen_host: row.host.clone(),
            port: row.port,
            settings: class.settings(),
        })
    }
}
