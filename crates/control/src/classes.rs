//! The instance class catalogue. A class code names an engine, a family and a size; the
//! size drives the engine's settings. Lookups are by table, never by parsing codes
//! (shared/reference/rds-api.md §6).

use engine::{EngineKind, ServerSettings};

/// `DBInstanceClassType`: `x` general-purpose, `d` dedicated, `h` dedicated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    GeneralPurpose,
    Dedicated,
    DedicatedHost,
}

impl Family {
    pub fn code(self) -> &'static str {
        match self {
            Family::GeneralPurpose => "x",
            Family::Dedicated => "d",
            Family::DedicatedHost => "h",
        }
    }

    /// Families that may take part in ImportDatabaseBetweenInstances.
    pub fn allows_import(self) -> bool {
        matches!(self, Family::Dedicated | Family::DedicatedHost)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceClass {
    pub code: &'static str,
    pub engine: EngineKind,
    pub family: Family,
    pub cpu: u32,
    pub memory_mb: u64,
    pub max_connections: u32,
    pub max_iops: u32,
}

impl InstanceClass {
    pub fn settings(&self) -> ServerSettings {
        ServerSettings { memory_mb: self.memory_mb, cpu: self.cpu, max_connections: self.max_connections }
    }
}

const fn class(
    code: &'static str,
    engine: EngineKind,
    family: Family,
    cpu: u32,
    memory_mb: u64,
    max_connections: u32,
    max_iops: u32,
) -> InstanceClass {
    InstanceClass { code, engine, family, cpu, memory_mb, max_connections, max_iops }
}

use EngineKind::{MariaDB, PostgreSQL};
use Family::{Dedicated, DedicatedHost, GeneralPurpose};

/// Every class this service offers. Memory is what the class promises; buffers are sized
/// from it, so a small host can still run several large classes (pages are touched lazily).
pub const CATALOGUE: &[InstanceClass] = &[
    class("pg.n2.small.1", PostgreSQL, GeneralPurpose, 1, 1024, 100, 1000),
    class("pg.n2.medium.1", PostgreSQL, GeneralPurpose, 1, 2048, 200, 2000),
    class("pg.n4.medium.1", PostgreSQL, GeneralPurpose, 2, 4096, 400, 4000),
    class("pg.x4.large.2c", PostgreSQL, Dedicated, 4, 16384, 1600, 10000),
    class("pg.x8.xlarge.4c", PostgreSQL, Dedicated, 8, 65536, 3200, 20000),
    class("pg.x4.2xlarge.2h", PostgreSQL, DedicatedHost, 8, 32768, 3200, 20000),
    class("mariadb.n2.medium.1", MariaDB, GeneralPurpose, 1, 2048, 600, 2000),
    class("mariadb.x4.large.2c", MariaDB, Dedicated, 4, 16384, 2500, 10000),
    class("mariadb.x8.xlarge.4c", MariaDB, Dedicated, 8, 65536, 5000, 20000),
    class("mariadb.x4.2xlarge.2h", MariaDB, DedicatedHost, 8, 32768, 5000, 20000),
];

pub fn find(code: &str) -> Option<&'static InstanceClass> {
    CATALOGUE.iter().find(|c| c.code == code)
}

/// Storage range every class accepts, in GB, and its step.
pub const STORAGE_MIN_GB: i64 = 5;
pub const STORAGE_MAX_GB: i64 = 32000;
pub const STORAGE_STEP_GB: i64 = 5;
