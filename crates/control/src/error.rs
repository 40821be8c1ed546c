//! The domain's errors. Each variant is one thing a caller can act on; the server maps
//! them to wire codes in one place (`server::error`).

use engine::{EngineError, ErrorKind};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A parameter is well formed on the wire but not acceptable here.
    #[error("The specified parameter {name} is not valid: {reason}")]
    InvalidParameter { name: String, reason: String },
    #[error("{0}")]
    RegionNotFound(String),
    #[error("{0}")]
    EngineNotSupported(String),
    #[error("{0}")]
    EngineVersionNotSupported(String),
    #[error("{0}")]
    ClassNotFound(String),
    #[error("{0}")]
    StorageInvalid(String),
    /// The instance does not exist or belongs to another account.
    #[error("The specified instance {0} does not exist.")]
    InstanceNotFound(String),
    /// A state-changing call on an instance that is not in a state that allows it.
    #[error("The operation is not permitted while instance {id} is {status}; it must be Running.")]
    InstanceState { id: String, status: store::InstanceStatus },
    #[error("{0}")]
    DbNameFormat(String),
    #[error("{0}")]
    DbDuplicate(String),
    #[error("{0}")]
    DbNotFound(String),
    #[error("{0}")]
    CharsetFormat(String),
    #[error("{0}")]
    AccountNameFormat(String),
    #[error("{0}")]
    AccountDuplicate(String),
    #[error("{0}")]
    AccountNotFound(String),
    #[error("{0}")]
    PasswordMalformed(String),
    #[error("{0}")]
    PrivilegeInvalid(String),
    // --- imports -------------------------------------------------------------------------
    #[error("{0}")]
    DbInfoMalformed(String),
    /// A SecurityIPList or SecurityIps value that is not a list of IPv4 addresses and
    /// CIDR blocks.
    #[error("{0}")]
    SecurityIpFormat(String),
    #[error("{0}")]
    SecurityIpDuplicate(String),
    #[error("{0}")]
    SecurityIpQuota(String),
    /// Engines differ, the engine cannot import, or the destination is older.
    #[error("{0}")]
    EngineTypeNotSupported(String),
    /// An instance class outside the dedicated and dedicated-host families.
    #[error("{0}")]
    IncorrectInstanceType(String),
    /// An instance not Running, or already in an import.
    #[error("{0}")]
    IncorrectInstanceState(String),
    #[error("{0}")]
    DbSizeExceeded(String),
    #[error("{0}")]
    ImportNotFound(String),
    /// CancelImport on a task that has ended.
    #[error("{0}")]
    ImportState(String),
    // --- backups ------------------------------------------------------------------------
    /// CreateBackup while the instance has a job running.
    #[error("{0}")]
    BackupJobExists(String),
    #[error("{0}")]
    BackupNotFound(String),
    /// The set is not in a state that allows the call (being taken, failed).
    #[error("{0}")]
    BackupState(String),
    /// A backup method or strategy openrds does not offer.
    #[error("{0}")]
    BackupMethod(String),
    /// The set no longer matches its checksums.
    #[error("{0}")]
    BackupCorrupt(String),
    // --- day-two changes -------------------------------------------------------------------
    /// A storage scale-down below what the instance uses.
    #[error("{0}")]
    ReduceDiskSize(String),
    /// DeleteDBInstance of an instance with deletion protection on.
    #[error("{0}")]
    DeletionProtected(String),
    /// A tag call refused for its tags or resources (`code` says which rule).
    #[error("{message}")]
    TagRefused { code: &'static str, message: String },
    /// An EndTime before its StartTime.
    #[error("{0}")]
    TimeRange(String),
    /// RAM refused the call.
    #[error("User not authorized to operate on the specified resource: action {action} on {resource} is not allowed by the policies of {principal}.")]
    Forbidden { action: String, resource: String, principal: String },
    // --- RAM administration -------------------------------------------------------------
    #[error("{0}")]
    RamUserNotFound(String),
    #[error("{0}")]
    RamUserExists(String),
    #[error("{0}")]
    PolicyNotFound(String),
    #[error("{0}")]
    PolicyExists(String),
    #[error("{0}")]
    PolicyMalformed(String),
    #[error("{0}")]
    AccessKeyNotFound(String),
    #[error("{0}")]
    AttachmentExists(String),
    #[error("{0}")]
    AttachmentNotFound(String),
    /// Deleting something still referenced (a user with keys, a policy attached).
    #[error("{message}")]
    DeleteConflict { code: &'static str, message: String },
    #[error("{0}")]
    LimitExceeded(String),
    // --- access keys (authentication) ---------------------------------------------------
    #[error("Specified access key is not found.")]
    AccessKeyUnknown,
    #[error("Specified access key is disabled.")]
    AccessKeyInactive,
    /// The engine failed; `kind` says how.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The metadata store failed; internal.
    #[error("metadata store: {0}")]
    Store(StoreError),
    /// Anything else that is our fault.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        ControlError::Store(e)
    }
}

impl ControlError {
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        ControlError::InvalidParameter { name: name.to_string(), reason: reason.into() }
    }

    /// Whether the engine's failure is the engine being unreachable.
    pub fn engine_kind(&self) -> Option<ErrorKind> {
        match self {
            ControlError::Engine(e) => Some(e.kind),
            _ => None,
        }
    }
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;
