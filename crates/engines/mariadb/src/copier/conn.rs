//! Sessions on MariaDB servers: how an [`Endpoint`] becomes a connection, the settings
//! copy sessions need, quoting, and MariaDB errors normalised into [`MoveError`]s.

use mover::{MoveError, Result, Side};
use mover::Endpoint;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

/// Every copy session: results as stored bytes (no charset conversion, whatever the
/// columns' charsets), timestamps in UTC so no value falls into a DST gap, and generous
/// network timeouts: a reader may wait long on a slow loader and must not be cut.
const COMMON: &str = "SET SESSION character_set_results = binary, time_zone = '+00:00', net_read_timeout = 3600, \
     net_write_timeout = 3600, wait_timeout = 86400, max_statement_time = 0";

/// Load sessions on the destination: foreign keys are not checked (tables load in any
/// order, and the source's rows satisfied them), CHECK constraints neither (the rows are
/// the source's, even those inserted while checks were off there), zero ids stay zero
/// and zero dates load (the source had them). `unique_checks` stays on: with both checks
/// off InnoDB's bulk-insert mode for empty tables doubled the load's CPU on 10.11
/// (shared/reference/perf-baseline-mariadb.md). The binary log stays on: a point-in-time
/// restore from a backup older than the import replays it from there (a failed copy's
/// staging database is dropped in the log too).
pub(crate) const LOAD_SETTINGS: &str = "SET SESSION foreign_key_checks = 0, check_constraint_checks = 0, \
     sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'";

/// How the copier reaches a MariaDB server at an [`Endpoint`].
pub(crate) trait MariaDbEndpoint {
    /// A session with the common settings, on no default database (every statement names
    /// its database).
    async fn connect_mariadb(&self, side: Side) -> Result<Conn>;
}

impl MariaDbEndpoint for Endpoint {
    async fn connect_mariadb(&self, side: Side) -> Result<Conn> {
        let opts = OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false)
            .stmt_cache_size(0);
        let mut conn = Conn::new(opts).await.map_err(|e| error(side, "connect", e))?;
        conn.query_drop(COMMON).await.map_err(|e| error(side, "configure session", e))?;
        Ok(conn)
    }
}

/// `` `name` `` with embedded backticks doubled.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `db`.`name` ``.
pub(crate) fn qualified(db: &str, name: &str) -> String {
    format!("{}.{}", ident(db), ident(name))
}

/// A string literal safe under any sql_mode (`NO_BACKSLASH_ESCAPES` included): quotes
/// doubled, and backslashes avoided by spelling the value in hex when it has one.
pub(crate) fn literal(value: &str) -> String {
    if value.contains('\\') {
        format!("X'{}'", value.bytes().map(|b| format!("{b:02X}")).collect::<String>())
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// Normalises a client error from `side` while doing `what` (a verb phrase).
pub(crate) fn error(side: Side, what: &str, e: mysql_async::Error) -> MoveError {
    match e {
        mysql_async::Error::Server(s) => server(side, what, s.code, &s.message),
        // No server error: the connection failed, closed or broke.
        other => MoveError::unavailable(side, format!("{what}: {other}")),
    }
}

/// Normalises an error the server reported (MariaDB error number `code`).
pub(crate) fn server(side: Side, what: &str, code: u16, message: &str) -> MoveError {
    let detail = format!("{what}: {message} (error {code})");
    match code {
        // Table full, disk full, out of space in the engine.
        1021 | 1114 | 1030 if code != 1030 || message.contains("28") => MoveError::DiskFull { detail },
        // Server gone or going, too many connections, the session killed, and a table
        // changed under the snapshot: all transient, a fresh snapshot may succeed.
        1040 | 1053 | 1077 | 1152 | 1158 | 1159 | 1160 | 1161 | 1927 | 2006 | 2013 | 1412 => MoveError::unavailable(side, detail),
        1044 | 1045 | 1142 | 1143 | 1227 | 1370 => MoveError::PermissionDenied { side, detail },
        1049 if side == Side::Source => MoveError::InvalidRequest(format!("{what}: {message}")),
        _ => MoveError::Internal(format!("{side}: {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("we`ird"), "`we``ird`");
        assert_eq!(qualified("a", "b"), "`a`.`b`");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b"), "X'615C62'");
    }

    #[test]
    fn errors_are_classified_by_number() {
        assert!(matches!(server(Side::Destination, "load", 1114, "The table 't' is full"), MoveError::DiskFull { .. }));
        assert!(server(Side::Source, "read", 1412, "Table definition has changed").is_retryable());
        assert!(matches!(server(Side::Source, "plan", 1049, "Unknown database 'x'"), MoveError::InvalidRequest(_)));
        assert!(matches!(server(Side::Destination, "create", 1227, "Access denied"), MoveError::PermissionDenied { .. }));
    }
}
