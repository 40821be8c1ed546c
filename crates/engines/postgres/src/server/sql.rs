//! Talking to a server as its administrator: quoting, admin connections, and the mapping
//! of SQLSTATEs to [`ErrorKind`]s that makes PostgreSQL fail like every other engine.
//!
//! Statements that carry a password are never put into an error message: messages are
//! built from what was being done and the server's own message, never statement text.

use super::PostgresEngine;
use engine::{EngineError, ErrorKind, InstanceSpec};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// How long an admin connection may take to open, authentication included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `"name"` with inner quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal: `'text'` with inner quotes doubled, or `E'...'` with backslashes
/// doubled too when there are any, so it reads the same whatever
/// `standard_conforming_strings` says.
pub fn literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// A value in postgresql.conf, where backslashes escape too.
pub(crate) fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Normalises a driver error. `doing` names the action and its object (`create database
/// x`) and starts the message; statement text (which may hold a password) never appears.
pub(crate) fn pg_error(e: tokio_postgres::Error, doing: &str) -> EngineError {
    let Some(db) = e.as_db_error() else {
        return EngineError::new(ErrorKind::Unavailable, format!("{doing}: the server did not answer ({e}); retry when it is running"));
    };
    let kind = kind_of(db.code());
    let mut message = format!("{doing}: {}", db.message());
    if let Some(hint) = db.hint() {
        message.push_str(&format!(" ({hint})"));
    }
    EngineError::new(kind, message)
}

pub(crate) fn kind_of(code: &SqlState) -> ErrorKind {
    let class = &code.code()[..2];
    // Two CREATE DATABASE or CREATE ROLE of one name at once: the loser trips over the
    // catalog's unique index instead of the duplicate check.
    if [
        SqlState::DUPLICATE_DATABASE,
        SqlState::DUPLICATE_OBJECT,
        SqlState::DUPLICATE_SCHEMA,
        SqlState::DUPLICATE_TABLE,
        SqlState::UNIQUE_VIOLATION,
    ]
    .contains(code)
    {
        ErrorKind::AlreadyExists
    } else if [SqlState::INVALID_CATALOG_NAME, SqlState::UNDEFINED_OBJECT, SqlState::UNDEFINED_TABLE, SqlState::INVALID_SCHEMA_NAME]
        .contains(code)
    {
        ErrorKind::NotFound
    } else if [SqlState::OBJECT_IN_USE, SqlState::DEPENDENT_OBJECTS_STILL_EXIST, SqlState::LOCK_NOT_AVAILABLE].contains(code) {
        ErrorKind::InUse
    } else if *code == SqlState::DISK_FULL {
        ErrorKind::DiskFull
    } else if *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || class == "08"
        || class == "53"
        || class == "40"
    {
        // Starting, stopping, out of resources or a lost race: the same call may succeed later.
        ErrorKind::Unavailable
    } else if class == "42" || class == "22" {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Internal
    }
}

/// Whether a failed `CREATE DATABASE` was about its encoding or locales.
pub(crate) fn is_charset_error(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        [SqlState::INVALID_PARAMETER_VALUE, SqlState::UNDEFINED_OBJECT, SqlState::WRONG_OBJECT_TYPE, SqlState::FEATURE_NOT_SUPPORTED]
            .contains(c)
    })
}

impl PostgresEngine {
    /// A fresh admin connection to database `db`. One per call: calls are rare, and a
    /// pooled connection would outlive restarts of the server.
    pub(super) async fn connect(&self, spec: &InstanceSpec, db: &str) -> Result<Client, EngineError> {
        let admin = super::lifecycle::read_admin(spec)?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&admin.host)
            .port(admin.port)
            .user(&admin.user)
            .password(&admin.password)
            .dbname(db)
            .application_name("openrds")
            .connect_timeout(CONNECT_TIMEOUT);
        let unavailable = |detail: String| {
            EngineError::new(
                ErrorKind::Unavailable,
                format!("instance {} ({}:{}) does not accept connections: {detail}", spec.id, admin.host, admin.port),
            )
        };
        let (client, conn) = match tokio::time::timeout(CONNECT_TIMEOUT * 2, config.connect(NoTls)).await {
            Err(_) => return Err(unavailable("no answer in time".into())),
            Ok(Err(e)) => {
                return Err(match e.code() {
                    Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
                        EngineError::new(ErrorKind::NotFound, format!("database {db} does not exist on instance {}", spec.id))
                    }
                    Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                        EngineError::new(
                            ErrorKind::Internal,
                            format!("instance {} refused the internal administrator; its admin.json does not match the server", spec.id),
                        )
                    }
                    Some(_) => pg_error(e, &format!("connect to database {db} of instance {}", spec.id)),
                    None => unavailable(e.to_string()),
                })
            }
            Ok(Ok(pair)) => pair,
        };
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "admin connection ended");
            }
        });
        Ok(client)
    }
}

/// `NotFound` unless the role (an account, with or without a login) exists.
pub(crate) async fn require_role(c: &impl tokio_postgres::GenericClient, name: &str) -> Result<(), EngineError> {
    let found = c
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .map_err(|e| pg_error(e, &format!("look up account {name}")))?;
    found.map(|_| ()).ok_or_else(|| EngineError::new(ErrorKind::NotFound, format!("account {name} does not exist")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_double_quoted_with_inner_quotes_doubled() {
        for (name, quoted) in [("plain", r#""plain""#), (r#"we"ird"#, r#""we""ird""#), ("Mixed Case", r#""Mixed Case""#)] {
            assert_eq!(ident(name), quoted, "{name}");
        }
    }

    #[test]
    fn literals_cannot_be_escaped_from() {
        for (text, quoted) in [("abc", "'abc'"), ("it's", "'it''s'"), (r"a\'b", r"E'a\\''b'")] {
            assert_eq!(literal(text), quoted, "{text}");
        }
        assert_eq!(conf_string(r"x'\y"), r"'x''\\y'");
    }

    #[test]
    fn sqlstates_map_to_the_same_kinds_as_every_engine() {
        let cases = [
            ("42P04", ErrorKind::AlreadyExists),
            ("23505", ErrorKind::AlreadyExists),
            ("42710", ErrorKind::AlreadyExists),
            ("3D000", ErrorKind::NotFound),
            ("42704", ErrorKind::NotFound),
            ("55006", ErrorKind::InUse),
            ("2BP01", ErrorKind::InUse),
            ("53100", ErrorKind::DiskFull),
            ("57P03", ErrorKind::Unavailable),
            ("53300", ErrorKind::Unavailable),
            ("08006", ErrorKind::Unavailable),
            ("22023", ErrorKind::InvalidInput),
            ("42939", ErrorKind::InvalidInput),
            ("XX000", ErrorKind::Internal),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(&SqlState::from_code(code)), kind, "{code}");
        }
    }
}
