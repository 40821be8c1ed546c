//! Rows of the metadata store. Plain data: the store persists them, `control` gives them
//! meaning. Timestamps are UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A state kept as text (in the store's columns, and as the API spells it): the variant's
/// name is its text. `as_str` and `parse` are the only conversions, used at the store's
/// and the wire's edges.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the text the API shows (in tests and assertions).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

text_enum! {
    /// `DBInstanceStatus`.
    InstanceStatus {
        /// Provisioning; ends `Running`, or the row is removed if it failed.
        Creating,
        Running,
        Deleting,
        /// Restarting (RestartDBInstance, or the supervisor after the engine died).
        Rebooting,
        /// The source of an import in progress.
        Migrating,
        /// The destination of an import in progress.
        Importing,
        /// Databases are being restored into it from a backup (RecoveryDBInstance).
        Restoring,
        /// StopDBInstance: the engine is being stopped.
        Stopping,
        /// Stopped (StopDBInstance) until StartDBInstance; the supervisor leaves it so.
        Stopped,
        /// ModifyDBInstanceSpec: the new class's settings are being applied.
        DBInstanceClassChanging,
    }
}

text_enum! {
    /// The status of an import task.
    ImportStatus {
        Pending,
        Running,
        /// CancelImport was called; the task is undoing its copy.
        Canceling,
        Success,
        Failed,
        Canceled,
    }
}

impl ImportStatus {
    /// Whether the task has ended (it never changes again).
    pub fn is_terminal(self) -> bool {
        matches!(self, ImportStatus::Success | ImportStatus::Failed | ImportStatus::Canceled)
    }
}

text_enum! {
    /// What an import task is doing: before its copy (`Queued`, `Starting`), the copy's
    /// own phases, and how it ended.
    ImportPhase {
        Queued,
        /// A recovery's backup is being restored into the private server it copies from.
        Restoring,
        Starting,
        Pending,
        Planning,
        Schema,
        Data,
        PostData,
        /// Verified and past the publish gate: the copy may have published (recorded
        /// durably before the publishing transaction).
        Publishing,
        Done,
        Failed,
        Canceled,
    }
}

/// A tenant. Every instance, RAM user and policy belongs to exactly one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Numeric account id as Alibaba shows it (16 digits), used in ARNs.
    pub uid: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Who an access key acts as: the account itself (root) or one of its RAM users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    Root { account_uid: String },
    User { account_uid: String, user_name: String },
}

impl Principal {
    pub fn account_uid(&self) -> &str {
        match self {
            Principal::Root { account_uid } | Principal::User { account_uid, .. } => account_uid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    /// The shared secret. It leaves the store only to verify signatures and once, in the
    /// response of CreateAccessKey; never log it.
    pub secret: String,
    pub principal: Principal,
    pub status: AccessKeyStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RamUser {
    pub account_uid: String,
    pub user_name: String,
    /// Opaque numeric id shown by the RAM API as `UserId`.
    pub user_id: String,
    pub display_name: String,
    pub comments: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub account_uid: String,
    pub policy_name: String,
    /// `Custom` for policies created through CreatePolicy.
    pub policy_type: String,
    /// The policy document as the caller sent it (JSON text).
    pub document: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAttachment {
    pub account_uid: String,
    pub user_name: String,
    pub policy_name: String,
    pub policy_type: String,
    pub attached_at: DateTime<Utc>,
}

text_enum! {
    /// The status of a backup job, and of the backup set it makes (`BackupStatus`).
    BackupStatus {
        /// Recorded, not started (`NoStart` on the wire).
        Pending,
        Running,
        Success,
        Failed,
    }
}

impl BackupStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, BackupStatus::Success | BackupStatus::Failed)
    }
}

text_enum! {
    /// Who asked for a backup (`BackupMode`).
    BackupMode {
        /// The instance's backup policy, on its schedule.
        Automated,
        /// CreateBackup.
        Manual,
    }
}

/// A provisioned database server. The engine owns what runs; this row owns what the API
/// promised (class, storage quota, state) and where the server lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRow {
    /// e.g. `pgm-2ze8x0b9c1d2e3f4g5`.
    pub id: String,
    pub account_uid: String,
    pub region_id: String,
    pub zone_id: String,
    /// The engine's canonical API name, from its catalogue.
    pub engine: String,
    pub engine_version: String,
    pub class_code: String,
    pub storage_gb: i64,
    pub storage_type: String,
    /// `DBInstanceStatus` as the API shows it (`Creating`, `Running`, ...).
    pub status: InstanceStatus,
    pub description: String,
    pub pay_type: String,
    pub category: String,
    pub net_type: String,
    pub network_type: String,
    pub security_ip_list: String,
    /// Address the engine listens on and clients connect to.
    pub host: String,
    pub port: u16,
    /// Directory holding the engine's files (data, config, socket, admin credentials).
    pub data_dir: String,
    /// Tags as key → value.
    pub tags: Vec<(String, String)>,
    /// The backup the instance was made from (CloneDBInstance), if any.
    pub restored_from: Option<i64>,
    /// With `restored_from`: the moment the backup's log was replayed to.
    pub restored_until: Option<DateTime<Utc>>,
    /// What RecoveryDBInstance made this instance for, if it did.
    pub recovery: Option<RecoveryRole>,
    /// DeleteDBInstance is refused while set (ModifyDBInstanceDeletionProtection).
    pub deletion_protection: bool,
    /// The maintenance window, `HH:mmZ-HH:mmZ` (UTC).
    pub maintain_time: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The maintenance window of a new instance (Alibaba's default, 02:00-06:00 UTC).
pub const DEFAULT_MAINTAIN_TIME: &str = "02:00Z-06:00Z";

/// Why RecoveryDBInstance made an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecoveryRole {
    /// A private server restored from a backup, from which databases are copied into the
    /// instance `target`: no caller sees it, and it is deleted once the copy has ended.
    Staging { target: String },
    /// A new instance restored from a backup that keeps only these databases.
    KeepOnly { databases: Vec<String> },
}

impl InstanceRow {
    /// Whether only openrds sees the instance (a recovery's private server).
    pub fn is_private(&self) -> bool {
        matches!(self.recovery, Some(RecoveryRole::Staging { .. }))
    }

