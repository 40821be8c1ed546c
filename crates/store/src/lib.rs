//! Metadata persistence: accounts, access keys, RAM users and policies, instances, notes on
//! databases and accounts, events and seen signature nonces.
//!
//! Only this crate runs SQL on metadata. Everything goes through [`MetadataStore`], one
//! trait per aggregate (identity, RAM, instances, imports, events), so that the embedded
//! SQLite store can later be joined by a shared networked store for several control-plane
//! nodes. The SQLite store implements each trait next to its SQL (`sqlite/<aggregate>.rs`).
//! Every state change appends an [`Event`] in the same transaction.

pub mod model;
mod sqlite;

pub use model::*;
pub use sqlite::SqliteStore;
pub use sqlite::CHANGED_SINCE_READ;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to read, change or delete is not there.
    #[error("{0} not found")]
    NotFound(String),
    /// A row with the same key already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A compare-and-set on a status did not find the expected value.
    #[error("{subject} is {actual}, expected {expected}")]
    Conflict { subject: String, expected: String, actual: String },
    /// The database underneath failed; not the caller's fault.
    #[error("metadata store: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The one door to metadata, one trait per aggregate: who may call ([`IdentityStore`],
/// [`RamStore`]), instances and what hangs off them ([`InstanceStore`]), import tasks
/// ([`ImportStore`]), backups ([`BackupStore`]) and the event trail ([`EventStore`]). Implementations must be safe to
/// share between tasks and must make each method atomic (one transaction). Callers hold an
/// `Arc<dyn MetadataStore>` and bring the traits they use into scope (`store::prelude`).
pub trait MetadataStore: IdentityStore + RamStore + InstanceStore + ImportStore + BackupStore + EventStore + PerformanceStore + 'static {}

impl<T: IdentityStore + RamStore + InstanceStore + ImportStore + BackupStore + EventStore + PerformanceStore + 'static> MetadataStore for T {}

/// The store's traits, for `use store::prelude::*`.
pub mod prelude {
    pub use crate::{BackupStore, EventStore, IdentityStore, ImportStore, InstanceStore, MetadataStore, PerformanceStore, RamStore};
}

/// Accounts, their access keys and the signature nonces seen.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn create_account(&self, account: &Account) -> Result<()>;
    async fn get_account(&self, uid: &str) -> Result<Account>;
    async fn list_accounts(&self) -> Result<Vec<Account>>;

    /// Fails with `AlreadyExists` if the id is taken.
    async fn insert_access_key(&self, key: &AccessKey) -> Result<()>;
    async fn get_access_key(&self, id: &str) -> Result<AccessKey>;
    async fn list_access_keys(&self, principal: &Principal) -> Result<Vec<AccessKey>>;
    async fn set_access_key_status(&self, id: &str, status: AccessKeyStatus) -> Result<()>;
    async fn delete_access_key(&self, id: &str) -> Result<()>;

    /// Records a signature nonce for an access key. Returns `false` if it was already
    /// recorded and has not expired (a replay). Expired nonces may be purged at any time.
    async fn remember_nonce(&self, access_key_id: &str, nonce: &str, expires_at: DateTime<Utc>) -> Result<bool>;
}

/// RAM users, policies and their attachments.
#[async_trait]
pub trait RamStore: Send + Sync {
    async fn create_ram_user(&self, user: &RamUser) -> Result<()>;
    async fn get_ram_user(&self, account_uid: &str, user_name: &str) -> Result<RamUser>;
    async fn list_ram_users(&self, account_uid: &str) -> Result<Vec<RamUser>>;
    /// Deletes the user together with its access keys and policy attachments.
    async fn delete_ram_user(&self, account_uid: &str, user_name: &str) -> Result<()>;
    /// Deletes the user only if it holds no access key and no policy, checked in the same
    /// transaction (so a key created meanwhile is never deleted with it): `Conflict` with
    /// `expected` "no access keys" or "no policies" otherwise.
    async fn delete_unused_ram_user(&self, account_uid: &str, user_name: &str) -> Result<()>;

