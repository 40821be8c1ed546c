//! Databases and accounts on real servers.

#[path = "server_common/mod.rs"]
mod common;

use common::{Instance, Sessions};
use engine::prelude::*;
use engine::{AccountKind, CharsetSpec, ErrorKind};
use tokio_postgres::error::SqlState;

fn charset(charset: &str, collate: Option<&str>, ctype: Option<&str>) -> CharsetSpec {
    CharsetSpec { charset: charset.into(), collate: collate.map(Into::into), ctype: ctype.map(Into::into) }
}

#[tokio::test]
async fn databases_are_created_listed_measured_and_dropped() {
    let inst = Instance::provision("pgm-dbs").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    assert!(engine.list_databases(spec).await.unwrap().is_empty(), "system databases are not listed");

    engine.create_database(spec, "app", &charset("UTF8", None, None)).await.unwrap();
    engine.create_database(spec, "legacy", &charset("LATIN1", None, None)).await.unwrap();
    engine.create_database(spec, "sorted", &charset("UTF8", Some("C"), Some("C.UTF-8"))).await.unwrap();
    engine.create_database(spec, "We\"ird Name", &charset("UTF8", None, None)).await.unwrap();
    // Made by SQL, not by the API: listed all the same.
    inst.admin("postgres").await.batch_execute("CREATE DATABASE bysql").await.unwrap();

    let dbs = engine.list_databases(spec).await.unwrap();
    let names: Vec<&str> = dbs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["We\"ird Name", "app", "bysql", "legacy", "sorted"]);
    let app = &dbs[1];
    assert_eq!((app.charset.as_str(), app.collate.as_str(), app.ctype.as_str()), ("UTF8", "C.UTF-8", "C.UTF-8"));
    // Owned by the privileged accounts' role, never by the internal superuser.
    assert_eq!((app.owner.as_str(), app.tablespace.as_str(), app.conn_limit), ("rds_superuser", "pg_default", -1));
    assert!(app.size_bytes > 1_000_000, "{}", app.size_bytes);
    let legacy = &dbs[3];
    assert_eq!((legacy.charset.as_str(), legacy.collate.as_str(), legacy.ctype.as_str()), ("LATIN1", "C", "C"));
    let sorted = &dbs[4];
    assert_eq!((sorted.collate.as_str(), sorted.ctype.as_str()), ("C", "C.UTF-8"));

    let err = engine.create_database(spec, "app", &charset("UTF8", None, None)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists, "{err}");
    assert!(err.message.contains("app"), "{err}");

    let err = engine.create_database(spec, "bad1", &charset("NOSUCHENC", None, None)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidCharset, "{err}");
    assert!(err.message.contains("NOSUCHENC") && err.message.contains("C.utf8"), "names what the host offers: {err}");
    let err = engine.create_database(spec, "bad2", &charset("UTF8", Some("de_DE.UTF-8"), None)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidCharset, "{err}");
    assert!(err.message.contains("de_DE.UTF-8") && err.message.contains("C.utf8"), "{err}");
    let err = engine.create_database(spec, "bad3", &charset("LATIN1", Some("C.UTF-8"), Some("C.UTF-8"))).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidCharset, "an encoding its locale does not fit: {err}");
    assert_eq!(engine.list_databases(spec).await.unwrap().len(), 5, "failed creations left nothing");

    // Emptiness, as imports judge it.
    assert_eq!(engine.user_object_count(spec, "app").await.unwrap(), 0);
    let app_conn = inst.admin("app").await;
    app_conn
        .batch_execute("CREATE TABLE t (id serial PRIMARY KEY); CREATE TYPE mood AS ENUM ('ok'); CREATE SCHEMA s; CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        .await
        .unwrap();
    assert!(engine.user_object_count(spec, "app").await.unwrap() >= 6);
    assert_eq!(engine.user_object_count(spec, "nosuchdb").await.unwrap_err().kind, ErrorKind::NotFound);

    // Drop ends the sessions in the way.
    let before = engine.disk_used(spec).await.unwrap();
    engine.drop_database(spec, "app").await.unwrap();
    assert!(app_conn.simple_query("SELECT 1").await.is_err(), "the open session was ended");
    assert!(engine.disk_used(spec).await.unwrap() < before);
    let err = engine.drop_database(spec, "app").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    engine.drop_database(spec, "We\"ird Name").await.unwrap();
    for system in ["postgres", "template0", "template1"] {
        assert_eq!(engine.drop_database(spec, system).await.unwrap_err().kind, ErrorKind::InvalidInput, "{system}");
    }
    let names: Vec<String> = engine.list_databases(spec).await.unwrap().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["bysql", "legacy", "sorted"]);
    engine.destroy(spec).await.unwrap();
}

