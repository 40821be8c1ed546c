//! PostgreSQL's errors in the copier's terms: SQLSTATE classes and tool output to
//! [`MoveError`] kinds, so a lost server or a full disk is reported as such wherever it
//! happened.

use mover::{MoveError, Side};

pub(crate) type Result<T, E = MoveError> = std::result::Result<T, E>;

/// Normalises a client error from `side` while doing `what` (a verb phrase).
pub(crate) fn pg_error(side: Side, what: &str, e: tokio_postgres::Error) -> MoveError {
    if let Some(db) = e.as_db_error() {
        return server_error(side, what, db.code().code(), db.message());
    }
    // No server error: the connection failed or closed (I/O, refused, reset).
    MoveError::unavailable(side, format!("{what}: {e}"))
}

/// Normalises an error the server reported (SQLSTATE `code`) while doing `what`.
pub(crate) fn server_error(side: Side, what: &str, code: &str, message: &str) -> MoveError {
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
pub(crate) fn tool_error(tool: &str, side: Side, status: String, stderr: String) -> MoveError {
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

fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_failures_are_classified_by_stderr() {
        let full = tool_error("pg_restore", Side::Destination, "exit status: 1".into(), "pg_restore: error: could not extend file \"base/1/2\": No space left on device".into());
        assert!(matches!(full, MoveError::DiskFull { .. }) && !full.is_retryable());
        let gone = tool_error("pg_dump", Side::Source, "exit status: 1".into(), "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused".into());
        assert!(matches!(gone, MoveError::SourceUnavailable { .. }) && gone.is_retryable());
        let other = tool_error("pg_restore", Side::Destination, "exit status: 1".into(), "pg_restore: error: could not execute query: ERROR:  extension \"postgis\" is not available".into());
        assert!(matches!(&other, MoveError::Tool { stderr, .. } if stderr.contains("postgis")) && !other.is_retryable());
    }
}