    async fn create_policy(&self, policy: &Policy) -> Result<()>;
    async fn get_policy(&self, account_uid: &str, policy_name: &str) -> Result<Policy>;
    async fn list_policies(&self, account_uid: &str) -> Result<Vec<Policy>>;
    async fn delete_policy(&self, account_uid: &str, policy_name: &str) -> Result<()>;
    /// Number of users a policy is attached to (a policy in use cannot be deleted).
    async fn count_policy_attachments(&self, account_uid: &str, policy_name: &str) -> Result<u64>;

    async fn attach_policy(&self, attachment: &PolicyAttachment) -> Result<()>;
    async fn detach_policy(&self, account_uid: &str, user_name: &str, policy_name: &str) -> Result<()>;
    /// The policies attached to a user, with their documents.
    async fn policies_for_user(&self, account_uid: &str, user_name: &str) -> Result<Vec<(PolicyAttachment, Policy)>>;
}

/// Instances, their security IP groups, and notes on their databases and accounts.
#[async_trait]
pub trait InstanceStore: Send + Sync {
    async fn insert_instance(&self, instance: &InstanceRow) -> Result<()>;
    async fn get_instance(&self, id: &str) -> Result<InstanceRow>;
    async fn list_instances(&self, filter: &InstanceFilter, page: Option<Page>) -> Result<Paged<InstanceRow>>;
    /// The same listing, shared rather than copied: an implementation that keeps recent
    /// listings hands out the one it holds (the API's DescribeDBInstances reads it).
    async fn list_instances_shared(&self, filter: &InstanceFilter, page: Option<Page>) -> Result<std::sync::Arc<Paged<InstanceRow>>> {
        Ok(std::sync::Arc::new(self.list_instances(filter, page).await?))
    }
    /// Every port recorded for any instance (to avoid handing one out twice).
    async fn used_ports(&self) -> Result<Vec<u16>>;
    /// Appends ModifyParameter's changes to the instance's log.
    async fn record_parameter_changes(&self, changes: &[ParameterChange]) -> Result<()>;
    /// The instance's parameter changes made in [`from`, `to`], newest first.
    async fn list_parameter_changes(&self, instance_id: &str, from: DateTime<Utc>, to: DateTime<Utc>, page: Option<Page>) -> Result<Paged<ParameterChange>>;
    /// The instance's whitelist groups, by name (none recorded: empty).
    async fn security_ip_groups(&self, instance_id: &str) -> Result<Vec<SecurityIpGroup>>;
    /// Replaces the instance's whitelist groups and sets its `security_ip_list` to their
    /// union, in one transaction.
    async fn set_security_ip_groups(&self, instance_id: &str, groups: &[SecurityIpGroup]) -> Result<()>;
    /// Sets the status only if it is currently one of `expected`; otherwise `Conflict`.
    /// Returns the row as it was before.
    async fn transition_instance(&self, id: &str, expected: &[InstanceStatus], new_status: InstanceStatus) -> Result<InstanceRow>;
    /// Overwrites the mutable fields of a row (status, description, port, storage, class,
    /// tags, ...).
    async fn update_instance(&self, instance: &InstanceRow) -> Result<()>;
    /// As `update_instance`, if the stored row is still in state `expected` and unchanged
    /// since `instance` was read (its `updated_at`): `Conflict` naming the state, or
    /// [`CHANGED_SINCE_READ`], if not. A change made from a copy never undoes one made since.
    async fn update_instance_if(&self, instance: &InstanceRow, expected: InstanceStatus) -> Result<()>;
    /// Removes the row and the notes that hang off it.
    async fn delete_instance(&self, id: &str) -> Result<()>;

    async fn put_database_note(&self, note: &DatabaseNote) -> Result<()>;
    async fn list_database_notes(&self, instance_id: &str) -> Result<Vec<DatabaseNote>>;
    async fn delete_database_note(&self, instance_id: &str, db_name: &str) -> Result<()>;
    async fn put_account_note(&self, note: &AccountNote) -> Result<()>;
    async fn list_account_notes(&self, instance_id: &str) -> Result<Vec<AccountNote>>;
    async fn delete_account_note(&self, instance_id: &str, account_name: &str) -> Result<()>;
}