    /// A Running 20 GB instance on loopback with typical values and no server behind it,
    /// for tests and benchmarks of what only reads and writes rows.
    pub fn sample(id: &str, account_uid: &str, at: DateTime<Utc>) -> InstanceRow {
        InstanceRow {
            id: id.into(),
            account_uid: account_uid.into(),
            region_id: "cn-hangzhou".into(),
            zone_id: "cn-hangzhou-h".into(),
            engine: "EngineA".into(),
            engine_version: "15.0".into(),
            class_code: "a.x4.large.2c".into(),
            storage_gb: 20,
            storage_type: "local_ssd".into(),
            status: InstanceStatus::Running,
            description: String::new(),
            pay_type: "Postpaid".into(),
            category: "Basic".into(),
            net_type: "Intranet".into(),
            network_type: "VPC".into(),
            security_ip_list: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
            port: 0,
            data_dir: format!("/nonexistent/{id}"),
            tags: vec![],
            restored_from: None,
            restored_until: None,
            recovery: None,
            deletion_protection: false,
            maintain_time: DEFAULT_MAINTAIN_TIME.into(),
            created_at: at,
            updated_at: at,
        }
    }
}

text_enum! {
    /// Whether a parameter change was in effect when it was made.
    ParameterChangeStatus {
        Applied,
        /// Waiting for a restart of the instance.
        Unapplied,
    }
}

/// One parameter changed by ModifyParameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterChange {
    pub id: i64,
    pub instance_id: String,
    pub name: String,
    pub old_value: String,
    pub new_value: String,
    pub status: ParameterChangeStatus,
    pub created_at: DateTime<Utc>,
}

/// What the API remembers about a database beyond what the engine knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseNote {
    pub instance_id: String,
    pub db_name: String,
    pub description: String,
}

/// What the API remembers about a database account beyond what the engine knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountNote {
    pub instance_id: String,
    pub account_name: String,
    /// `Normal` or `Super`.
    pub account_type: String,
    pub description: String,
}

/// An append-only audit row written with every state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// e.g. `dbinstance/pgm-...`, `ram/user/alice`.
    pub subject: String,
    /// e.g. `StatusChanged`, `Created`, `Deleted`.
    pub kind: String,
    /// Free-form JSON detail; never a secret.
    pub detail: String,
}

/// Filters for listing instances. `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub account_uid: Option<String>,
    pub region_id: Option<String>,
    pub ids: Option<Vec<String>>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub status: Option<InstanceStatus>,
    pub class_code: Option<String>,
    /// Matches a substring of the id or the description.
    pub search_key: Option<String>,
    /// Also the private servers of recoveries (only openrds's own loops ask for them).
    pub with_private: bool,
}

/// A page request: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// An ImportDatabaseBetweenInstances task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportTaskRow {
    /// `ImportId`; assigned by the store on insert (0 before).
    pub id: i64,
    pub account_uid: String,
    pub source_id: String,
    pub dest_id: String,
    pub engine: String,
    /// (source name, destination name) pairs.
    pub db_names: Vec<(String, String)>,
    pub status: ImportStatus,
    pub phase: ImportPhase,
    pub attempts: i64,
    pub error: String,
    /// Latest progress snapshot (JSON), empty if none yet.
    pub progress: String,
    /// Final report (JSON), empty until the task ends.
    pub result: String,
    /// Names this task's staging databases, so recovery can find and drop them.
    pub staging_tag: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ImportTaskRow {
    /// A task as ImportDatabaseBetweenInstances records it: Pending, Queued, no attempt
    /// yet, no id (the store assigns it) and no staging tag (the first attempt sets it).
    pub fn queued(account_uid: &str, source_id: &str, dest_id: &str, engine: &str, db_names: Vec<(String, String)>, now: DateTime<Utc>) -> ImportTaskRow {
        ImportTaskRow {
            id: 0,
            account_uid: account_uid.into(),
            source_id: source_id.into(),
            dest_id: dest_id.into(),
            engine: engine.into(),
            db_names,
            status: ImportStatus::Pending,
            phase: ImportPhase::Queued,
            attempts: 0,
            error: String::new(),
            progress: String::new(),
            result: String::new(),
            staging_tag: String::new(),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }
    }
}

