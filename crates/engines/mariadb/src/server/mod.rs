//! The MariaDB adapter. Each instance is a server of its own under the directory it is
//! given:
//!
//! ```text
//! <dir>/            owned by openrds, 0711 (the instance's user passes through, cannot list)
//!   admin.json      the internal administrator's credentials, 0600, openrds only
//!   my.cnf          settings derived from the instance class; the only option file read
//!                   (root, readable by the instance's group only)
//!   data/           the datadir, owned by the instance's user, 0700
//!   run/            pid file and socket, owned by the instance's user (it cannot create
//!                   files in <dir> itself)
//!   tmp/            the server's tmpdir and secure_file_priv, owned by the instance's user
//!   binlog/         the binary log (`mariadb-bin.NNNNNN` and its index), owned by the
//!                   instance's user; closed files are moved to the backup area (binlog.rs)
//!   server.log      the server's error log, owned by the instance's user, 0600
//! ```
//!
//! When openrds runs as root, the server and its tools run confined to the instance: its
//! own system user, mount namespace and control groups (`engine::isolation`).
//!
//! Clients reach the server over TCP; the unix socket exists because mariadbd always
//! opens one, and gets a path of its own per instance so no two servers fight over the
//! system one. The adapter keeps no state beyond these files: a new adapter (after
//! openrds restarts) finds running servers through their pid files and the credentials
//! in `admin.json`.
//!
//! The internal administrator `openrds_admin@'%'` holds every privilege; it is made by a
//! bootstrap file on the first start. `root` only logs in through the socket as the
//! system user root, so it is no way in for anyone reaching the port.

mod access;
mod accounts;
mod backups;
mod binlog;
mod databases;
mod lifecycle;
mod logs;
mod parameters;
mod performance;
mod sql;

pub use sql::{ident, literal};

use engine::{
    Catalogue, Engine, EngineError, ErrorKind,
    InstanceSpec,
};
use async_trait::async_trait;
use std::path::PathBuf;

/// The internal administrator, made by the bootstrap file of the first start.
pub(crate) const ADMIN_USER: &str = "openrds_admin";
/// Databases every server has and no API call may list, create or drop.
pub(crate) const SYSTEM_DBS: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

/// Where this host's MariaDB binaries are and whether instances are confined.
#[derive(Debug, Clone)]
pub struct MariaDbConfig {
    /// Directory with `mariadb-install-db` (Debian: `/usr/bin`).
    pub bin_dir: PathBuf,
    /// Directory with `mariadbd` (Debian: `/usr/sbin`).
    pub sbin_dir: PathBuf,
    /// Each instance runs as a system user of its own, in its own namespace and control
    /// groups (needs root; mariadbd refuses to run as root anyway).
    pub isolate: bool,
}

impl MariaDbConfig {
    /// The Debian layout, or the directory named by `OPENRDS_MARIADB_BIN_DIR` holding
    /// both `mariadb-install-db` and `mariadbd`; instances are confined when openrds is
    /// root.
    pub fn detect() -> Result<MariaDbConfig, EngineError> {
        let (bin_dir, sbin_dir) = match std::env::var_os("OPENRDS_MARIADB_BIN_DIR") {
            Some(d) => {
                let dir = PathBuf::from(d);
                (dir.clone(), dir)
            }
            None => (PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")),
        };
        for tool in [bin_dir.join("mariadb-install-db"), sbin_dir.join("mariadbd")] {
            if !tool.is_file() {
                return Err(EngineError::new(
                    ErrorKind::HostSetup,
                    format!("no MariaDB server binaries: {} is missing; install mariadb-server or set OPENRDS_MARIADB_BIN_DIR", tool.display()),
                ));
            }
        }
        Ok(MariaDbConfig { bin_dir, sbin_dir, isolate: nix::unistd::geteuid().is_root() })
    }

    /// `major.minor` of the server binary, from `mariadbd --version`.
    fn version(&self) -> Option<String> {
        let out = std::process::Command::new(self.sbin_dir.join("mariadbd")).arg("--version").output().ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    }
}

/// `mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64` → `10.11`.
fn parse_version(version_output: &str) -> Option<String> {
    let mut words = version_output.split_whitespace();
    words.find(|w| *w == "Ver")?;
    let mut parts = words.next()?.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

pub struct MariaDbEngine {
    pub config: MariaDbConfig,
    version: Option<String>,
}

impl MariaDbEngine {
    pub fn new(config: MariaDbConfig) -> MariaDbEngine {
        let version = config.version();
        MariaDbEngine { config, version }
    }

    fn install_db(&self) -> PathBuf {
        self.config.bin_dir.join("mariadb-install-db")
    }

    fn server_bin(&self) -> PathBuf {
        self.config.sbin_dir.join("mariadbd")
    }
}

#[async_trait]
impl Engine for MariaDbEngine {
    fn catalogue(&self) -> &'static Catalogue {
        &crate::CATALOGUE
    }

    fn copier(&self) -> std::sync::Arc<dyn mover::Copier> {
        std::sync::Arc::new(crate::MariaDbCopier)
    }

    fn versions(&self) -> Vec<String> {
        self.version.clone().into_iter().collect()
    }

    async fn disk_used(&self, spec: &InstanceSpec) -> Result<u64, EngineError> {
        databases::user_data_bytes(spec)
    }

    fn parameters(&self) -> Option<&dyn engine::parameters::Parameters> {
        Some(self)
    }

    async fn error_log(&self, spec: &InstanceSpec, from_ms: i64, to_ms: i64) -> Result<Vec<engine::ErrorLogEntry>, EngineError> {
        let path = engine::instance_dir::log_file(spec);
        let text = engine::backup::blocking(move || engine::log_tail(&path)).await?;
        Ok(logs::errors(&text, from_ms, to_ms, logs::host_local))
    }

    async fn slow_log(&self, spec: &InstanceSpec, from_ms: i64, to_ms: i64) -> Result<Vec<engine::SlowQuery>, EngineError> {
        let path = lifecycle::slow_log_file(spec);
        let text = engine::backup::blocking(move || engine::log_tail(&path)).await?;
        Ok(logs::slow_queries(&text, from_ms, to_ms))
    }

    async fn performance(&self, spec: &InstanceSpec) -> Result<engine::PerformanceSample, EngineError> {
        self.performance_sample(spec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_the_server_banner() {
        assert_eq!(parse_version("mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)\n"), Some("10.11".into()));
        assert_eq!(parse_version("mysqld  Ver 11.4.2-MariaDB for Linux"), Some("11.4".into()));
        assert_eq!(parse_version("something else"), None);
    }
}
