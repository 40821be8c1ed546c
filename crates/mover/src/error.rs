//! The one error type callers see, the same for every engine. Each engine's copier
//! normalises its servers' errors into it (SQLSTATEs or error numbers to kinds) so that
//! the control plane can branch on what happened, and decide on a retry, without reading
//! messages. No message ever carries a password: connection parameters are never
//! formatted into errors, and tool output is the tools' own stderr.

use std::fmt;

/// Which server an error came from; it decides between the `*Unavailable` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// Why a copy failed. Whatever the kind, the destination has been put back as it was
/// (staging databases dropped) before the error is returned, unless the cleanup itself
/// failed, in which case [`crate::drop_staging`] finishes it later.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// The source server could not be reached, or went away during the copy.
    #[error("the source server is unavailable ({detail}); check that it is running and reachable, then retry")]
    SourceUnavailable { detail: String },
    /// The destination server could not be reached, or went away during the copy.
    #[error("the destination server is unavailable ({detail}); check that it is running and reachable, then retry")]
    DestinationUnavailable { detail: String },
    /// The destination ran out of disk space.
    #[error("the destination ran out of disk space ({detail}); free space or grow its storage, then retry")]
    DiskFull { detail: String },
    /// A table, a sequence or the large objects differ between the source snapshot and
    /// the copy. The copy is discarded; it is never published.
    #[error("verification failed for {table} in database {database}: {detail}; the copy was discarded")]
    VerificationFailed { database: String, table: String, detail: String },
    /// The cancellation token fired; the staging databases were dropped.
    #[error("the copy was canceled; the destination is as it was before")]
    Canceled,
    /// A destination database exists and holds user objects, so it may not be replaced.
    #[error("destination database {database} is not empty ({detail}); drop it or choose another name")]
    DestinationNotEmpty { database: String, detail: String },
    /// An engine's client tool exited with an error; `stderr` is the tail of its output.
    #[error("{tool} failed ({status}): {stderr}")]
    Tool { tool: String, status: String, stderr: String },
    /// The admin login lacks a privilege the copy needs.
    #[error("permission denied on the {side} ({detail}); the copy needs an admin login that can read every object and create databases and roles")]
    PermissionDenied { side: Side, detail: String },
    /// The request itself cannot be carried out (unknown source database, duplicate
    /// names, destination older than the source, ...). Nothing was changed.
    #[error("{0}")]
    InvalidRequest(String),
    /// Anything else; the detail names the step that failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl MoveError {
    /// Whether a fresh attempt (from a new snapshot) may succeed without anyone acting.
    /// Only losing a server is transient; a full disk, a failed verification or a bad
    /// request stay as they are until someone fixes them.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MoveError::SourceUnavailable { .. } | MoveError::DestinationUnavailable { .. })
    }

    /// The `*Unavailable` kind of `side`.
    pub fn unavailable(side: Side, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match side {
            Side::Source => MoveError::SourceUnavailable { detail },
            Side::Destination => MoveError::DestinationUnavailable { detail },
        }
    }
}

pub type Result<T, E = MoveError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = MoveError::DestinationNotEmpty { database: "shop".into(), detail: "3 relations".into() };
        assert_eq!(e.to_string(), "destination database shop is not empty (3 relations); drop it or choose another name");
        assert!(MoveError::unavailable(Side::Destination, "x").to_string().contains("retry"));
    }
}
