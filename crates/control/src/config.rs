use crate::{ControlError, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A region this node serves and its zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub id: String,
    pub local_name: String,
    pub zones: Vec<String>,
}

/// How the control plane runs. Built by the binary from flags and environment.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Root of everything this node keeps: metadata, credentials, instances.
    pub data_dir: PathBuf,
    /// Address engines listen on and clients are told to connect to.
    pub engine_host: String,
    /// Ports handed to new instances, inclusive.
    pub port_range: (u16, u16),
    /// Regions served; the first is the default.
    pub regions: Vec<Region>,
    /// Root key given by the operator (`OPENRDS_ACCESS_KEY_ID`/`_SECRET`); otherwise one
    /// is generated on first start into `<data_dir>/credentials`.
    pub root_key: Option<(String, String)>,
    /// How often the supervisor checks that running engines are alive.
    pub supervise_every: Duration,
    /// The endpoint written into the generated credentials file, for the CLI.
    pub advertised_endpoint: String,
    /// Bytes in one unit of `DBInstanceStorage` (1 GiB). Tests shrink it to reach a
    /// storage quota with megabytes of data.
    pub storage_unit_bytes: u64,
    /// How imports verify each table (`OPENRDS_IMPORT_VERIFICATION`).
    pub import_verification: mover::Verification,
    /// Where backups are kept (`--backup-dir`); `<data_dir>/backups` when not set. Backups
    /// outlive their instances, so never below an instance's directory.
    pub backup_dir: Option<PathBuf>,
    /// How often each running instance's performance counters are sampled
    /// (`--performance-sample-secs`, a minute by default, as Alibaba's default
    /// monitoring frequency).
    pub performance_sample_every: Duration,
    /// How long performance samples are kept (`--performance-retention-days`, 7 days).
    pub performance_retention: Duration,
}

impl ControlConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ControlConfig {
            data_dir: data_dir.into(),
            engine_host: "127.0.0.1".into(),
            port_range: (15432, 16431),
            regions: vec![Region {
                id: "cn-hangzhou".into(),
                local_name: "China (Hangzhou)".into(),
                zones: vec!["cn-hangzhou-h".into()],
            }],
            root_key: None,
            supervise_every: Duration::from_secs(10),
            advertised_endpoint: "127.0.0.1:8080".into(),
            storage_unit_bytes: 1 << 30,
            import_verification: mover::Verification::default(),
            backup_dir: None,
            performance_sample_every: Duration::from_secs(60),
            performance_retention: Duration::from_secs(7 * 86_400),
        }
    }

    pub fn instances_dir(&self) -> PathBuf {
        self.data_dir.join("instances")
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.backup_dir.clone().unwrap_or_else(|| self.data_dir.join("backups"))
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.data_dir.join("credentials")
    }

    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// Engine tools run from `/` as another user, so a relative data directory would point
    /// elsewhere for them: make it absolute once, at start.
    pub(crate) fn absolutize(&mut self) -> Result<()> {
        self.data_dir = std::path::absolute(&self.data_dir)
            .map_err(|e| ControlError::Internal(format!("resolve {}: {e}", self.data_dir.display())))?;
        if let Some(dir) = &self.backup_dir {
            self.backup_dir = Some(std::path::absolute(dir).map_err(|e| ControlError::Internal(format!("resolve {}: {e}", dir.display())))?);
        }
        Ok(())
    }

    /// Creates the data directory tree. The engines' system users must be able to pass
    /// through it to their own directories, so it is made traversable (0711), never
    /// listable or readable.
    pub(crate) fn prepare_dirs(&self) -> Result<()> {
        for dir in [self.data_dir.as_path(), &self.instances_dir()] {
            std::fs::create_dir_all(dir)
                .map_err(|e| ControlError::Internal(format!("create {}: {e}", dir.display())))?;
            set_mode(dir, 0o711)?;
        }
        // Backups hold every byte of every instance and its administrator's password:
        // openrds's alone.
        let backups = self.backups_dir();
        std::fs::create_dir_all(&backups).map_err(|e| ControlError::Internal(format!("create {}: {e}", backups.display())))?;
        set_mode(&backups, 0o700)?;
        Ok(())
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ControlError::Internal(format!("chmod {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: `serve --data-dir ./openrds-data` made initdb look for its files
    // relative to `/`, so every CreateDBInstance failed.
    #[test]
    fn a_relative_data_dir_becomes_absolute() {
        let mut c = ControlConfig::new("./openrds-data");
        c.absolutize().unwrap();
        assert!(c.data_dir.is_absolute());
        assert!(c.instances_dir().is_absolute());
    }
}
