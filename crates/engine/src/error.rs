/// What went wrong, the same for every engine, so callers branch on kinds rather than on
/// each server's own error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object (database, role) already exists.
    AlreadyExists,
    /// The object does not exist.
    NotFound,
    /// The name, charset or other input is refused by the engine.
    InvalidInput,
    /// The requested character set / collation / ctype is not available on this host.
    InvalidCharset,
    /// The object is in use (e.g. a role that owns objects, a database with sessions).
    InUse,
    /// The disk or a quota is full.
    DiskFull,
    /// Stored data (a backup) no longer matches its checksums.
    Corrupt,
    /// The server did not answer or its process is gone.
    Unavailable,
    /// A binary, a directory or a system user is missing or unusable on this host.
    HostSetup,
    /// Anything else.
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    /// Actionable, names the object; never contains a password.
    pub message: String,
}

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError { kind, message: message.into() }
    }

    /// Worth another try: the server may come back.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable)
    }
}
