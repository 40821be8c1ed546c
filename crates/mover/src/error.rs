//! The one error type callers see. Server errors are normalised here (SQLSTATE classes to
//! kinds) so that the control plane can branch on what happened, and decide on a retry,
//! without reading messages. No message ever carries a password: connection parameters
//! are never formatted into errors, and tool output is the tools' own stderr, which
//! libpq keeps free of passwords.

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
    /// The destination ran out of disk space (SQLSTATE 53100 or ENOSPC).
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
    /// pg_dump, pg_restore or psql exited with an error; `stderr` is the tail of its output.
    #[error("{tool} failed ({status}): {stderr}")]
    Tool { tool: String, status: String, stderr: String },
    /// The admin login lacks a privilege the copy needs (SQLSTATE 42501).
    #[error("permission denied on the {side} ({detail}); the copy needs a superuser or a CREATEDB/CREATEROLE login that can read every object")]
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

    pub(crate) fn unavailable(side: Side, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match side {
            Side::Source => MoveError::SourceUnavailable { detail },
            Side::Destination => MoveError::DestinationUnavailable { detail },
        }
    }

    /// Normalises a client error from `side` while doing `what` (a verb phrase).
    pub(crate) fn pg(side: Side, what: &str, e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            return MoveError::server(side, what, db.code().code(), db.message());
        }
        // No server error: the connection failed or closed (I/O, refused, reset).
        MoveError::unavailable(side, format!("{what}: {e}"))
    }

    /// Normalises an error the server reported (SQLSTATE `code`) while doing `what`.
    pub(crate) fn server(side: Side, what: &str, code: &str, message: &str) -> Self {
        let detail = format!("{what}: {message} ({code})");
        match code {
            "53100" => MoveError::DiskFull { detail },
            // Shutdown, crash recovery, too many connections, connection exceptions,
            // and an exported snapshot that died with its session: all transient.
            "57P01" | "57P02" | "57P03" | "53300" | "53000" => MoveError::unavailable(side, detail),
            c if c.starts_with("08") => MoveError::unavailable(side, detail),
            "22023" if message.contains("snapshot") => MoveError::unavailable(side, detail),
            "42501" | "28P01" | "28000" => MoveError::PermissionDenied { side, detail },
            "3D000" if side == Side::Source => MoveError::InvalidRequest(format!("{what}: {message}")),
            _ => MoveError::Internal(format!("{side}: {detail}")),
        }
    }

    /// Classifies a failed tool run by its stderr, so a lost server or a full disk is
    /// reported as such even when it happened inside pg_dump or pg_restore.
    pub(crate) fn tool(tool: &str, side: Side, status: String, stderr: String) -> Self {
        let lower = stderr.to_lowercase();
        if lower.contains("no space left on device") || lower.contains("could not extend file") {
            return MoveError::DiskFull { detail: format!("{tool}: {}", last_line(&stderr)) };
        }
        let lost = [
            "connection to server",
            "could not connect",
            "server closed the connection unexpectedly",
            "terminating connection",
            "connection refused",
            "the database system is shutting down",
            "the database system is starting up",
            "invalid snapshot identifier",
        ];
        if lost.iter().any(|p| lower.contains(p)) {
            return MoveError::unavailable(side, format!("{tool}: {}", last_line(&stderr)));
        }
        MoveError::Tool { tool: tool.to_string(), status, stderr }
    }
}

fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

pub(crate) type Result<T, E = MoveError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_failures_are_classified_by_stderr() {
        let full = MoveError::tool("pg_restore", Side::Destination, "exit status: 1".into(), "pg_restore: error: could not extend file \"base/1/2\": No space left on device".into());
        assert!(matches!(full, MoveError::DiskFull { .. }) && !full.is_retryable());
        let gone = MoveError::tool("pg_dump", Side::Source, "exit status: 1".into(), "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused".into());
        assert!(matches!(gone, MoveError::SourceUnavailable { .. }) && gone.is_retryable());
        let other = MoveError::tool("pg_restore", Side::Destination, "exit status: 1".into(), "pg_restore: error: could not execute query: ERROR:  extension \"postgis\" is not available".into());
        assert!(matches!(&other, MoveError::Tool { stderr, .. } if stderr.contains("postgis")) && !other.is_retryable());
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = MoveError::DestinationNotEmpty { database: "shop".into(), detail: "3 relations".into() };
        assert_eq!(e.to_string(), "destination database shop is not empty (3 relations); drop it or choose another name");
        assert!(MoveError::unavailable(Side::Destination, "x").to_string().contains("retry"));
    }
}