/// Import tasks, begun and ended together with their instances' states.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Starts an import in one transaction: the source goes `Running` → `source_status`,
    /// the destination `Running` → `dest_status` (`Conflict` naming the instance if either
    /// is not Running), and the task row is inserted. Returns the new ImportId.
    async fn begin_import(&self, task: &ImportTaskRow, source_status: InstanceStatus, dest_status: InstanceStatus) -> Result<i64>;
    /// Starts a recovery (RecoveryDBInstance into an existing instance) in one transaction:
    /// the private server's row is inserted (`Creating`), the target goes `Running` →
    /// `Restoring` (`Conflict` if it is not Running) and the task that copies from the one
    /// into the other is inserted. Returns its id.
    async fn begin_recovery(&self, staging: &InstanceRow, task: &ImportTaskRow) -> Result<i64>;
    async fn get_import(&self, id: i64) -> Result<ImportTaskRow>;
    /// Newest first.
    async fn list_imports(&self, filter: &ImportFilter, page: Option<Page>) -> Result<Paged<ImportTaskRow>>;
    /// Overwrites the mutable fields (status, phase, attempts, error, progress, result,
    /// staging tag, started/finished times).
    async fn update_import(&self, task: &ImportTaskRow) -> Result<()>;
    /// Changes some fields of a task in one transaction, if its status and phase allow
    /// (see [`ImportChange`]); returns the task as changed.
    async fn change_import(&self, id: i64, change: &ImportChange) -> Result<ImportTaskRow>;
    /// Ends an import in one transaction: the task gets its final fields, and both
    /// instances go back to `Running` from whatever transient state the import gave them
    /// (a recovery's private server goes to `Deleting` instead).
    async fn end_import(&self, task: &ImportTaskRow) -> Result<()>;
    /// Tasks in `Pending`, `Running` or `Canceling`, oldest first.
    async fn unfinished_imports(&self) -> Result<Vec<ImportTaskRow>>;
    /// How many tasks are in each status (statuses with none left out).
    async fn import_counts(&self) -> Result<Vec<(ImportStatus, u64)>>;
}

/// Backup jobs and sets.
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Records a new job, unless the instance has one `Pending` or `Running` (`Conflict`,
    /// checked in the same transaction). Returns the new id.
    async fn begin_backup(&self, backup: &BackupRow) -> Result<i64>;
    async fn get_backup(&self, id: i64) -> Result<BackupRow>;
    /// Newest first.
    async fn list_backups(&self, filter: &BackupFilter, page: Option<Page>) -> Result<Paged<BackupRow>>;
    /// Overwrites the mutable fields (status, attempts, error, location, sizes, checksum,
    /// log range, times).
    async fn update_backup(&self, backup: &BackupRow) -> Result<()>;
    async fn delete_backup(&self, id: i64) -> Result<()>;
    /// Jobs `Pending` or `Running`, oldest first.
    async fn unfinished_backups(&self) -> Result<Vec<BackupRow>>;
    /// How many jobs and sets are in each status (statuses with none left out).
    async fn backup_counts(&self) -> Result<Vec<(BackupStatus, u64)>>;
    /// The instance's policy, if one was ever set.
    async fn get_backup_policy(&self, instance_id: &str) -> Result<Option<BackupPolicy>>;
    /// Sets the instance's policy (inserted or replaced).
    async fn put_backup_policy(&self, policy: &BackupPolicy) -> Result<()>;
}

/// The trail of state changes every write appends to.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn append_event(&self, subject: &str, kind: &str, detail: &str) -> Result<()>;
    async fn list_events(&self, subject_prefix: &str, limit: u32) -> Result<Vec<Event>>;
}

/// Performance samples of instances (DescribeDBInstancePerformance).
#[async_trait]
pub trait PerformanceStore: Send + Sync {
    async fn insert_performance_samples(&self, rows: &[PerformanceRow]) -> Result<()>;
    /// The samples of an instance taken in [`from`, `to`] and the last one before `from`,
    /// oldest first.
    async fn performance_samples(&self, instance_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<PerformanceRow>>;
    /// Deletes the samples taken before `before`; answers how many.
    async fn prune_performance_samples(&self, before: DateTime<Utc>) -> Result<u64>;
}
