//! Talking to a server as its administrator: quoting, admin connections, and the mapping
//! of MariaDB error numbers to [`ErrorKind`]s that makes MariaDB fail like every other
//! engine.
//!
//! Statements that carry a password are never put into an error message: messages are
//! built from what was being done and the server's own message, never statement text.

use super::MariaDbEngine;
use engine::{EngineError, ErrorKind, InstanceSpec};
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};
use std::time::Duration;

/// How long an admin connection may take to open, authentication included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `` `name` `` with inner backticks doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal: `'text'` with quotes doubled and backslashes escaped. Admin sessions
/// clear `sql_mode`, so backslashes are escapes there whatever the server's default.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''").replace('\0', "\\0"))
}

/// `'name'@'%'`: every account is reachable from any host, as on Alibaba.
pub(crate) fn account(name: &str) -> String {
    format!("{}@'%'", literal(name))
}

/// A database name as the privilege tables match it: in `GRANT ... ON db.*`, `_` and
/// `%` are wildcards, so a grant on `my_db` would also cover `myXdb` unless escaped.
pub(crate) fn grant_pattern(db: &str) -> String {
    db.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%")
}

/// The kind of a MariaDB error number.
pub(crate) fn kind_of(code: u16) -> ErrorKind {
    match code {
        // database exists, CREATE USER / DROP USER failed (on an existing or absent user,
        // depending on the statement; callers that know which say so)
        1007 => ErrorKind::AlreadyExists,
        1396 => ErrorKind::AlreadyExists,
        // unknown database, no such grant, unknown table
        1008 | 1049 | 1141 | 1146 => ErrorKind::NotFound,
        // unknown character set, unknown collation, collation of another character set
        1115 | 1273 | 1253 => ErrorKind::InvalidCharset,
        // disk full, table full
        1021 | 1114 => ErrorKind::DiskFull,
        // lock wait timeout, deadlock: a lost race
        1205 | 1213 => ErrorKind::InUse,
        // too many connections, server shutting down, query interrupted
        1040 | 1053 | 1317 => ErrorKind::Unavailable,
        // syntax, bad names, too long identifiers
        1064 | 1102 | 1103 | 1059 | 1470 => ErrorKind::InvalidInput,
        _ => ErrorKind::Internal,
    }
}

/// Normalises a driver error. `doing` names the action and its object (`create database
/// x`) and starts the message; statement text (which may hold a password) never appears.
pub(crate) fn my_error(e: mysql_async::Error, doing: &str) -> EngineError {
    match e {
        mysql_async::Error::Server(s) => EngineError::new(kind_of(s.code), format!("{doing}: {} (error {})", s.message, s.code)),
        other => EngineError::new(ErrorKind::Unavailable, format!("{doing}: the server did not answer ({other}); retry when it is running")),
    }
}

/// Like [`my_error`] for statements that carry a password: the server's message may
/// quote the statement (a syntax error does), so only the error number is kept.
pub(crate) fn my_error_redacted(e: mysql_async::Error, doing: &str) -> EngineError {
    match e {
        mysql_async::Error::Server(s) => EngineError::new(kind_of(s.code), format!("{doing}: refused by the server (error {})", s.code)),
        other => my_error(other, doing),
    }
}

