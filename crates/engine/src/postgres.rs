//! The PostgreSQL adapter.

use std::path::PathBuf;

/// Where this host's PostgreSQL binaries are and which system user runs them.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// Directory with `initdb`, `pg_ctl`, `postgres` (e.g. `/usr/lib/postgresql/15/bin`).
    pub bin_dir: PathBuf,
    /// System user to run the server as when openrds runs as root (`postgres`).
    pub run_as: Option<String>,
}

pub struct PostgresEngine {
    pub config: PostgresConfig,
}