/// A change to some fields of an import task, applied atomically by
/// [`crate::MetadataStore::change_import`]: writers that own different fields (the
/// progress writer, CancelImport, the publish gate) never overwrite each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportChange {
    /// The change applies only if the task's status is one of these (empty: any);
    /// otherwise it is a `Conflict` and nothing changes.
    pub status_in: Vec<ImportStatus>,
    /// The change applies only if the task's phase is not this one.
    pub phase_not: Option<ImportPhase>,
    pub status: Option<ImportStatus>,
    pub phase: Option<ImportPhase>,
    pub progress: Option<String>,
    pub result: Option<String>,
}

/// Filters for listing import tasks; `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFilter {
    pub account_uid: Option<String>,
    /// Tasks where this instance is the source or the destination.
    pub instance_id: Option<String>,
    pub import_id: Option<i64>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
}

/// A backup job and the backup set it makes (one row: `BackupJobId` = `BackupId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRow {
    /// Assigned by the store on insert (0 before).
    pub id: i64,
    pub account_uid: String,
    pub instance_id: String,
    pub region_id: String,
    /// The instance's engine, version, class and storage when it was backed up: a clone
    /// made after the instance is gone still knows them.
    pub engine: String,
    pub engine_version: String,
    pub class_code: String,
    pub storage_gb: i64,
    pub mode: BackupMode,
    pub status: BackupStatus,
    pub attempts: i64,
    pub error: String,
    /// The backup's directory.
    pub location: String,
    pub size_bytes: i64,
    pub bytes_done: i64,
    pub bytes_expected: i64,
    /// SHA-256 of the backup's manifest.
    pub checksum: String,
    /// A restore from the set holds every transaction committed before this.
    pub consistent_at: Option<DateTime<Utc>>,
    /// Where in the server's log the set starts and ends (engine terms).
    pub log_start: String,
    pub log_end: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl BackupRow {
    /// A job as it is recorded: Pending, no attempt yet, no id (the store assigns it), of
    /// `instance` as it is now.
    pub fn queued(instance: &InstanceRow, mode: BackupMode, now: DateTime<Utc>) -> BackupRow {
        BackupRow {
            id: 0,
            account_uid: instance.account_uid.clone(),
            instance_id: instance.id.clone(),
            region_id: instance.region_id.clone(),
            engine: instance.engine.clone(),
            engine_version: instance.engine_version.clone(),
            class_code: instance.class_code.clone(),
            storage_gb: instance.storage_gb,
            mode,
            status: BackupStatus::Pending,
            attempts: 0,
            error: String::new(),
            location: String::new(),
            size_bytes: 0,
            bytes_done: 0,
            bytes_expected: 0,
            checksum: String::new(),
            consistent_at: None,
            log_start: String::new(),
            log_end: String::new(),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }
    }
}

/// An instance's backup policy (DescribeBackupPolicy, ModifyBackupPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPolicy {
    pub instance_id: String,
    pub account_uid: String,
    /// `HH:mmZ-HH:mmZ` (UTC).
    pub preferred_time: String,
    /// Comma-separated weekdays.
    pub preferred_period: String,
    pub retention_days: i64,
    pub log_backup: bool,
    pub log_retention_days: i64,
    pub updated_at: DateTime<Utc>,
}

/// Filters for listing backups; `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupFilter {
    pub account_uid: Option<String>,
    pub instance_id: Option<String>,
    pub backup_id: Option<i64>,
    pub status: Option<Vec<BackupStatus>>,
    pub mode: Option<BackupMode>,
    /// Started at or after / at or before.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One whitelist group of an instance (ModifySecurityIps' `DBInstanceIPArrayName`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityIpGroup {
    pub name: String,
    /// Comma-separated IPv4 addresses and CIDR blocks.
    pub ips: String,
    pub attribute: String,
    pub ip_type: String,
    pub network_type: String,
}

/// One sample of an instance's performance counters (DescribeDBInstancePerformance), as
/// its engine reported them: counters cumulative, gauges the value at `sampled_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerformanceRow {
    pub instance_id: String,
    pub sampled_at: DateTime<Utc>,
    pub cpu_usec: i64,
    pub memory_bytes: i64,
    pub total_sessions: i64,
    pub active_sessions: i64,
    pub queries: i64,
    pub transactions: i64,
    pub io_reads: i64,
    pub io_writes: i64,
    pub bytes_received: i64,
    pub bytes_sent: i64,
    pub rows_read: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_deleted: i64,
    pub com_select: i64,
    pub com_insert: i64,
    pub com_insert_select: i64,
    pub com_update: i64,
    pub com_delete: i64,
    pub com_replace: i64,
    pub com_replace_select: i64,
    pub data_bytes: i64,
    pub other_bytes: i64,
}