#[tokio::test]
async fn accounts_log_in_with_their_passwords_and_are_dropped_cleanly() {
    let inst = Instance::provision("pgm-accounts").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    let tricky = r#"pa'ss"w\rd;--$1"#;
    engine.create_account(spec, "alice", tricky, AccountKind::Normal).await.unwrap();
    engine.create_account(spec, "boss", "Boss_pass1", AccountKind::Super).await.unwrap();
    inst.admin("postgres").await.batch_execute("CREATE ROLE nologin_group; CREATE ROLE sqlmade LOGIN PASSWORD 'x'").await.unwrap();

    let accounts = engine.list_accounts(spec).await.unwrap();
    // A role without a login is listed too, as one that cannot log in (imports make such
    // roles; CreateAccount or ResetAccountPassword gives them a login).
    let listed: Vec<(&str, AccountKind, bool)> = accounts.iter().map(|a| (a.name.as_str(), a.kind, a.can_login)).collect();
    assert_eq!(
        listed,
        [
            ("alice", AccountKind::Normal, true),
            ("boss", AccountKind::Super, true),
            ("nologin_group", AccountKind::Normal, false),
            ("sqlmade", AccountKind::Normal, true)
        ]
    );
    assert!(accounts.iter().all(|a| a.privileges.is_empty()));

    // The password arrives intact, quotes and backslashes included.
    inst.connect("alice", tricky, "postgres").await.expect("alice logs in with her password");
    assert!(inst.connect("alice", "pa'ss", "postgres").await.is_err());

    let err = engine.create_account(spec, "alice", "Other_pass1", AccountKind::Normal).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists, "{err}");
    assert!(!err.message.contains("Other_pass1"), "{err}");
    for reserved in ["openrds_admin", "rds_superuser", "pg_monitor"] {
        let err = engine.create_account(spec, reserved, "Some_pass1", AccountKind::Normal).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{reserved}: {err}");
        assert_eq!(engine.drop_account(spec, reserved).await.unwrap_err().kind, ErrorKind::InvalidInput);
        assert_eq!(engine.reset_password(spec, reserved, "x").await.unwrap_err().kind, ErrorKind::InvalidInput);
    }

    // Super accounts are Alibaba's privileged account: they create databases and roles,
    // and work in databases made without an owner, but are not superusers and cannot
    // become one, nor the internal administrator.
    let boss = inst.connect("boss", "Boss_pass1", "postgres").await.unwrap();
    let (is_super, can_db, can_role, can_replicate): (bool, bool, bool, bool) = {
        let r = boss
            .query_one("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication FROM pg_roles WHERE rolname = current_user", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!((is_super, can_db, can_role, can_replicate), (false, true, true, false));
    boss.batch_execute("CREATE DATABASE bossdb").await.unwrap();
    boss.batch_execute("CREATE ROLE app_reader NOLOGIN").await.unwrap();
    engine.create_database(spec, "teamdb", &charset("UTF8", None, None)).await.unwrap();
    let in_team = inst.connect("boss", "Boss_pass1", "teamdb").await.unwrap();
    in_team
        .batch_execute("CREATE TABLE public.t (id int); GRANT SELECT ON public.t TO app_reader; CREATE SCHEMA s; ALTER DATABASE teamdb SET work_mem = '8MB'")
        .await
        .expect("a Super account creates, alters and grants in a database made without an owner");
    for escalation in [
        "ALTER ROLE openrds_admin PASSWORD 'stolen'",
        "GRANT openrds_admin TO boss",
        "ALTER ROLE boss SUPERUSER",
        "ALTER ROLE boss REPLICATION",
    ] {
        let err = boss.batch_execute(escalation).await.unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{escalation}: {err:?}");
    }

    engine.reset_password(spec, "alice", "New_pass1").await.unwrap();
    assert!(inst.connect("alice", tricky, "postgres").await.is_err(), "the old password no longer works");
    inst.connect("alice", "New_pass1", "postgres").await.unwrap();
    assert_eq!(engine.reset_password(spec, "nobody", "New_pass1").await.unwrap_err().kind, ErrorKind::NotFound);

    // Dropping an account that owns a database and objects hands them to the privileged
    // accounts' role (where a Super account still manages them) and ends its sessions.
    let bossdb = inst.connect("boss", "Boss_pass1", "bossdb").await.unwrap();
    bossdb.batch_execute("CREATE TABLE mine (id int); INSERT INTO mine VALUES (1)").await.unwrap();
    engine.drop_account(spec, "boss").await.unwrap();
    assert!(bossdb.simple_query("SELECT 1").await.is_err(), "its session was ended");
    let dbs = engine.list_databases(spec).await.unwrap();
    assert_eq!(dbs.iter().find(|d| d.name == "bossdb").unwrap().owner, "rds_superuser");
    let n: i64 = inst.admin("bossdb").await.query_one("SELECT count(*) FROM mine", &[]).await.unwrap().get(0);
    assert_eq!(n, 1, "its data is kept");
    assert_eq!(engine.drop_account(spec, "boss").await.unwrap_err().kind, ErrorKind::NotFound);
    engine.drop_account(spec, "alice").await.unwrap();
    let names: Vec<String> = engine.list_accounts(spec).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["app_reader", "nologin_group", "sqlmade"], "roles a Super account made stay");

    // No password ever reached the server's log, even from failed statements.
    let log = std::fs::read_to_string(spec.dir.join("server.log")).unwrap();
    for secret in [tricky, "Boss_pass1", "New_pass1", "Other_pass1", "Some_pass1"] {
        assert!(!log.contains(secret), "{secret} in server.log");
    }
    engine.destroy(spec).await.unwrap();
}
