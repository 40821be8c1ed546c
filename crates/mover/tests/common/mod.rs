//! Shared helpers of the mover integration tests: the system PostgreSQL on 127.0.0.1:5432
//! (trust auth for user postgres), a second throw-away server when a test needs one, a
//! dataset holding every object kind a copy must carry, and comparisons of two databases
//! that do not use the code under test. A test that cannot reach PostgreSQL fails.

#![allow(dead_code)]

use mover::Endpoint;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio_postgres::{Client, NoTls};

pub fn pg_bin() -> PathBuf {
    for v in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("pg_dump").exists() {
            return p;
        }
    }
    PathBuf::new()
}

pub fn local() -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: std::env::var("MOVER_TEST_PGPORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5432),
        user: "postgres".into(),
        password: String::new(),
    }
}

pub async fn connect(ep: &Endpoint, db: &str) -> Client {
    let mut c = tokio_postgres::Config::new();
    c.host(&ep.host).port(ep.port).user(&ep.user).dbname(db);
    if !ep.password.is_empty() {
        c.password(&ep.password);
    }
    let (client, conn) = c
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {}:{} must be reachable for these tests: {e}", ep.host, ep.port));
    tokio::spawn(conn);
    client
}

/// A name unique to this test run.
pub fn name(prefix: &str) -> String {
    format!("{prefix}_{}", std::process::id())
}

pub async fn recreate(ep: &Endpoint, db: &str) {
    let c = connect(ep, "postgres").await;
    // Two statements: DROP and CREATE DATABASE refuse to run in one implicit transaction.
    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).await.unwrap();
    c.batch_execute(&format!("CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING 'UTF8'")).await.unwrap();
}

pub async fn drop_db(ep: &Endpoint, db: &str) {
    let c = connect(ep, "postgres").await;
    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).await.unwrap();
}

pub async fn exists(ep: &Endpoint, db: &str) -> bool {
    let c = connect(ep, "postgres").await;
    c.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db]).await.unwrap().is_some()
}

