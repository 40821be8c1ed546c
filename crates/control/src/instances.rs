//! Instance lifecycle: create, describe, restart, delete. State changes are compare-and-set
//! on the row; the slow engine work runs as a tracked background task after the row says
//! what is happening, so a crash leaves a row the supervisor can finish from.

use wire::Action;
use store::InstanceStatus;
use crate::{classes, ids, Caller, ControlError, ControlPlane, Result};
use chrono::Utc;
use engine::Liveness;
use store::{InstanceFilter, InstanceRow, Page, Paged, StoreError};
use wire::parameters::CreateDBInstance;


/// What CreateDBInstance asks for, validated for form by the caller.
/// An instance with what the engine says about it right now.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub row: InstanceRow,
    pub class: &'static engine::InstanceClass,
    /// Bytes used, measured from the engine; `None` if it could not be reached.
    pub disk_used: Option<u64>,
}

fn state_error(row: &InstanceRow) -> ControlError {
    ControlError::InstanceState { id: row.id.clone(), status: row.status }
}

impl ControlPlane {
    /// The caller's instance, or `InstanceNotFound` (also for another account's).
    pub async fn owned_instance(&self, caller: &Caller, id: &str) -> Result<InstanceRow> {
        match self.store.get_instance(id).await {
            Ok(row) if row.account_uid == caller.account_uid() && !row.is_private() => Ok(row),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(ControlError::InstanceNotFound(id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Looks the instance up and checks RAM for `action` on it.
    pub async fn authorized_instance(&self, caller: &Caller, action: Action, id: &str) -> Result<InstanceRow> {
        let row = self.owned_instance(caller, id).await?;
        let arn = iam::rds_instance_arn(&row.region_id, &row.account_uid, &row.id);
        self.authorize(caller, action, &arn, &row.tags).await?;
        Ok(row)
    }

    /// RAM check for calls that act on no particular instance (create, list).
    pub async fn authorize_any_instance(&self, caller: &Caller, action: Action, region: &str) -> Result<()> {
        let arn = iam::rds_instance_arn(region, caller.account_uid(), "*");
        self.authorize(caller, action, &arn, &[]).await
    }

    /// Checks a `RegionId`; absent means the default region.
    pub fn check_region(&self, region: Option<&str>) -> Result<String> {
        match region {
            None => Ok(self.config.regions[0].id.clone()),
            Some(r) if self.config.region(r).is_some() => Ok(r.to_string()),
            Some(r) => Err(ControlError::RegionNotFound(format!(
                "The region {r} is not served here; available: {}.",
                self.config.regions.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Creates the row and starts provisioning; with `dry_run`, runs every check (RAM
    /// first, then region, engine, class, storage and a free port) and returns `None`.
    pub async fn create_instance(&self, caller: &Caller, req: CreateDBInstance) -> Result<Option<InstanceRow>> {
        // Authorization comes first: a caller without the right learns nothing else,
        // not even whether the rest of its request would pass.
        self.authorize_any_instance(caller, Action::CreateDBInstance, &req.region_id).await?;
        let region = self.check_region(Some(&req.region_id))?;
        let zones = &self.config.region(&region).map(|r| r.zones.clone()).unwrap_or_default();
        let zone = match &req.zone_id {
            None => zones[0].clone(),
            Some(z) if zones.contains(z) => z.clone(),
            Some(z) => {
                return Err(ControlError::invalid("ZoneId", format!("zone {z} is not in region {region}; available: {}", zones.join(", "))))
            }
        };
        let engine = self.engine_named(&req.engine)?.clone();
        let catalogue = engine.catalogue();
        let kind = catalogue.kind;
        let versions = engine.versions();
        let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
        let version = versions
            .iter()
            .find(|v| **v == req.engine_version || major(v) == req.engine_version)
            .cloned()
            .ok_or_else(|| {
                ControlError::EngineVersionNotSupported(format!(
                    "EngineVersion {} of {} is not available on this host; available: {}.",
                    req.engine_version,
                    kind,
                    versions.join(", ")
                ))
            })?;
        let class = classes::offered(catalogue, &req.class)?;
        classes::check_storage(req.storage_gb)?;
        if let Some(d) = &req.description {
            if d.chars().count() > 256 {
                return Err(ControlError::invalid("DBInstanceDescription", "it must be at most 256 characters"));
            }
        }
        let security_ips = crate::security_ips::parse_list(req.security_ip_list.as_deref().unwrap_or("127.0.0.1"))?.join(",");
        if req.dry_run == Some(true) {
            let _ports = self.port_lock.lock().await;
            self.free_port().await?;
            return Ok(None);
        }

        let id = ids::instance_id(catalogue);
        let now = Utc::now();
        let row = {
            let _ports = self.port_lock.lock().await;
            let port = self.free_port().await?;
            let row = InstanceRow {
                id: id.clone(),
                account_uid: caller.account_uid().to_string(),
                region_id: region,
                zone_id: zone,
                engine: kind.as_str().to_string(),
                engine_version: version,
                class_code: class.code.to_string(),
                storage_gb: req.storage_gb,
                storage_type: req.storage_type.unwrap_or_else(|| "local_ssd".into()),
                status: InstanceStatus::Creating,
                description: req.description.unwrap_or_default(),
                pay_type: req.pay_type.unwrap_or_else(|| "Postpaid".into()),
                category: req.category.unwrap_or_else(|| "Basic".into()),
                net_type: req.net_type.unwrap_or_else(|| "Intranet".into()),
                network_type: req.network_type.unwrap_or_else(|| "VPC".into()),
                security_ip_list: security_ips,
                host: self.config.engine_host.clone(),
                port,
                data_dir: self.config.instances_dir().join(&id).to_string_lossy().into_owned(),
                tags: req.tags.0,
                restored_from: None,
                restored_until: None,
                recovery: None,
                deletion_protection: req.deletion_protection.unwrap_or(false),
                maintain_time: store::DEFAULT_MAINTAIN_TIME.into(),
                created_at: now,
                updated_at: now,
            };
            self.store.insert_instance(&row).await?;
            row
        };
        tracing::info!(instance = %row.id, port = row.port, class = %row.class_code, "creating instance");
        self.spawn_provision(row.clone());
        Ok(Some(row))
    }

    /// A port in the configured range that no instance holds and nothing listens on.
    pub(crate) async fn free_port(&self) -> Result<u16> {
        let used: std::collections::HashSet<u16> = self.store.used_ports().await?.into_iter().collect();
        let (lo, hi) = self.config.port_range;
        for port in lo..=hi {
            if used.contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind((self.config.engine_host.as_str(), port)).is_ok() {
                return Ok(port);
            }
        }
        Err(ControlError::LimitExceeded(format!(
            "No free port left in the range {lo}-{hi} for a new instance; delete an instance or widen --port-range."
        )))
    }

    /// Provisions in the background; `Creating` → `Running`, or the row is removed (with
    /// an event saying why) if the engine cannot be set up.
    pub(crate) fn spawn_provision(&self, row: InstanceRow) {
        let Some(plane) = self.self_arc() else { return };
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            let work = plane.provision(&row);
            tokio::select! {
                _ = token.cancelled() => {
                    tracing::info!(instance = %row.id, "shutdown while creating; the next start finishes it");
                }
                result = work => {
                    if let Err(e) = result {
                        tracing::error!(instance = %row.id, error = %e, "instance creation failed");
                        let _ = plane.store.append_event(&format!("dbinstance/{}", row.id), "CreateFailed",
                            &serde_json::json!({"error": e.to_string()}).to_string()).await;
                        if let Ok(spec) = plane.spec(&row) {
                            if let Ok(engine) = plane.engine_of(&row) {
                                let _ = engine.destroy(&spec).await;
                            }
                        }
                        let _ = plane.store.delete_instance(&row.id).await;
                    }
                }
            }
        });
    }

    async fn provision(&self, row: &InstanceRow) -> Result<()> {
        let engine = self.engine_of(row)?;
        let spec = self.spec(row)?;
        match row.restored_from {
            Some(backup_id) => self.provision_from_backup(row, backup_id, row.restored_until).await?,
            None => {
                // A leftover directory is from an interrupted attempt: start clean.
                engine.destroy(&spec).await?;
                engine.provision(&spec).await?;
            }
        }
        if let Some(store::RecoveryRole::KeepOnly { databases }) = &row.recovery {
            self.keep_only(row, databases).await?;
        }
        // Until its list is applied, only openrds's administrator may log in.
        self.apply_security_ips(row).await?;
        self.store.transition_instance(&row.id, &[InstanceStatus::Creating], InstanceStatus::Running).await?;
        tracing::info!(instance = %row.id, "instance is running");
        Ok(())
    }

    pub async fn describe_instances(
        &self,
        caller: &Caller,
        mut filter: InstanceFilter,
        page: Option<Page>,
    ) -> Result<std::sync::Arc<Paged<InstanceRow>>> {
        let region = filter.region_id.clone().unwrap_or_else(|| self.config.regions[0].id.clone());
        self.authorize_any_instance(caller, Action::DescribeDBInstances, &region).await?;
        filter.account_uid = Some(caller.account_uid().to_string());
        // The engine's name in any case means the engine: the store keeps the canonical
        // spelling.
        if let Some(name) = &filter.engine {
            if let Ok(engine) = self.engine_named(name) {
                filter.engine = Some(engine.kind().as_str().to_string());
            }
        }
        Ok(self.store.list_instances_shared(&filter, page).await?)
    }

    pub async fn describe_instance(&self, caller: &Caller, id: &str) -> Result<InstanceView> {
        let row = self.authorized_instance(caller, Action::DescribeDBInstanceAttribute, id).await?;
        self.view(row).await
    }

    pub async fn net_info(&self, caller: &Caller, id: &str) -> Result<InstanceRow> {
        self.authorized_instance(caller, Action::DescribeDBInstanceNetInfo, id).await
    }

    pub(crate) async fn view(&self, row: InstanceRow) -> Result<InstanceView> {
        let class = self
            .engine_of(&row)?
            .catalogue()
            .class(&row.class_code)
            .ok_or_else(|| ControlError::Internal(format!("instance {} has unknown class {}", row.id, row.class_code)))?;
        let disk_used = if row.status == InstanceStatus::Creating || row.status == InstanceStatus::Deleting {
            None
        } else {
            let engine = self.engine_of(&row)?;
            engine.disk_used(&self.spec(&row)?).await.ok()
        };
        Ok(InstanceView { row, class, disk_used })
    }

    /// `Running` → `Deleting`, then the engine is destroyed and the row removed in the
    /// background.
    pub async fn delete_instance(&self, caller: &Caller, id: &str) -> Result<InstanceRow> {
        let row = self.authorized_instance(caller, Action::DeleteDBInstance, id).await?;
        if row.deletion_protection {
            return Err(ControlError::DeletionProtected(format!(
                "Instance {id} has deletion protection on; turn it off with ModifyDBInstanceDeletionProtection first."
            )));
        }
        // A stopped instance can be released as it is. The row written is the one whose
        // protection was checked: turned on meanwhile, the write is refused.
        if !matches!(row.status, InstanceStatus::Running | InstanceStatus::Stopped) {
            return Err(state_error(&row));
        }
        let deleting = InstanceRow { status: InstanceStatus::Deleting, ..row.clone() };
        self.store.update_instance_if(&deleting, row.status).await.map_err(|e| self.state_conflict(&row, e))?;
        tracing::info!(instance = %row.id, "deleting instance");
        self.spawn_delete(row.clone());
        Ok(row)
    }

    /// Moves a Running instance into `status`, or says why it cannot.
    pub(crate) async fn transition_from_running(&self, row: &InstanceRow, status: InstanceStatus) -> Result<()> {
        match self.store.transition_instance(&row.id, &[InstanceStatus::Running], status).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { actual, .. }) => {
                let status = InstanceStatus::parse(&actual).unwrap_or(row.status);
                Err(ControlError::InstanceState { id: row.id.clone(), status })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn spawn_delete(&self, row: InstanceRow) {
        let Some(plane) = self.self_arc() else { return };
        self.tasks.spawn(async move {
            // Not raced against shutdown: destroying is short and idempotent, and leaving
            // it half done only means the next start repeats it.
            let result = match plane.under_engine_lock(&row, EngineWork::Destroy).await {
                Ok(()) => plane.store.delete_instance(&row.id).await.map_err(Into::into),
                failed => failed,
            };
            match result {
                Ok(()) => tracing::info!(instance = %row.id, "instance deleted"),
                Err(e) => tracing::error!(instance = %row.id, error = %e, "deleting instance failed; retried at next start"),
            }
        });
    }

    /// `Running` → `Rebooting` → `Running`.
    pub async fn restart_instance(&self, caller: &Caller, id: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::RestartDBInstance, id).await?;
        self.transition_from_running(&row, InstanceStatus::Rebooting).await?;
        self.spawn_restart(row);
        Ok(())
    }

    pub(crate) fn spawn_restart(&self, row: InstanceRow) {
        let Some(plane) = self.self_arc() else { return };
        self.tasks.spawn(async move {
            let result = plane.under_engine_lock(&row, EngineWork::Restart).await;
            if let Err(e) = &result {
                tracing::error!(instance = %row.id, error = %e, "restart failed; the supervisor keeps trying to start it");
            }
            // Back to Running either way: the supervisor restarts a dead engine, and an
            // instance must never stay in a transient state.
            let _ = plane.store.transition_instance(&row.id, &[InstanceStatus::Rebooting], InstanceStatus::Running).await;
        });
    }

    /// Destroys or restarts the instance's engine, holding the instance's engine lock.
    async fn under_engine_lock(&self, row: &InstanceRow, work: EngineWork) -> Result<()> {
        let engine = self.engine_of(row)?;
        let spec = self.spec(row)?;
        if matches!(work, EngineWork::Destroy) {
            // The instance's backups outlive it; so does its log, up to its last moment,
            // for restores to any time until then.
            if let Err(e) = self.sweep_logs(row, true).await {
                tracing::warn!(instance = %row.id, error = %e, "could not archive the last of the instance's log before deleting it");
            }
        }
        let _engine = self.lock_engine(&row.id).await;
        match work {
            EngineWork::Destroy => engine.destroy(&spec).await?,
            EngineWork::Restart => engine.restart(&spec).await?,
        }
        Ok(())
    }

    /// Whether the engine of a row answers (for the supervisor).
    pub(crate) async fn liveness(&self, row: &InstanceRow) -> Result<Liveness> {
        Ok(self.engine_of(row)?.liveness(&self.spec(row)?).await)
    }

    /// Instance must be Running for a state-changing call on its contents.
    pub(crate) fn require_running(row: &InstanceRow) -> Result<()> {
        if row.status == InstanceStatus::Running {
            Ok(())
        } else {
            Err(state_error(row))
        }
    }
}

/// What a background task does to an instance's engine.
enum EngineWork {
    Destroy,
    Restart,
}
