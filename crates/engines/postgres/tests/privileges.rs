//! Each API privilege checked the only way that counts: by connecting as the account and
//! trying what it should and should not be able to do.

#[path = "server_common/mod.rs"]
mod common;

use common::{Instance, Sessions};
use engine::prelude::*;
use engine::{AccountKind, CharsetSpec, Privilege};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

fn utf8() -> CharsetSpec {
    CharsetSpec { charset: "UTF8".into(), collate: None, ctype: None }
}

async fn allowed(c: &Client, sql: &str) {
    if let Err(e) = c.batch_execute(sql).await {
        panic!("{sql}: expected to succeed, got {}", e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string()));
    }
}

async fn denied(c: &Client, sql: &str) {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("{sql}: expected permission denied, but it succeeded"),
        Err(e) => assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{sql}: {e:?}"),
    }
}

async fn denied_all(c: &Client, statements: &[&str]) {
    for sql in statements {
        denied(c, sql).await;
    }
}

/// What `list_accounts` says `account` holds, database by database.
async fn held(inst: &Instance, account: &str) -> Vec<(String, Privilege, String)> {
    let accounts = inst.engine.list_accounts(&inst.spec).await.unwrap();
    let a = accounts.iter().find(|a| a.name == account).unwrap_or_else(|| panic!("{account} not listed"));
    assert_eq!(a.privileges.len(), a.privilege_detail.len());
    a.privileges.iter().zip(&a.privilege_detail).map(|((db, p), (_, d))| (db.clone(), *p, d.clone())).collect()
}

/// A server holding database `db` with the objects `setup` makes as the administrator,
/// and the administrator's session on it.
async fn with_database(id: &str, db: &'static str, setup: &str) -> (Instance, &'static str, Client) {
    let inst = Instance::provision(id).await;
    inst.engine.create_database(&inst.spec, db, &utf8()).await.unwrap();
    let admin = inst.admin(db).await;
    admin.batch_execute(setup).await.unwrap_or_else(|e| panic!("set up {db}: {e}"));
    (inst, db, admin)
}