/// Databases whose names start with the staging prefix of `tag`.
pub async fn staging_left(ep: &Endpoint, tag: &str) -> Vec<String> {
    let probe = mover::staging_name("x", tag);
    let prefix = &probe[..probe.len() - "00000000_x".len()];
    let c = connect(ep, "postgres").await;
    c.query("SELECT datname::text FROM pg_database", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

pub fn options(tag: &str) -> mover::CopyOptions {
    mover::CopyOptions { staging_tag: tag.into(), pg_bin_dir: pg_bin(), jobs: 3, ..Default::default() }
}

/// Roles the dataset grants to and owns with; created once per server, shared by tests.
pub async fn ensure_roles(ep: &Endpoint, roles: &[&str]) {
    let c = connect(ep, "postgres").await;
    for r in roles {
        // Tests run in parallel: a concurrent CREATE ROLE of the same name is fine.
        let _ = c.batch_execute(&format!("CREATE ROLE \"{r}\" NOLOGIN")).await;
    }
}

/// Every object kind of a complete copy, with awkward values. `owner` owns a schema and a
/// table and `reader` is granted on objects; `db` is the database's own name.
pub fn dataset(db: &str, owner: &str, reader: &str) -> String {
    format!(
        r#"
CREATE EXTENSION citext;
CREATE EXTENSION pgcrypto;
CREATE SCHEMA "Sales Ünï" AUTHORIZATION "{owner}";
COMMENT ON SCHEMA "Sales Ünï" IS 'mixed case, a space and non-ASCII';
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE SEQUENCE invoice_no START 1000;
SELECT setval('invoice_no', 424242);
CREATE SEQUENCE never_used;

CREATE TABLE customers (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email citext UNIQUE,
  name text NOT NULL DEFAULT '',
  "MixedCase" text,
  mood mood,
  score posint,
  created timestamptz DEFAULT now()
);
COMMENT ON TABLE customers IS 'who buys';
COMMENT ON COLUMN customers.email IS 'case-insensitive';
INSERT INTO customers (email, name, "MixedCase", mood, score) VALUES
  ('A@x.org', 'tab	here', E'new\nline', 'happy', 1),
  ('b@x.org', '', E'back\\slash', 'sad', 2),
  ('c@x.org', 'ünïcødé ✓ 漢字', NULL, NULL, NULL),
  (NULL, 'quote '' and "double"', '\N', 'ok', 2147483647);

CREATE TABLE "Sales Ünï"."Orders" (
  id bigserial PRIMARY KEY,
  customer_id int REFERENCES customers (id),
  amount numeric(12, 2),
  qty int,
  total numeric GENERATED ALWAYS AS (amount * qty) STORED,
  tags text[],
  moods mood[],
  info jsonb,
  pairs pair,
  note text
);
ALTER TABLE "Sales Ünï"."Orders" OWNER TO "{owner}";
CREATE INDEX orders_info ON "Sales Ünï"."Orders" USING gin (info);
CREATE INDEX orders_lower_note ON "Sales Ünï"."Orders" (lower(note)) WHERE note IS NOT NULL;
INSERT INTO "Sales Ünï"."Orders" (customer_id, amount, qty, tags, moods, info, pairs, note)
SELECT 1 + i % 3, i * 1.5, i % 7, ARRAY['a', NULL, E'x\ty', ''], ARRAY['ok', 'sad']::mood[],
       jsonb_build_object('i', i, 'nested', jsonb_build_array(1, 'two', NULL), 'u', 'ü'), ROW(i, 'p' || i)::pair,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END
FROM generate_series(1, 3000) i;
GRANT SELECT ON "Sales Ünï"."Orders" TO "{reader}";
GRANT USAGE ON SCHEMA "Sales Ünï" TO "{reader}";

CREATE TABLE awkward (
  k int, t text, f float8, r real, n numeric, ts timestamp, tstz timestamptz, d date, b bytea,
  iv interval, j json, arr int[][], m money, rc regclass, bits bit varying, inet inet, uid uuid, rng int4range,
  x xml, tsv tsvector
);
INSERT INTO awkward VALUES
  (1, E'tab\there', 'NaN', 'Infinity', 'NaN', 'infinity', '-infinity', 'infinity', '\x00ff5c0a', '1 year -2 days 03:04:05.678',
   '{{"a": [1, 2.50, "x"]}}', '{{{{1,2}},{{3,4}}}}', 12.34, 'customers', B'1011', '10.0.0.1/8', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '[1,10)', '<a>ü</a>', 'fat & rat'),
  (2, E'new\nline\r\n', '-Infinity', '-0', '1e-100', '-infinity', 'infinity', '-infinity', '', '0', 'null', '{{}}', -0.01,
   '"Sales Ünï"."Orders"', B'', '::1', NULL, 'empty', '<b/>', ''),
  (3, E'back\\slash \\N', 1.0e308, 1.17549435e-38, '123456789012345678901234567890.123456789', '2000-02-29 23:59:59.999999',
   '1999-12-31 23:59:59.5+14', '0001-01-01 BC', '\x', '-178000000 years', '"unicode \u00fc"', NULL, NULL, NULL, NULL, NULL, NULL,
   '(,)', NULL, NULL),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, '', 0, 0, 0, 'epoch', 'epoch', 'epoch', '\x5c', '-00:00:01', '[]', '{{NULL}}', 0, 'pg_class', B'0', '0.0.0.0', NULL, NULL, NULL, NULL);
COMMENT ON TABLE awkward IS 'no primary key, duplicate rows, every odd value';

CREATE TABLE no_columns ();
INSERT INTO no_columns DEFAULT VALUES;
INSERT INTO no_columns DEFAULT VALUES;

CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY, v text);
INSERT INTO scratch SELECT i, md5(i::text) FROM generate_series(1, 100) i;

CREATE TABLE events (id int, at date, payload text, PRIMARY KEY (id, at, payload)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
  PARTITION BY LIST (payload);
CREATE TABLE events_2025_a PARTITION OF events_2025 FOR VALUES IN ('a');
CREATE TABLE events_2025_rest PARTITION OF events_2025 DEFAULT;
CREATE INDEX events_payload ON events (payload);
INSERT INTO events SELECT i, DATE '2024-01-01' + (i % 700), CASE WHEN i % 3 = 0 THEN 'a' ELSE 'p' || i END
FROM generate_series(1, 2000) i;

CREATE TABLE big (id bigint PRIMARY KEY, v text, w int);
INSERT INTO big SELECT i, repeat(md5(i::text), 3), i % 1000 FROM generate_series(1, 60000) i;
CREATE INDEX big_w ON big (w);
CREATE UNIQUE INDEX big_v_w ON big (v, w);
ALTER TABLE big CLUSTER ON big_w;
CREATE TABLE big_nokey (v text, n int);
INSERT INTO big_nokey SELECT md5(i::text), i FROM generate_series(1, 40000) i;
INSERT INTO big_nokey SELECT md5(i::text), i FROM generate_series(1, 100) i;

CREATE TABLE excl (r tsrange, EXCLUDE USING gist (r WITH &&));
INSERT INTO excl VALUES ('[2020-01-01, 2020-02-01)'), ('[2020-03-01, 2020-04-01)');
CREATE TABLE deferred_parent (id int, CONSTRAINT dp_key UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO deferred_parent VALUES (1), (2);
ALTER TABLE awkward ADD CONSTRAINT awkward_k_check CHECK (k IS NULL OR k > 0) NOT VALID;

CREATE FUNCTION order_total(c int) RETURNS numeric LANGUAGE sql STABLE AS
  $$ SELECT coalesce(sum(total), 0) FROM "Sales Ünï"."Orders" WHERE customer_id = c $$;
COMMENT ON FUNCTION order_total(int) IS 'sum per customer';
CREATE PROCEDURE touch(c int) LANGUAGE plpgsql AS $$ BEGIN UPDATE customers SET name = name WHERE id = c; END $$;
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, 'stamped'); RETURN NEW; END $$;
CREATE TRIGGER orders_stamp BEFORE INSERT OR UPDATE ON "Sales Ünï"."Orders" FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE VIEW customer_totals AS SELECT c.id, c.name, order_total(c.id) AS total FROM customers c;
COMMENT ON VIEW customer_totals IS 'a view';
CREATE MATERIALIZED VIEW order_stats AS SELECT customer_id, count(*) AS n, sum(total) AS total FROM "Sales Ünï"."Orders" GROUP BY 1;
CREATE UNIQUE INDEX order_stats_key ON order_stats (customer_id);
CREATE MATERIALIZED VIEW never_filled AS SELECT 1 AS one WITH NO DATA;
CREATE RULE protect AS ON DELETE TO scratch DO INSTEAD NOTHING;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON customers FOR SELECT TO "{reader}" USING (mood IS DISTINCT FROM 'sad');
GRANT SELECT, INSERT ON customers TO "{reader}";
GRANT SELECT (k, t) ON awkward TO "{reader}";
GRANT EXECUTE ON FUNCTION order_total(int) TO "{reader}";
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO "{reader}";
SELECT lo_from_bytea(0, '\x000102ff'::bytea);
SELECT lo_from_bytea(0, convert_to(repeat('large object ', 50000), 'UTF8'));
SELECT lo_create(0);
DO $$ DECLARE o oid; BEGIN
  SELECT min(oid) INTO o FROM pg_largeobject_metadata;
  EXECUTE format('ALTER LARGE OBJECT %s OWNER TO "{owner}"', o);
  EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO "{reader}"', o);
  EXECUTE format('COMMENT ON LARGE OBJECT %s IS %L', o, 'a blob');
END $$;
ALTER DATABASE "{db}" SET work_mem = '8MB';
ALTER DATABASE "{db}" SET search_path = "$user", public, "Sales Ünï";
ALTER ROLE "{reader}" IN DATABASE "{db}" SET statement_timeout = '5s';
COMMENT ON DATABASE "{db}" IS 'the source';
REVOKE ALL ON DATABASE "{db}" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO "{reader}";
ALTER DATABASE "{db}" OWNER TO "{owner}";
ANALYZE;
"#
    )
}

pub async fn load_dataset(ep: &Endpoint, db: &str, owner: &str, reader: &str) {
    recreate(ep, db).await;
    let c = connect(ep, db).await;
    c.batch_execute(&dataset(db, owner, reader)).await.unwrap_or_else(|e| panic!("load dataset: {e:?}"));
}

/// `pg_dump --create --schema-only` with `from` renamed to `to` and the per-run
/// `\restrict` keys removed, for comparing two databases' schemas.
pub fn schema_dump(ep: &Endpoint, db: &str, from: &str, to: &str) -> String {
    let out = Command::new(pg_bin().join("pg_dump"))
        .args(["--create", "--schema-only", "-h", &ep.host, "-p", &ep.port.to_string(), "-U", &ep.user, db])
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump {db}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(|l| l.replace(from, to))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per relation with data (tables, partitions, materialized views): row count and md5 of
/// all rows sorted as text; plus sequences and large objects. Independent of the mover.
pub async fn digests(ep: &Endpoint, db: &str) -> Vec<(String, String)> {
    let c = connect(ep, db).await;
    c.batch_execute("SET datestyle = ISO; SET timezone = 'UTC'; SET extra_float_digits = 3; SET lc_monetary = 'C'").await.unwrap();
    let rels: Vec<(String, String, String)> = c
        .query(
            "SELECT c.relkind::text, n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' \
               AND (c.relkind <> 'm' OR c.relispopulated) ORDER BY 2, 3",
            &[],
        )
        .await
        .unwrap()
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
        let v: String = c.query_one(&sql, &[]).await.unwrap().get(0);
        out.push((format!("{kind} {schema}.{name}"), v));
    }
    for r in c
        .query(
            "SELECT oid::text, lomowner::regrole::text, coalesce(lomacl::text, ''), md5(lo_get(oid)), coalesce(obj_description(oid, 'pg_largeobject'), '') \
             FROM pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await
        .unwrap()
    {
        out.push((format!("lo {}", r.get::<_, String>(0)), format!("{}/{}/{}/{}", r.get::<_, String>(1), r.get::<_, String>(2), r.get::<_, String>(3), r.get::<_, String>(4))));
    }
    out
}

/// A second, throw-away PostgreSQL server on a free port, owned by the `postgres` OS
/// user when running as root (initdb refuses root); stopped and removed on drop.
pub struct SecondServer {
    pub endpoint: Endpoint,
    dir: PathBuf,
}

impl SecondServer {
    pub fn start() -> Self {
        start_second_server()
    }

    /// Crashes the server (immediate shutdown: no checkpoint, sessions cut).
    pub fn crash(&self) {
        let data = self.dir.join("data");
        let st = as_postgres(&pg_bin().join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl stop");
    }

    /// Starts it again after a crash (crash recovery runs first).
    pub fn restart(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let st = as_postgres(&pg_bin().join("pg_ctl"), &["-D", data.to_str().unwrap(), "-o", &server_options(&self.dir, self.endpoint.port), "-l", log.to_str().unwrap(), "-w", "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl start");
    }
}

fn server_options(dir: &Path, port: u16) -> String {
    format!("-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off", dir.to_str().unwrap())
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(&pg_bin().join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn as_postgres(cmd: &Path, args: &[&str]) -> Command {
    let root = nix::unistd::Uid::effective().is_root();
    let mut c = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    };
    c.args(args);
    c
}

fn start_second_server() -> SecondServer {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mover-test-pg-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if nix::unistd::Uid::effective().is_root() {
        let st = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
        assert!(st.success());
    }
    let data = dir.join("data");
    let data_s = data.to_str().unwrap().to_string();
    let st = as_postgres(&pg_bin().join("initdb"), &["-D", &data_s, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run initdb");
    assert!(st.success(), "initdb failed");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = server_options(&dir, port);
    let log = dir.join("log").to_str().unwrap().to_string();
    let st = as_postgres(&pg_bin().join("pg_ctl"), &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(st.success(), "second server did not start; see {log}");
    SecondServer { endpoint: Endpoint { host: "127.0.0.1".into(), port, user: "postgres".into(), password: String::new() }, dir }
}
