//! The PostgreSQL adapter. Each instance is a cluster of its own under the directory it
//! is given:
//!
//! ```text
//! <dir>/            owned by openrds, 0711 (the instance's user passes through, cannot list)
//!   admin.json      the internal administrator's credentials, 0600, openrds only
//!   data/           PGDATA, owned by the instance's user, 0700
//!     openrds.conf  settings derived from the instance class, included by postgresql.conf
//!     openrds-parameters.conf  parameters set through the API, included after it
//!   server.log      the server's log, owned by the instance's user, 0600
//!   wal-archive/    finished WAL segments the archiver copied, owned by the instance's
//!                   user, 0700; openrds moves them to the backup area (`backups`)
//! ```
//!
//! When openrds runs as root, the server and its tools run confined to the instance: its
//! own system user, mount namespace and control groups (`engine::isolation`).
//!
//! Servers listen on TCP only (socket paths under deep data directories can exceed the
//! kernel's limit) and authenticate every login with scram-sha-256. The adapter keeps no
//! state of its own beyond these files: a new adapter (after openrds restarts) finds the
//! running servers through their pid files and the credentials in `admin.json`.
//!
//! The internal administrator `openrds_admin` is the cluster's bootstrap superuser; API
//! accounts never are superusers.

mod access;
mod accounts;
mod backups;
mod databases;
mod lifecycle;
mod logs;
mod parameters;
mod performance;
mod privileges;
mod sql;

pub use sql::{ident, literal};

use engine::{
    Catalogue, Engine, EngineError, ErrorKind,
    InstanceSpec,
};
use async_trait::async_trait;
use std::path::PathBuf;

/// The internal administrator, made by initdb as the bootstrap superuser.
pub(crate) const ADMIN_USER: &str = "openrds_admin";
/// The role of the privileged (`Super`) accounts: it owns every database made without an
/// owner of its own, and every Super account is a member (see `accounts`).
pub const TENANT_ADMIN: &str = "rds_superuser";
/// Databases every cluster has and no API call may list, create or drop.
pub(crate) const SYSTEM_DBS: &[&str] = &["postgres", "template0", "template1"];

/// Where this host's PostgreSQL binaries are and whether instances are confined.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Directory with `initdb`, `pg_ctl`, `postgres` (e.g. `/usr/lib/postgresql/15/bin`).
    pub bin_dir: PathBuf,
    /// Each instance runs as a system user of its own, in its own namespace and control
    /// groups (needs root; initdb and the server refuse to run as root anyway).
    pub isolate: bool,
}

impl PostgresConfig {
    /// The newest installed major version under `/usr/lib/postgresql` (or the directory
    /// named by `OPENRDS_PG_BIN_DIR`); instances are confined when openrds is root.
    pub fn detect() -> Result<PostgresConfig, EngineError> {
        let bin_dir = match std::env::var_os("OPENRDS_PG_BIN_DIR") {
            Some(d) => {
                let dir = PathBuf::from(d);
                if !has_server_tools(&dir) {
                    return Err(EngineError::new(
                        ErrorKind::HostSetup,
                        format!("OPENRDS_PG_BIN_DIR={} has no initdb and pg_ctl", dir.display()),
                    ));
                }
                dir
            }
            None => newest_under(std::path::Path::new("/usr/lib/postgresql"))?,
        };
        Ok(PostgresConfig { bin_dir, isolate: nix::unistd::geteuid().is_root() })
    }

    /// Major version of the binaries: from the Debian layout (`.../postgresql/15/bin`) or
    /// else from `postgres --version`.
    fn major(&self) -> Option<u32> {
        let from_path = self.bin_dir.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).and_then(|n| n.parse().ok());
        from_path.or_else(|| {
            let out = std::process::Command::new(self.bin_dir.join("postgres")).arg("--version").output().ok()?;
            parse_major(&String::from_utf8_lossy(&out.stdout))
        })
    }
}

fn has_server_tools(dir: &std::path::Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|t| dir.join(t).is_file())
}

fn newest_under(root: &std::path::Path) -> Result<PathBuf, EngineError> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        EngineError::new(
            ErrorKind::HostSetup,
            format!("no PostgreSQL server binaries: cannot read {} ({e}); install postgresql or set OPENRDS_PG_BIN_DIR", root.display()),
        )
    })?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_server_tools(bin))
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
        .ok_or_else(|| {
            EngineError::new(
                ErrorKind::HostSetup,
                format!("no PostgreSQL server binaries (initdb, pg_ctl) under {}; install postgresql or set OPENRDS_PG_BIN_DIR", root.display()),
            )
        })
}

/// `postgres (PostgreSQL) 15.14 (Debian 15.14-1.pgdg120+1)` → 15.
fn parse_major(version_output: &str) -> Option<u32> {
    let mut words = version_output.split_whitespace();
    words.find(|w| *w == "(PostgreSQL)")?;
    words.next()?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

pub struct PostgresEngine {
    pub config: PostgresConfig,
    major: Option<u32>,
}

impl PostgresEngine {
    pub fn new(config: PostgresConfig) -> PostgresEngine {
        let major = config.major();
        PostgresEngine { config, major }
    }

    fn bin(&self, tool: &str) -> PathBuf {
        self.config.bin_dir.join(tool)
    }
}

#[async_trait]
impl Engine for PostgresEngine {
    fn catalogue(&self) -> &'static Catalogue {
        &crate::CATALOGUE
    }

    fn copier(&self) -> std::sync::Arc<dyn mover::Copier> {
        std::sync::Arc::new(crate::PostgresCopier { tool_dir: self.config.bin_dir.clone() })
    }

    fn versions(&self) -> Vec<String> {
        self.major.map(|m| vec![format!("{m}.0")]).unwrap_or_default()
    }

    async fn disk_used(&self, spec: &InstanceSpec) -> Result<u64, EngineError> {
        self.database_sizes(spec).await
    }

    fn parameters(&self) -> Option<&dyn engine::parameters::Parameters> {
        Some(self)
    }

    async fn error_log(&self, spec: &InstanceSpec, from_ms: i64, to_ms: i64) -> Result<Vec<engine::ErrorLogEntry>, EngineError> {
        let path = engine::instance_dir::log_file(spec);
        let text = engine::backup::blocking(move || engine::log_tail(&path)).await?;
        Ok(logs::errors(&text, from_ms, to_ms))
    }

    async fn slow_log(&self, spec: &InstanceSpec, from_ms: i64, to_ms: i64) -> Result<Vec<engine::SlowQuery>, EngineError> {
        let path = engine::instance_dir::log_file(spec);
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
    fn major_version_from_the_server_banner() {
        assert_eq!(parse_major("postgres (PostgreSQL) 15.14 (Debian 15.14-1.pgdg120+1)\n"), Some(15));
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta2\n"), Some(17));
        assert_eq!(parse_major("something else"), None);
    }

    #[test]
    fn newest_major_with_server_tools_wins() {
        let root = tempfile::tempdir().unwrap();
        for (major, tools) in [("13", true), ("16", true), ("17", false), ("notaversion", true)] {
            let bin = root.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            if tools {
                for t in ["initdb", "pg_ctl", "postgres"] {
                    std::fs::write(bin.join(t), "").unwrap();
                }
            }
        }
        assert_eq!(newest_under(root.path()).unwrap(), root.path().join("16/bin"));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(newest_under(empty.path()).unwrap_err().kind, ErrorKind::HostSetup);
        assert_eq!(newest_under(&empty.path().join("absent")).unwrap_err().kind, ErrorKind::HostSetup);
    }
}
