//! Accepting an import: every precondition, then the task row and the instances' states.

use wire::Action;
use store::InstanceStatus;
use super::*;

impl ControlPlane {
    /// Validates and starts an import; returns the ImportId. With `dry_run`, runs every
    /// check of the real call and returns `None`: no task, no state change, no copy.
    pub async fn start_import(&self, caller: &Caller, dest_id: &str, source_id: &str, db_info: &str, dry_run: bool) -> Result<Option<i64>> {
        let names = dbinfo::parse(db_info)?;
        if dest_id == source_id {
            return Err(ControlError::invalid(
                "SourceDBInstanceId",
                format!("the source instance {source_id} is also the destination (DBInstanceId); they must differ"),
            ));
        }
        let dest = self.owned_instance(caller, dest_id).await?;
        let source = self.owned_instance(caller, source_id).await?;
        for row in [&dest, &source] {
            let arn = iam::rds_instance_arn(&row.region_id, &row.account_uid, &row.id);
            self.authorize(caller, Action::ImportDatabaseBetweenInstances, &arn, &row.tags).await?;
        }
        self.check_engines(&source, &dest)?;
        // The engine's own reserved and system names (template1, mysql, ...) are refused
        // before anything is copied, with CreateDatabase's code.
        let catalogue = self.engine_of(&dest)?.catalogue();
        dbinfo::check_names(catalogue, &names)?;
        for row in [&source, &dest] {
            let class = catalogue.class(&row.class_code).ok_or_else(|| ControlError::Internal(format!("unknown class {}", row.class_code)))?;
            if !class.family.allows_import() {
                return Err(ControlError::IncorrectInstanceType(format!(
                    "Instance {} has class {} of the general-purpose family ({}); ImportDatabaseBetweenInstances needs dedicated (d) or dedicated-host (h) classes.",
                    row.id,
                    row.class_code,
                    class.family.code()
                )));
            }
        }
        for row in [&source, &dest] {
            if row.status != InstanceStatus::Running {
                return Err(ControlError::IncorrectInstanceState(format!(
                    "Instance {} is {}; both instances must be Running and in no other import.",
                    row.id, row.status
                )));
            }
        }
        let engine = self.engine_of(&source)?.clone();
        let (src_spec, dst_spec) = (self.spec(&source)?, self.spec(&dest)?);
        let source_dbs = engine.list_databases(&src_spec).await?;
        let source_staging = self.live_staging_prefixes(&source.id).await?;
        let dest_dbs = engine.list_databases(&dst_spec).await?;
        let mut source_bytes = 0u64;
        let mut replaced_bytes = 0u64;
        for (src, dst) in &names {
            let Some(db) = source_dbs.iter().find(|d| &d.name == src && !source_staging.iter().any(|p| src.starts_with(p.as_str()))) else {
                return Err(ControlError::DbNotFound(format!("The database {src} does not exist on the source instance {}.", source.id)));
            };
            source_bytes += db.size_bytes;
            if let Some(existing) = dest_dbs.iter().find(|d| &d.name == dst) {
                let objects = engine.user_object_count(&dst_spec, dst).await?;
                if objects > 0 {
                    return Err(ControlError::DbDuplicate(format!(
                        "The database {dst} already exists on the destination instance {} and holds {objects} user object(s); drop it or choose another name.",
                        dest.id
                    )));
                }
                replaced_bytes += existing.size_bytes;
            }
        }
        self.check_storage(&dest, &dst_spec, source_bytes, replaced_bytes).await?;
        if dry_run {
            return Ok(None);
        }

        let now = Utc::now();
        let task = ImportTaskRow::queued(caller.account_uid(), &source.id, &dest.id, &source.engine, names, now);
        let id = match self.store.begin_import(&task, InstanceStatus::Migrating, InstanceStatus::Importing).await {
            Ok(id) => id,
            Err(StoreError::Conflict { subject, actual, .. }) => {
                return Err(ControlError::IncorrectInstanceState(format!(
                    "{subject} is {actual}; both instances must be Running and in no other import."
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let task = self.store.get_import(id).await?;
        tracing::info!(import_id = id, source = %task.source_id, dest = %task.dest_id, "import accepted");
        failpoint("after_accept");
        self.spawn_import(task);
        Ok(Some(id))
    }

    pub(super) fn storage_capacity(&self, dest: &InstanceRow) -> u64 {
        dest.storage_gb.max(0) as u64 * self.config.storage_unit_bytes
    }

    async fn check_storage(&self, dest: &InstanceRow, spec: &InstanceSpec, source_bytes: u64, replaced_bytes: u64) -> Result<()> {
        let engine = self.engine_of(dest)?;
        let used = engine.disk_used(spec).await?;
        let capacity = self.storage_capacity(dest);
        let needed = used.saturating_sub(replaced_bytes) + source_bytes;
        if needed >= capacity {
            return Err(ControlError::DbSizeExceeded(format!(
                "The destination instance {} has {} GB of storage, {:.2} GB used; the import needs {:.2} GB more. Choose a larger DBInstanceStorage or import fewer databases.",
                dest.id,
                dest.storage_gb,
                used as f64 / self.config.storage_unit_bytes as f64,
                source_bytes as f64 / self.config.storage_unit_bytes as f64
            )));
        }
        let free = host_free_bytes(&spec.dir)?;
        // An engine that logs for point-in-time restores writes the copy twice on this
        // host until its log is archived (MariaDB's row log holds every copied row).
        let host_bytes = if engine.archives_logs() { source_bytes.saturating_mul(2) } else { source_bytes };
        if host_bytes >= free {
            return Err(ControlError::DbSizeExceeded(format!(
                "The host filesystem under instance {} has {:.2} GB free; the import needs {:.2} GB (the data and its log).",
                dest.id,
                free as f64 / GIB as f64,
                host_bytes as f64 / GIB as f64
            )));
        }
        Ok(())
    }
}

impl ControlPlane {
    /// Both instances run the same engine (every engine brings a copier), the
    /// destination's major version at least the source's.
    fn check_engines(&self, source: &InstanceRow, dest: &InstanceRow) -> Result<()> {
        let (s, d) = (self.engine_of(source)?.kind(), self.engine_of(dest)?.kind());
        if s != d {
            return Err(ControlError::EngineTypeNotSupported(format!(
                "The source {} runs {} and the destination {} runs {}; both must run the same engine.",
                source.id, source.engine, dest.id, dest.engine
            )));
        }
        if major(&dest.engine_version) < major(&source.engine_version) {
            return Err(ControlError::EngineTypeNotSupported(format!(
                "The destination {} runs {} {}, older than the source's {}; the destination's major version must be the same or newer.",
                dest.id, dest.engine, dest.engine_version, source.engine_version
            )));
        }
        Ok(())
    }
}

fn host_free_bytes(dir: &std::path::Path) -> Result<u64> {
    // The instance directory may be gone or unreadable to us; its parent is ours.
    let probe = if dir.exists() { dir } else { dir.parent().unwrap_or(dir) };
    let stat = nix::sys::statvfs::statvfs(probe).map_err(|e| ControlError::Internal(format!("statvfs {}: {e}", probe.display())))?;
    Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

pub(crate) fn major(version: &str) -> u32 {
    version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_are_compared_by_their_first_number() {
        assert_eq!((major("15.0"), major("15"), major("10.11")), (15, 15, 10));
    }
}