/// The server's error number, if it answered with one.
pub(crate) fn code_of(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

impl MariaDbEngine {
    /// A fresh admin connection. One per call: calls are rare, and a pooled connection
    /// would outlive restarts of the server.
    pub(super) async fn connect(&self, spec: &InstanceSpec) -> Result<Conn, EngineError> {
        let admin = super::lifecycle::read_admin(spec)?;
        let opts = OptsBuilder::default()
            .ip_or_hostname(admin.host.clone())
            .tcp_port(admin.port)
            .user(Some(admin.user))
            .pass(Some(admin.password))
            .db_name(Some(admin.maintenance_db))
            // Left on, the driver would switch to the socket the server names, which is
            // not the one TCP reached on a host with several servers.
            .prefer_socket(false);
        let unavailable = |detail: String| {
            EngineError::new(
                ErrorKind::Unavailable,
                format!("instance {} ({}:{}) does not accept connections: {detail}", spec.id, admin.host, admin.port),
            )
        };
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts)).await {
            Err(_) => return Err(unavailable("no answer in time".into())),
            // access denied
            Ok(Err(mysql_async::Error::Server(s))) if s.code == 1045 => {
                return Err(EngineError::new(
                    ErrorKind::Internal,
                    format!("instance {} refused the internal administrator; its admin.json does not match the server", spec.id),
                ))
            }
            // Still starting, or out of connection slots.
            Ok(Err(mysql_async::Error::Server(s))) => return Err(unavailable(format!("{} (error {})", s.message, s.code))),
            Ok(Err(e)) => return Err(unavailable(e.to_string())),
            Ok(Ok(c)) => c,
        };
        // Quoting in `literal` relies on backslash escapes, which NO_BACKSLASH_ESCAPES
        // in a server-wide sql_mode would turn off.
        conn.query_drop("SET SESSION sql_mode = ''").await.map_err(|e| my_error(e, "prepare an admin session"))?;
        Ok(conn)
    }
}

/// Whose sessions [`end_sessions`] ends.
pub(crate) enum SessionsOf<'a> {
    Account(&'a str),
    Database(&'a str),
}

/// Ends the sessions of an account or on a database, other than this one.
pub(crate) async fn end_sessions(c: &mut Conn, of: SessionsOf<'_>) -> Result<(), EngineError> {
    let (column, what, name) = match of {
        SessionsOf::Account(name) => ("USER", "account", name),
        SessionsOf::Database(name) => ("DB", "database", name),
    };
    let ids: Vec<u64> = c
        .exec(format!("SELECT ID FROM information_schema.PROCESSLIST WHERE {column} = ? AND ID <> CONNECTION_ID()"), (name,))
        .await
        .map_err(|e| my_error(e, &format!("find the sessions of {what} {name}")))?;
    for id in ids {
        match c.query_drop(format!("KILL {id}")).await {
            // Unknown thread: it ended by itself meanwhile.
            Err(e) if code_of(&e) != Some(1094) => return Err(my_error(e, &format!("end a session of {what} {name}"))),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_backquoted_with_inner_backquotes_doubled() {
        for (name, quoted) in [("plain", "`plain`"), ("we`ird", "`we``ird`")] {
            assert_eq!(ident(name), quoted, "{name}");
        }
    }

    #[test]
    fn literals_cannot_be_escaped_from() {
        for (text, quoted) in [("abc", "'abc'"), ("it's", "'it''s'"), (r"a\'b", r"'a\\''b'")] {
            assert_eq!(literal(text), quoted, "{text}");
        }
        assert_eq!(account("bob"), "'bob'@'%'");
    }

    #[test]
    fn grant_patterns_match_one_database_only() {
        assert_eq!(grant_pattern("my_db%"), r"my\_db\%");
        assert_eq!(grant_pattern("plain"), "plain");
    }

    #[test]
    fn redacted_errors_keep_no_server_text() {
        let e = mysql_async::Error::Server(mysql_async::ServerError {
            code: 1064,
            message: "syntax error near 'IDENTIFIED BY 'secret''".into(),
            state: "42000".into(),
        });
        let err = my_error_redacted(e, "create account app");
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(!err.message.contains("secret"), "{}", err.message);
    }

    #[test]
    fn error_numbers_map_to_the_same_kinds_as_every_engine() {
        let cases = [
            (1007, ErrorKind::AlreadyExists),
            (1008, ErrorKind::NotFound),
            (1049, ErrorKind::NotFound),
            (1115, ErrorKind::InvalidCharset),
            (1273, ErrorKind::InvalidCharset),
            (1021, ErrorKind::DiskFull),
            (1114, ErrorKind::DiskFull),
            (1040, ErrorKind::Unavailable),
            (1064, ErrorKind::InvalidInput),
            (1234, ErrorKind::Internal),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(code), kind, "{code}");
        }
    }
}
