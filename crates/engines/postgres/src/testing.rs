//! PostgreSQL test support, for this crate's tests, the server's and the CLI's, and the
//! demo: the dataset holding every object kind a copy must carry
//! (`fixtures/postgres/every_kind.sql`), and comparisons of two databases (schema by
//! `pg_dump`, data by digests) that use nothing of the code under test. The `try_`
//! functions return errors (for the demo); the others, for tests, fail the test with the
//! error.

pub use engine::Login;
use anyhow::Context;
use std::path::PathBuf;
use std::process::Command;
use tokio_postgres::{Client, NoTls};

/// Sessions on a PostgreSQL server as a [`Login`].
#[allow(async_fn_in_trait)]
pub trait PgConnect {
    /// A connection to `db`.
    async fn try_connect(&self, db: &str) -> anyhow::Result<Client>;
    /// A connection to `db`; a server that cannot be reached fails the test.
    async fn connect(&self, db: &str) -> Client;
}

impl PgConnect for Login {
    async fn try_connect(&self, db: &str) -> anyhow::Result<Client> {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host).port(self.port).user(&self.user).dbname(db);
        if !self.password.is_empty() {
            c.password(&self.password);
        }
        let (client, conn) =
            c.connect(NoTls).await.with_context(|| format!("connect to {}:{} as {} (database {db})", self.host, self.port, self.user))?;
        tokio::spawn(conn);
        Ok(client)
    }

    async fn connect(&self, db: &str) -> Client {
        self.try_connect(db).await.unwrap_or_else(|e| panic!("PostgreSQL must be reachable for these tests: {e:#}"))
    }
}

/// The newest installed PostgreSQL's binaries (pg_dump must be at least the servers').
pub fn pg_bin() -> PathBuf {
    for v in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("pg_dump").exists() {
            return p;
        }
    }
    PathBuf::new()
}

/// Every object kind, with awkward values, as the owner of `db` can create it: `owner`
/// owns a schema, a table and a large object, `reader` is granted on objects.
pub fn every_kind(db: &str, owner: &str, reader: &str) -> String {
    include_str!("../../../../fixtures/postgres/every_kind.sql").replace("@db@", db).replace("@owner@", owner).replace("@reader@", reader)
}

/// The dataset as a superuser loads it: also a per-database role setting and the
/// database's owner.
pub fn every_kind_as_superuser(db: &str, owner: &str, reader: &str) -> String {
    format!(
        "{}\nALTER ROLE \"{reader}\" IN DATABASE \"{db}\" SET statement_timeout = '5s';\nALTER DATABASE \"{db}\" OWNER TO \"{owner}\";\n",
        every_kind(db, owner, reader)
    )
}

/// `pg_dump --create --schema-only` with `from` renamed to `to` and the per-run
/// `\restrict` keys removed, for comparing two databases' schemas.
pub fn schema_dump(ep: &Login, db: &str, from: &str, to: &str) -> String {
    try_schema_dump(ep, db, from, to).unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`schema_dump`], failing with an error.
pub fn try_schema_dump(ep: &Login, db: &str, from: &str, to: &str) -> anyhow::Result<String> {
    let out = Command::new(pg_bin().join("pg_dump"))
        .args(["--create", "--schema-only", "-h", &ep.host, "-p", &ep.port.to_string(), "-U", &ep.user, db])
        .env("PGPASSWORD", &ep.password)
        .output()
        .context("run pg_dump")?;
    anyhow::ensure!(out.status.success(), "pg_dump {db}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)
        .context("pg_dump's output is not UTF-8")?
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(|l| l.replace(from, to))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Per relation with data (tables, partitions, materialized views): row count and md5 of
/// all rows sorted as text; plus sequences and large objects. Independent of the mover.
pub async fn digests(ep: &Login, db: &str) -> Vec<(String, String)> {
    try_digests(ep, db).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`digests`], failing with an error.
pub async fn try_digests(ep: &Login, db: &str) -> anyhow::Result<Vec<(String, String)>> {
    let c = ep.try_connect(db).await?;
    c.batch_execute("SET datestyle = ISO; SET timezone = 'UTC'; SET extra_float_digits = 3; SET lc_monetary = 'C'").await?;
    let rels: Vec<(String, String, String)> = c
        .query(
            "SELECT c.relkind::text, n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' \
               AND (c.relkind <> 'm' OR c.relispopulated) ORDER BY 2, 3",
            &[],
        )
        .await
        .context("list relations")?
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut out = Vec::new();
    for (kind, schema, name) in rels {
        let q = format!("\"{}\".\"{}\"", schema.replace('"', "\"\""), name.replace('"', "\"\""));
        let sql = if kind == "S" {
            format!("SELECT last_value::text || '/' || is_called::text FROM {q}")
        } else {
            format!("SELECT count(*)::text || '/' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM ONLY {q} x")
        };
        let v: String = c.query_one(&sql, &[]).await.with_context(|| format!("digest of {q}"))?.get(0);
        out.push((format!("{kind} {schema}.{name}"), v));
    }
    for r in c
        .query(
            "SELECT oid::text, lomowner::regrole::text, coalesce(lomacl::text, ''), md5(lo_get(oid)), coalesce(obj_description(oid, 'pg_largeobject'), '') \
             FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await
        .context("digest large objects")?
    {
        out.push((format!("lo {}", r.get::<_, String>(0)), format!("{}/{}/{}/{}", r.get::<_, String>(1), r.get::<_, String>(2), r.get::<_, String>(3), r.get::<_, String>(4))));
    }
    Ok(out)
}

impl engine::OnHost for crate::PostgresEngine {
    fn on_host() -> Self {
        crate::PostgresEngine::new(crate::PostgresConfig::detect().expect("PostgreSQL server binaries are required for these tests (install postgresql)"))
    }
}
