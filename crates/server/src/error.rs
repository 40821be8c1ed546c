//! The one place where every error becomes a wire error: code, HTTP status, message. It
//! also decides what is logged and hides internals from callers.

use control::ControlError;
use control::model::ErrorKind;
use wire::{ApiError, WireError};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("The specified action {0} is not found; check the Action and Version.")]
    UnknownAction(String),
    #[error("The specified Version {0} is not valid; this endpoint serves 2014-08-15 (RDS) and 2015-05-01 (RAM).")]
    UnknownVersion(String),
    #[error("Specified signature nonce was used already.")]
    NonceUsed,
    #[error("The request body is larger than {limit} bytes; send fewer or shorter parameters.")]
    BodyTooLarge { limit: usize },
    #[error("The query string is longer than {limit} bytes; send the parameters in a form-encoded POST body instead.")]
    UriTooLong { limit: usize },
}

impl ServerError {
    /// The cause of an internal failure, which the caller is not shown but the log keeps.
    pub fn internal_detail(&self) -> Option<String> {
        match self {
            ServerError::Control(c @ (ControlError::Store(_) | ControlError::Internal(_))) => Some(c.to_string()),
            ServerError::Control(ControlError::Engine(e)) if matches!(e.kind, ErrorKind::HostSetup | ErrorKind::Internal | ErrorKind::Unavailable) => {
                Some(e.to_string())
            }
            _ => None,
        }
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> ApiError {
        let message = e.to_string();
        let (status, code): (u16, String) = match &e {
            ServerError::Wire(w) => wire_code(w),
            ServerError::Control(c) => return control_error(c),
            ServerError::UnknownAction(_) => (404, "InvalidAction.NotFound".into()),
            ServerError::UnknownVersion(_) => (400, "InvalidVersion".into()),
            ServerError::NonceUsed => (400, "SignatureNonceUsed".into()),
            ServerError::BodyTooLarge { .. } => (413, "RequestEntityTooLarge".into()),
            ServerError::UriTooLong { .. } => (414, "RequestURITooLong".into()),
        };
        ApiError::new(status, code, message)
    }
}

fn wire_code(e: &WireError) -> (u16, String) {
    match e {
        WireError::MissingParameter(name) => (400, format!("Missing{name}")),
        WireError::InvalidParameter { .. } => (400, "InvalidParameter".into()),
        WireError::UnsupportedFormat(_) => (400, "InvalidParameter.Format".into()),
        WireError::MissingAction => (400, "MissingAction".into()),
        WireError::IncompleteSignature(_) => (400, "IncompleteSignature".into()),
        WireError::InvalidSignatureMethod(_) => (400, "InvalidSignatureMethod".into()),
        WireError::SignatureDoesNotMatch { .. } => (400, "SignatureDoesNotMatch".into()),
        WireError::MissingTimestamp => (400, "MissingTimestamp".into()),
        WireError::InvalidTimestampFormat(_) => (400, "InvalidTimeStamp.Format".into()),
        WireError::TimestampExpired { .. } => (400, "InvalidTimeStamp.Expired".into()),
        WireError::MissingNonce => (400, "MissingSignatureNonce".into()),
        WireError::ContentHashMismatch => (400, "SignatureDoesNotMatch".into()),
        WireError::UnsupportedHttpMethod(_) => (400, "UnsupportedHTTPMethod".into()),
    }
}

fn control_error(e: &ControlError) -> ApiError {
    use ControlError as C;
    let msg = e.to_string();
    let (status, code) = match e {
        C::InvalidParameter { .. } => (400, "InvalidParameter"),
        C::RegionNotFound(_) => (404, "InvalidRegionId.NotFound"),
        C::EngineNotSupported(_) => (400, "InvalidEngine.NotSupported"),
        C::EngineVersionNotSupported(_) => (400, "InvalidEngineVersion.NotSupported"),
        C::ClassNotFound(_) => (400, "InvalidDBInstanceClass.NotFound"),
        C::StorageInvalid(_) => (400, "InvalidDBInstanceStorage.Malformed"),
        C::InstanceNotFound(_) => (404, "InvalidDBInstanceId.NotFound"),
        C::InstanceState { .. } => (403, "OperationDenied.DBInstanceStatus"),
        C::DbNameFormat(_) => (400, "InvalidDBName.Format"),
        C::DbDuplicate(_) => (400, "InvalidDBName.Duplicate"),
        C::DbNotFound(_) => (404, "InvalidDBName.NotFound"),
        C::CharsetFormat(_) => (400, "InvalidCharacterSetName.Format"),
        C::AccountNameFormat(_) => (400, "InvalidAccountName.Format"),
        C::AccountDuplicate(_) => (400, "InvalidAccountName.Duplicate"),
        C::AccountNotFound(_) => (404, "InvalidAccountName.NotFound"),
        C::PasswordMalformed(_) => (400, "InvalidAccountPassword.Malformed"),
        C::PrivilegeInvalid(_) => (400, "InvalidAccountPrivilege.Malformed"),
        C::Forbidden { .. } => (403, "Forbidden.RAM"),
        C::BackupJobExists(_) => (403, "OperationDenied.BackupJobExists"),
        C::BackupNotFound(_) => (404, "InvalidBackupId.NotFound"),
        C::BackupState(_) => (403, "OperationDenied.BackupStatus"),
        C::BackupMethod(_) => (403, "OperationDenied.BackupMethod"),
        C::BackupCorrupt(_) => (403, "OperationDenied.BackupStatus"),
        C::TimeRange(_) => (400, "InvalidStartTimeAndEndTime.Malformed"),
        C::ReduceDiskSize(_) => (403, "InvalidReduceDiskSize"),
        C::TagRefused { code, .. } => (400, *code),
        C::DeletionProtected(_) => (403, "OperationDenied.DeletionProtection"),
        C::DbInfoMalformed(_) => (400, "InvalidDBInfo.Malformed"),
        C::SecurityIpFormat(_) => (400, "InvalidSecurityIPList.Format"),
        C::SecurityIpDuplicate(_) => (400, "InvalidSecurityIPList.Duplicate"),
        C::SecurityIpQuota(_) => (400, "InvalidSecurityIPListGroup.QuotaExceeded"),
        C::EngineTypeNotSupported(_) => (400, "InstanceEngineType.NotSupport"),
        C::IncorrectInstanceType(_) => (400, "IncorrectDBInstanceType"),
        C::IncorrectInstanceState(_) => (403, "IncorrectDBInstanceState"),
        C::DbSizeExceeded(_) => (400, "DBSizeExceeded"),
        C::ImportNotFound(_) => (404, "InvalidImportId.NotFound"),
        C::ImportState(_) => (403, "IncorrectImportState"),
        C::RamUserNotFound(_) => (404, "EntityNotExist.User"),
        C::RamUserExists(_) => (409, "EntityAlreadyExists.User"),
        C::PolicyNotFound(_) => (404, "EntityNotExist.Policy"),
        C::PolicyExists(_) => (409, "EntityAlreadyExists.Policy"),
        C::PolicyMalformed(_) => (400, "MalformedPolicyDocument"),
        C::AccessKeyNotFound(_) => (404, "EntityNotExist.User.AccessKey"),
        C::AttachmentExists(_) => (409, "EntityAlreadyExists.User.Policy"),
        C::AttachmentNotFound(_) => (404, "EntityNotExist.User.Policy"),
        C::DeleteConflict { code, .. } => (409, *code),
        C::LimitExceeded(_) => (400, "LimitExceeded"),
        C::AccessKeyUnknown => (404, "InvalidAccessKeyId.NotFound"),
        C::AccessKeyInactive => (400, "InvalidAccessKeyId.Inactive"),
        C::Engine(engine_error) => match engine_error.kind {
            ErrorKind::AlreadyExists => (400, "InvalidParameter.Duplicate"),
            ErrorKind::NotFound => (404, "InvalidParameter.NotFound"),
            ErrorKind::InvalidInput => (400, "InvalidParameter"),
            ErrorKind::InvalidCharset => (400, "InvalidCharacterSetName.Format"),
            ErrorKind::InUse => (403, "OperationDenied.InUse"),
            ErrorKind::DiskFull => (400, "DBSizeExceeded"),
            // A backup that no longer matches its checksums is refused, never restored.
            ErrorKind::Corrupt => (403, "OperationDenied.BackupStatus"),
            // What the engine said stays in the log (the request's audit line): the
            // caller gets what to do, and the RequestId to quote.
            ErrorKind::Unavailable => {
                return ApiError::new(
                    503,
                    "ServiceUnavailable",
                    "The instance's database engine is not answering; openrds restarts it by itself. Retry in a few seconds; if it persists, give the operator this RequestId.",
                );
            }
            ErrorKind::HostSetup | ErrorKind::Internal => return internal_error(),
        },
        // Internals are not shown: the caller gets the request id, the audit line the cause.
        C::Store(_) | C::Internal(_) => return internal_error(),
    };
    ApiError::new(status, code, msg)
}

/// Alibaba's message for an internal failure, and where its cause is.
fn internal_error() -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        "The request processing has failed due to some unknown error, exception or failure. The cause is in the openrds log under this RequestId.",
    )
}
