//! Connections: how an [`Endpoint`] becomes a client on a given database, the session
//! settings every copy session needs, and SQL quoting. Passwords go into the client's
//! configuration and child processes' environment only, never into a string that could
//! be logged or shown.

use super::error::{pg_error, Result};
use mover::{Endpoint, Side};
use std::time::Duration;
use tokio_postgres::{Client, Config, NoTls};

/// Settings that make text output identical and parseable on both sides, and keep our
/// long idle sessions (the snapshot holder) from being cut by server-side timeouts.
/// `row_security = off` makes a policy error out instead of silently hiding rows. An
/// empty `search_path`, as in pg_dump and pg_restore, makes values that print as names
/// (regclass and friends) come out schema-qualified and resolve the same on both sides.
/// No JIT: the copy's queries (row counts, range reads) each run once over a whole table,
/// which costs the planner JIT with inlining and optimisation, and gains nothing from it.
pub(crate) const SESSION_SETTINGS: &str = "SET search_path = ''; SET datestyle = ISO; SET intervalstyle = postgres; SET extra_float_digits = 3; \
     SET timezone = 'UTC'; SET lc_monetary = 'C'; SET bytea_output = hex; SET row_security = off; \
     SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET jit = off";

/// Load and index-build sessions on the destination: a lost commit is harmless (a failed
/// copy is dropped whole), index builds get the memory the caller grants them
/// ([`mover::CopyOptions::index_memory_mb`]) so that large sorts run in one pass, and,
/// where the server has it, TOAST values are compressed with LZ4 (docs/decisions.md: pglz
/// trying and failing to compress every large value made a load of 8 KB texts three times
/// slower). Columns with their own `COMPRESSION` keep it.
pub(crate) fn dest_settings(index_memory_mb: u64, lz4: bool) -> String {
    let toast = if lz4 { "; SET default_toast_compression = lz4" } else { "" };
    format!("SET synchronous_commit = off; SET maintenance_work_mem = '{}MB'{toast}", index_memory_mb.clamp(64, 2 * 1024 * 1024 - 1))
}

/// The database an admin can always reach for cluster-level work.
pub(crate) const MAINTENANCE_DB: &str = "postgres";

/// How the copier reaches a PostgreSQL server at an [`Endpoint`].
pub(crate) trait PgEndpoint {
    fn config(&self, dbname: &str, side: Side) -> Config;
    /// Connects to `dbname` and applies the common session settings.
    async fn connect(&self, dbname: &str, side: Side) -> Result<Client>;
    /// Environment for a libpq tool run against this endpoint: the password travels in
    /// the child's environment only.
    fn tool_env(&self) -> Vec<(&'static str, String)>;
}

impl PgEndpoint for Endpoint {
    fn config(&self, dbname: &str, side: Side) -> Config {
        let mut c = Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(dbname)
            .application_name("openrds-mover")
            .connect_timeout(Duration::from_secs(15))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        if !self.password.is_empty() {
            c.password(&self.password);
        }
        if side == Side::Source {
            // Belt and braces: every source transaction is READ ONLY anyway.
            c.options("-c default_transaction_read_only=on");
        }
        c
    }

    async fn connect(&self, dbname: &str, side: Side) -> Result<Client> {
        let (client, connection) = self
            .config(dbname, side)
            .connect(NoTls)
            .await
            .map_err(|e| pg_error(side, &format!("connect to database {dbname}"), e))?;
        // The connection task ends when the client is dropped: that is how a copy is
        // aborted (an unfinished COPY IN is then rolled back by the server).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
        });
        client
            .batch_execute(SESSION_SETTINGS)
            .await
            .map_err(|e| pg_error(side, "configure session", e))?;
        Ok(client)
    }

    fn tool_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PGHOST", self.host.clone()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", self.user.clone()),
            ("PGAPPNAME", "openrds-mover".to_string()),
            ("PGCONNECT_TIMEOUT", "15".to_string()),
        ];
        if !self.password.is_empty() {
            env.push(("PGPASSWORD", self.password.clone()));
        }
        env
    }
}

/// `"name"` with embedded quotes doubled: safe for any identifier, including mixed case
/// and non-ASCII names.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.name`, both quoted.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// A standard-conforming string literal. `E''` is avoided so the result does not depend
/// on backslash handling.
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A libpq conninfo value for `dbname=`, so database names with spaces, quotes or `=` are
/// passed to tools unambiguously.
pub(crate) fn conninfo_dbname(name: &str) -> String {
    format!("dbname='{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident(r#"Mixed"Case"#), r#""Mixed""Case""#);
        assert_eq!(qualified("s", "Ünï"), r#""s"."Ünï""#);
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(conninfo_dbname(r"a'b\c"), r"dbname='a\'b\\c'");
    }
}