async fn owner_of(c: &Client, object: &str) -> String {
    c.query_one(&format!("SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = '{object}'::regclass"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn read_only_and_dml_only_are_enforced_and_read_back() {
    let inst = Instance::provision("pgm-ro").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    // Names that need quoting everywhere.
    let db = "shop floor";
    let reader = "o'brien \"r\"";
    engine.create_database(spec, db, &utf8()).await.unwrap();
    engine.create_database(spec, "other", &utf8()).await.unwrap();
    let admin = inst.admin(db).await;
    admin
        .batch_execute(
            "CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('a');
             CREATE SCHEMA sales; CREATE TABLE sales.orders (id int); INSERT INTO sales.orders VALUES (7);
             CREATE VIEW item_names AS SELECT name FROM items;",
        )
        .await
        .unwrap();
    engine.create_account(spec, reader, "Reader_pass1", AccountKind::Normal).await.unwrap();
    engine.create_account(spec, "writer", "Writer_pass1", AccountKind::Normal).await.unwrap();
    engine.grant(spec, reader, db, Privilege::ReadOnly).await.unwrap();
    engine.grant(spec, "writer", db, Privilege::DMLOnly).await.unwrap();

    let r = inst.connect(reader, "Reader_pass1", db).await.unwrap();
    allowed(&r, "SELECT * FROM items; SELECT * FROM sales.orders; SELECT * FROM item_names").await;
    denied_all(&r, &["INSERT INTO items (name) VALUES ('x')", "UPDATE items SET name = 'x'", "DELETE FROM sales.orders", "CREATE TABLE mine (id int)", "CREATE SCHEMA mine"]).await;

    let w = inst.connect("writer", "Writer_pass1", db).await.unwrap();
    allowed(&w, "INSERT INTO items (name) VALUES ('w'); UPDATE items SET name = 'b' WHERE name = 'a'; DELETE FROM sales.orders; SELECT * FROM items").await;
    denied_all(&w, &["TRUNCATE items", "CREATE TABLE mine (id int)", "CREATE SCHEMA mine", "ALTER TABLE items ADD COLUMN x int"]).await;

    // Objects the administrator makes later (an import, say) are covered too, in new
    // schemas as well.
    admin.batch_execute("CREATE TABLE later (id int); INSERT INTO later VALUES (1); CREATE SCHEMA fresh; CREATE TABLE fresh.t (id int)").await.unwrap();
    allowed(&r, "SELECT * FROM later; SELECT * FROM fresh.t").await;
    denied(&r, "INSERT INTO later VALUES (2)").await;
    allowed(&w, "INSERT INTO later VALUES (2); INSERT INTO fresh.t VALUES (1)").await;

    assert_eq!(held(&inst, reader).await, [(db.to_string(), Privilege::ReadOnly, "CONNECT,USAGE,SELECT".to_string())]);
    assert_eq!(held(&inst, "writer").await, [(db.to_string(), Privilege::DMLOnly, "CONNECT,USAGE,SELECT,INSERT,UPDATE,DELETE".to_string())]);

    // A grant replaces what was held; it does not add to it.
    engine.grant(spec, reader, db, Privilege::DMLOnly).await.unwrap();
    allowed(&r, "INSERT INTO items (name) VALUES ('r')").await;
    engine.grant(spec, reader, db, Privilege::ReadOnly).await.unwrap();
    denied(&r, "INSERT INTO items (name) VALUES ('r')").await;
    assert_eq!(held(&inst, reader).await[0].1, Privilege::ReadOnly);

    // Privileges are per database.
    let other = inst.connect(reader, "Reader_pass1", "other").await.unwrap();
    inst.admin("other").await.batch_execute("CREATE TABLE secret (id int)").await.unwrap();
    denied(&other, "SELECT * FROM secret").await;

    engine.revoke(spec, reader, db).await.unwrap();
    denied_all(&r, &["SELECT * FROM items", "SELECT * FROM sales.orders"]).await;
    admin.batch_execute("CREATE TABLE after_revoke (id int)").await.unwrap();
    denied(&r, "SELECT * FROM after_revoke").await;
    assert!(held(&inst, reader).await.is_empty());
    // The writer was not touched.
    allowed(&w, "INSERT INTO after_revoke VALUES (1)").await;
    engine.revoke(spec, reader, db).await.expect("revoking nothing is fine");

    assert_eq!(engine.grant(spec, "nobody", db, Privilege::ReadOnly).await.unwrap_err().kind, engine::ErrorKind::NotFound);
    assert_eq!(engine.grant(spec, "writer", "nodb", Privilege::ReadOnly).await.unwrap_err().kind, engine::ErrorKind::NotFound);
    assert_eq!(engine.revoke(spec, "nobody", db).await.unwrap_err().kind, engine::ErrorKind::NotFound);
    assert_eq!(engine.grant(spec, "writer", "postgres", Privilege::ReadOnly).await.unwrap_err().kind, engine::ErrorKind::InvalidInput);

    // Dropping an account clears its grants everywhere.
    engine.drop_account(spec, "writer").await.unwrap();
    engine.destroy(spec).await.unwrap();
}

#[tokio::test]
async fn read_write_and_ddl_only_are_enforced_and_see_each_other() {
    let setup = "CREATE TABLE base (id int GENERATED ALWAYS AS IDENTITY, v text); INSERT INTO base (v) VALUES ('a');
             CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'; REVOKE EXECUTE ON FUNCTION answer() FROM PUBLIC;
             CREATE PROCEDURE noop() LANGUAGE sql AS 'SELECT 1'; REVOKE EXECUTE ON PROCEDURE noop() FROM PUBLIC;";
    let (inst, db, admin) = with_database("pgm-rw", "app", setup).await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    for (name, pw) in [("early", "Early_pass1"), ("rw", "Rw_pass1"), ("ddl", "Ddl_pass1"), ("late", "Late_pass1")] {
        engine.create_account(spec, name, pw, AccountKind::Normal).await.unwrap();
    }
    // Granted before the creators exist: must still see what they make.
    engine.grant(spec, "early", db, Privilege::ReadOnly).await.unwrap();
    engine.grant(spec, "rw", db, Privilege::ReadWrite).await.unwrap();
    engine.grant(spec, "ddl", db, Privilege::DDLOnly).await.unwrap();

    let rw = inst.connect("rw", "Rw_pass1", db).await.unwrap();
    allowed(&rw, "SELECT * FROM base; INSERT INTO base (v) VALUES ('rw'); UPDATE base SET v = 'x'; DELETE FROM base WHERE v = 'y'; TRUNCATE base").await;
    allowed(&rw, "SELECT answer(); CALL noop()").await;
    allowed(&rw, "CREATE TABLE rw_table (id serial, v text); INSERT INTO rw_table (v) VALUES ('1'); CREATE TEMP TABLE scratch (id int)").await;
    admin.batch_execute("CREATE SCHEMA rw_schema").await.unwrap();
    allowed(&rw, "CREATE TABLE rw_schema.t (id int); INSERT INTO rw_schema.t VALUES (1)").await;
    // Schemas are the database owner's to make.
    denied_all(&rw, &["CREATE SCHEMA mine", "ALTER TABLE base ADD COLUMN x int", "DROP TABLE base"]).await;

    let ddl = inst.connect("ddl", "Ddl_pass1", db).await.unwrap();
    allowed(&ddl, "CREATE TABLE ddl_table (id int); INSERT INTO ddl_table VALUES (1); ALTER TABLE ddl_table ADD COLUMN v text; CREATE TEMP TABLE scratch (id int)").await;
    denied_all(&ddl, &["SELECT * FROM base", "INSERT INTO base (v) VALUES ('d')", "SELECT * FROM rw_table", "SELECT answer()"]).await;

    // What the creators made is readable by the read-only account granted before them,
    // and by one granted after.
    let early = inst.connect("early", "Early_pass1", db).await.unwrap();
    allowed(&early, "SELECT * FROM rw_table; SELECT * FROM rw_schema.t; SELECT * FROM ddl_table").await;
    denied(&early, "INSERT INTO rw_table (v) VALUES ('e')").await;
    engine.grant(spec, "late", db, Privilege::ReadOnly).await.unwrap();
    let late = inst.connect("late", "Late_pass1", db).await.unwrap();
    allowed(&late, "SELECT * FROM rw_table; SELECT * FROM rw_schema.t; SELECT * FROM ddl_table; SELECT * FROM base").await;
    rw.batch_execute("CREATE TABLE rw_later (id int)").await.unwrap();
    ddl.batch_execute("CREATE TABLE ddl_later (id int)").await.unwrap();
    allowed(&late, "SELECT * FROM rw_later; SELECT * FROM ddl_later").await;
    allowed(&early, "SELECT * FROM rw_later; SELECT * FROM ddl_later").await;
    // The read-write account works on what the DDL account makes, as on the admin's.
    allowed(&rw, "INSERT INTO ddl_later VALUES (1)").await;

    assert_eq!(held(&inst, "rw").await, [(db.to_string(), Privilege::ReadWrite, "CONNECT,TEMPORARY,USAGE,CREATE,ALL".to_string())]);
    assert_eq!(held(&inst, "ddl").await, [(db.to_string(), Privilege::DDLOnly, "CONNECT,TEMPORARY,USAGE,CREATE".to_string())]);
    assert_eq!(held(&inst, "early").await[0].1, Privilege::ReadOnly);
    assert_eq!(held(&inst, "late").await[0].1, Privilege::ReadOnly);

    engine.revoke(spec, "rw", db).await.unwrap();
    denied_all(&rw, &["SELECT * FROM base", "CREATE TABLE again (id int)", "CREATE TABLE rw_schema.again (id int)"]).await;
    assert!(held(&inst, "rw").await.is_empty());
    // What it made stays readable by the others.
    allowed(&late, "SELECT * FROM rw_table; SELECT * FROM rw_later").await;

    engine.grant(spec, "ddl", db, Privilege::ReadWrite).await.unwrap();
    allowed(&ddl, "SELECT * FROM base; SELECT answer()").await;
    assert_eq!(held(&inst, "ddl").await[0].1, Privilege::ReadWrite);
    engine.grant(spec, "ddl", db, Privilege::DDLOnly).await.unwrap();
    denied(&ddl, "SELECT * FROM base").await;
    assert_eq!(held(&inst, "ddl").await[0].1, Privilege::DDLOnly);

    // Every account with grants can be dropped; what it owned goes to the privileged
    // accounts' role.
    for name in ["early", "rw", "ddl", "late"] {
        engine.drop_account(spec, name).await.unwrap_or_else(|e| panic!("drop {name}: {e}"));
    }
    assert_eq!(owner_of(&admin, "ddl_table").await, "rds_superuser");
    assert!(engine.list_accounts(spec).await.unwrap().is_empty());
    engine.destroy(spec).await.unwrap();
}

#[tokio::test]
async fn db_owner_owns_the_database_and_its_objects_until_revoked() {
    let setup = "CREATE SCHEMA app; CREATE TABLE app.t (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, s serial, v text);
             INSERT INTO app.t (v) VALUES ('a'); CREATE VIEW app.v AS SELECT * FROM app.t;
             CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) FROM app.t; CREATE SEQUENCE app.standalone;
             CREATE TYPE app.mood AS ENUM ('ok', 'meh'); CREATE DOMAIN app.pos AS int CHECK (VALUE > 0);
             CREATE TYPE app.pair AS (a int, b int); CREATE TYPE app.span AS RANGE (subtype = int4);
             CREATE FUNCTION app.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
             CREATE PROCEDURE app.p() LANGUAGE sql AS 'SELECT 1';
             CREATE AGGREGATE app.total(int) (sfunc = int4pl, stype = int);
             CREATE TABLE parted (k int) PARTITION BY RANGE (k); CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
             CREATE EXTENSION IF NOT EXISTS plpgsql;";
    let (inst, db, admin) = with_database("pgm-owner", "appdb", setup).await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    engine.create_account(spec, "owner1", "Owner_pass1", AccountKind::Normal).await.unwrap();
    engine.create_account(spec, "reader", "Reader_pass1", AccountKind::Normal).await.unwrap();
    engine.grant(spec, "reader", db, Privilege::ReadOnly).await.unwrap();
    engine.grant(spec, "owner1", db, Privilege::DBOwner).await.unwrap();

    let dbinfo = engine.list_databases(spec).await.unwrap().into_iter().find(|d| d.name == db).unwrap();
    assert_eq!(dbinfo.owner, "owner1");
    let owners: Vec<(String, String)> = admin
        .query(
            "SELECT 'schema ' || nspname, pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname IN ('app', 'public')
             UNION ALL SELECT 'rel ' || oid::regclass::text, pg_get_userbyid(relowner)::text FROM pg_class
               WHERE relnamespace IN ('app'::regnamespace, 'public'::regnamespace) AND relkind IN ('r', 'p', 'v', 'm', 'S', 'c')
             UNION ALL SELECT 'type ' || oid::regtype::text, pg_get_userbyid(typowner)::text FROM pg_type
               WHERE typnamespace = 'app'::regnamespace AND typtype IN ('e', 'd', 'r', 'm')
             UNION ALL SELECT 'routine ' || oid::regprocedure::text, pg_get_userbyid(proowner)::text FROM pg_proc
               WHERE pronamespace = 'app'::regnamespace",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(owners.len() >= 17, "{owners:?}");
    for (object, owner) in &owners {
        // PostgreSQL 15's public schema belongs to whoever owns the database.
        let expected = if object == "schema public" { "pg_database_owner" } else { "owner1" };
        assert_eq!(owner, expected, "{object}");
    }

    let o = inst.connect("owner1", "Owner_pass1", db).await.unwrap();
    allowed(&o, "ALTER TABLE app.t ADD COLUMN extra int; INSERT INTO app.t (v) VALUES ('o'); REFRESH MATERIALIZED VIEW app.mv").await;
    allowed(&o, "CREATE SCHEMA own; CREATE TABLE own.t (id int); CREATE TABLE public.pt (id int); SELECT app.f(1); SELECT app.total(1)").await;
    allowed(&o, "DROP VIEW app.v").await;
    assert_eq!(held(&inst, "owner1").await[0].1, Privilege::DBOwner);
    assert!(held(&inst, "owner1").await[0].2.starts_with("OWNER"));
    // The reader granted under the previous owner sees what the new owner makes.
    let r = inst.connect("reader", "Reader_pass1", db).await.unwrap();
    allowed(&r, "SELECT * FROM own.t; SELECT * FROM public.pt; SELECT * FROM app.t").await;
    denied(&r, "INSERT INTO own.t VALUES (1)").await;

    // Replacing DBOwner by ReadOnly gives the database and everything in it back to the
    // privileged accounts' role, where a Super account still manages it.
    engine.grant(spec, "owner1", db, Privilege::ReadOnly).await.unwrap();
    let dbinfo = engine.list_databases(spec).await.unwrap().into_iter().find(|d| d.name == db).unwrap();
    assert_eq!(dbinfo.owner, "rds_superuser");
    for object in ["app.t", "app.mv", "app.standalone", "own.t", "public.pt", "parted", "parted_1"] {
        assert_eq!(owner_of(&admin, object).await, "rds_superuser", "{object}");
    }
    allowed(&o, "SELECT * FROM app.t; SELECT * FROM own.t").await;
    denied_all(&o, &["INSERT INTO app.t (v) VALUES ('x')", "ALTER TABLE own.t ADD COLUMN y int", "CREATE SCHEMA again"]).await;
    assert_eq!(held(&inst, "owner1").await[0].1, Privilege::ReadOnly);

    engine.grant(spec, "owner1", db, Privilege::DBOwner).await.unwrap();
    assert_eq!(owner_of(&admin, "app.t").await, "owner1");
    engine.revoke(spec, "owner1", db).await.unwrap();
    assert_eq!(owner_of(&admin, "app.t").await, "rds_superuser");
    let dbinfo = engine.list_databases(spec).await.unwrap().into_iter().find(|d| d.name == db).unwrap();
    assert_eq!(dbinfo.owner, "rds_superuser");
    denied(&o, "SELECT * FROM app.t").await;
    assert!(held(&inst, "owner1").await.is_empty());
    // The reader is unaffected throughout.
    allowed(&r, "SELECT * FROM app.t; SELECT * FROM own.t").await;

    // Owning a database does not stop it from being dropped.
    engine.grant(spec, "owner1", db, Privilege::DBOwner).await.unwrap();
    engine.drop_database(spec, db).await.unwrap();
    engine.drop_account(spec, "owner1").await.unwrap();
    engine.destroy(spec).await.unwrap();
}

#[tokio::test]
async fn concurrent_grants_on_one_database_all_apply() {
    let inst = Instance::provision("pgm-concurrent").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    engine.create_database(spec, "busy", &utf8()).await.unwrap();
    inst.admin("busy").await.batch_execute("CREATE TABLE t (id int)").await.unwrap();
    let levels = [Privilege::ReadOnly, Privilege::DMLOnly, Privilege::ReadWrite, Privilege::DDLOnly, Privilege::ReadOnly, Privilege::ReadWrite];
    for i in 0..levels.len() {
        engine.create_account(spec, &format!("acct{i}"), "Acct_pass1", AccountKind::Normal).await.unwrap();
    }
    let grants = levels.iter().enumerate().map(|(i, p)| {
        let name = format!("acct{i}");
        async move { engine.grant(spec, &name, "busy", *p).await }
    });
    for result in futures_join_all(grants).await {
        result.unwrap();
    }
    let accounts = engine.list_accounts(spec).await.unwrap();
    for (i, p) in levels.iter().enumerate() {
        let a = accounts.iter().find(|a| a.name == format!("acct{i}")).unwrap();
        assert_eq!(a.privileges, [("busy".to_string(), *p)], "acct{i}");
    }
    engine.destroy(spec).await.unwrap();
}

/// Runs the futures concurrently on this task (the engine is borrowed, not 'static).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut results: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(results.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}
