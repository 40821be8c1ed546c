//! The MariaDB adapter against real servers it provisions: lifecycle, databases,
//! accounts and the privileges they enforce.

#[path = "server_common/mod.rs"]
mod mariadb_common;

use engine::prelude::*;
use engine::{AccountKind, CharsetSpec, ErrorKind, Liveness, Privilege};
use mariadb_common::{connect, free_port, OnHost, process_alive, recorded_pid, Instance, Sessions, TestDir};
use mysql_async::prelude::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};


fn charset(name: &str) -> CharsetSpec {
    CharsetSpec { charset: name.into(), collate: None, ctype: None }
}

#[test]
fn detect_finds_the_host_binaries() {
    let config = engine_mariadb::MariaDbConfig::detect().expect("MariaDB server binaries are required");
    assert!(config.bin_dir.join("mariadb-install-db").is_file() && config.sbin_dir.join("mariadbd").is_file());
    // mariadbd refuses root; as root, every instance runs as a user of its own.
    assert_eq!(config.isolate, nix::unistd::geteuid().is_root());
    assert!(config.bin_dir.join("mariadb-dump").is_file() && config.bin_dir.join("mariadb").is_file());
    let engine = engine_mariadb::MariaDbEngine::new(config);
    assert_eq!(engine.kind(), engine_mariadb::KIND);
    assert_eq!(engine.versions(), vec!["10.11".to_string()]);
}

#[tokio::test]
async fn provision_lays_out_a_running_server_that_survives_stop_start_restart_and_adoption() {
    let inst = Instance::provision("rm-life").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    assert_eq!(engine.liveness(spec).await, Liveness::Running);

    engine::conformance::support::assert_own_layout(spec, engine.config.isolate, "mysql");
    assert!(!spec.dir.join("bootstrap.sql").exists(), "the bootstrap file with the password is removed");
    let cnf = std::fs::read_to_string(spec.dir.join("my.cnf")).unwrap();
    assert!(cnf.contains(&format!("port = {}", spec.port)));
    assert!(spec.dir.join("run/mariadbd.sock").exists(), "a socket of its own");
    let provision_log_len = std::fs::read_to_string(spec.dir.join("server.log")).unwrap().len();

    // The admin logs in over TCP and the server runs with openrds' settings.
    let admin = engine.admin(spec).unwrap();
    assert_eq!((admin.host.as_str(), admin.port, admin.user.as_str(), admin.maintenance_db.as_str()), ("127.0.0.1", spec.port, "openrds_admin", "mysql"));
    let mut c = inst.admin().await;
    let row: (String, String, u64, u64, String) = c
        .query_first("SELECT @@character_set_server, @@collation_server, @@max_connections, @@innodb_buffer_pool_size, @@event_scheduler")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row, ("utf8mb4".into(), "utf8mb4_general_ci".into(), 40, 128 << 20, "ON".into()));
    let row: (u64, u64, u64, u64) = c
        .query_first("SELECT @@innodb_log_file_size, @@skip_name_resolve, @@local_infile, @@log_bin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row, (512 << 20, 1, 1, 1));
    let row: (String, String, u64) = c.query_first("SELECT @@log_bin_basename, @@binlog_format, @@sync_binlog").await.unwrap().unwrap();
    assert_eq!(row, (spec.dir.join("binlog/mariadb-bin").display().to_string(), "ROW".into(), 1));
    assert_eq!(engine::conformance::support::mode(&spec.dir.join("binlog")), 0o700);
    let anonymous: Option<u64> = c.query_first("SELECT COUNT(*) FROM mysql.user WHERE User = ''").await.unwrap();
    assert_eq!(anonymous, Some(0));
    c.disconnect().await.unwrap();

    // The server is in a process group of its own, so it outlives openrds.
    let pid = recorded_pid(&spec.dir).expect("pid file");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp: i32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(pgrp, pid);

    engine.start(spec).await.expect("start is idempotent");
    assert_eq!(recorded_pid(&spec.dir), Some(pid));

    engine.stop(spec).await.unwrap();
    assert_eq!(engine.liveness(spec).await, Liveness::Stopped);
    assert!(!process_alive(pid));
    engine.stop(spec).await.expect("stop is idempotent");

    engine.start(spec).await.unwrap();
    assert_eq!(engine.liveness(spec).await, Liveness::Running);
    let before = recorded_pid(&spec.dir).unwrap();
    engine.restart(spec).await.unwrap();
    let after = recorded_pid(&spec.dir).unwrap();
    assert_ne!(before, after);
    // Later starts run clean. (The first one warns of install-db's host-name proxy grant
    // before the bootstrap removes it; the file limit depends on the host's ulimit.)
    let log = std::fs::read_to_string(spec.dir.join("server.log")).unwrap();
    let complaints: Vec<&str> = log[provision_log_len..]
        .lines()
        .filter(|l| (l.contains("[ERROR]") || l.contains("[Warning]")) && !l.contains("max_open_files"))
        .collect();
    assert!(complaints.is_empty(), "{complaints:#?}");
    assert_eq!(engine.liveness(spec).await, Liveness::Running);

    // A new adapter (openrds restarted) finds the running server and drives it.
    let adopter = engine_mariadb::MariaDbEngine::on_host();
    assert_eq!(adopter.liveness(spec).await, Liveness::Running);
    adopter.create_database(spec, "adopted", &charset("utf8mb4")).await.unwrap();
    adopter.start(spec).await.unwrap();
    assert_eq!(recorded_pid(&spec.dir), Some(after), "adoption starts nothing");

    adopter.destroy(spec).await.unwrap();
    assert!(!spec.dir.exists());
    assert!(!process_alive(after));
    adopter.destroy(spec).await.expect("destroy is idempotent");
    let user = engine::isolation::system_user_name(&spec.id);
    assert!(nix::unistd::User::from_name(&user).unwrap().is_none(), "the instance's system user {user} is removed with it");
}

#[tokio::test]
async fn a_deep_directory_gets_its_socket_in_tmp() {
    let engine = engine_mariadb::MariaDbEngine::on_host();
    let dir = TestDir::new();
    let mut spec = dir.spec("rm-deep", free_port());
    spec.dir = dir.path().join("d".repeat(60)).join("e".repeat(60)).join("rm-deep");
    std::fs::create_dir_all(spec.dir.parent().unwrap()).unwrap();
    for p in [dir.path().join("d".repeat(60)), spec.dir.parent().unwrap().to_path_buf()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let socket = std::path::PathBuf::from("/tmp/openrds-mariadb-rm-deep.sock");
    let guard = Instance { engine, spec: spec.clone(), dir };
    guard.engine.provision(&spec).await.unwrap();
    // A confined server's /tmp is its own: the socket is not on the host's.
    assert_eq!(socket.exists(), !guard.engine.config.isolate);
    assert_eq!(guard.engine.liveness(&spec).await, Liveness::Running);
    guard.engine.destroy(&spec).await.unwrap();
    assert!(!socket.exists(), "destroy removes the socket outside the directory");
}

#[tokio::test]
async fn databases_are_listed_with_their_charsets_and_sizes() {
    let inst = Instance::provision("rm-dbs").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    assert!(engine.list_databases(spec).await.unwrap().is_empty(), "system schemas are not listed");
    for cs in ["utf8mb4", "utf8", "latin1", "gbk"] {
        engine.create_database(spec, &format!("db_{cs}"), &charset(cs)).await.unwrap();
    }
    let collated = CharsetSpec { charset: "utf8mb4".into(), collate: Some("utf8mb4_bin".into()), ctype: None };
    engine.create_database(spec, "db-bin", &collated).await.unwrap();
    let dbs = engine.list_databases(spec).await.unwrap();
    let got: Vec<(&str, &str, &str)> = dbs.iter().map(|d| (d.name.as_str(), d.charset.as_str(), d.collate.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("db-bin", "utf8mb4", "utf8mb4_bin"),
            ("db_gbk", "gbk", "gbk_chinese_ci"),
            ("db_latin1", "latin1", "latin1_swedish_ci"),
            ("db_utf8", "utf8", "utf8mb3_general_ci"),
            ("db_utf8mb4", "utf8mb4", "utf8mb4_general_ci"),
        ]
    );
    assert!(dbs.iter().all(|d| d.conn_limit == -1 && d.owner.is_empty() && d.ctype.is_empty()));

    let err = engine.create_database(spec, "db_utf8", &charset("utf8")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists, "{err}");
    let err = engine.create_database(spec, "other", &charset("klingon")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidCharset, "{err}");
    let bad = CharsetSpec { charset: "latin1".into(), collate: Some("utf8mb4_bin".into()), ctype: None };
    assert_eq!(engine.create_database(spec, "other", &bad).await.unwrap_err().kind, ErrorKind::InvalidCharset);
    let bad = CharsetSpec { charset: "latin1".into(), collate: Some("no_such_collation".into()), ctype: None };
    assert_eq!(engine.create_database(spec, "other", &bad).await.unwrap_err().kind, ErrorKind::InvalidCharset);
    assert_eq!(engine.create_database(spec, "mysql", &charset("utf8")).await.unwrap_err().kind, ErrorKind::InvalidInput);

    // Data shows in disk_used at once, and objects of every kind are counted.
    let empty = engine.disk_used(spec).await.unwrap();
    assert_eq!(engine.user_object_count(spec, "db_utf8mb4").await.unwrap(), 0);
    let mut c = inst.admin().await;
    c.query_drop(
        "CREATE TABLE db_utf8mb4.t (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(1000));
         CREATE VIEW db_utf8mb4.v AS SELECT id FROM db_utf8mb4.t;
         CREATE PROCEDURE db_utf8mb4.p() SELECT 1;
         CREATE TRIGGER db_utf8mb4.tr BEFORE INSERT ON db_utf8mb4.t FOR EACH ROW SET NEW.pad = NEW.pad;
         CREATE EVENT db_utf8mb4.e ON SCHEDULE EVERY 1 DAY DO SELECT 1;
         INSERT INTO db_utf8mb4.t (pad) SELECT REPEAT('x', 1000) FROM seq_1_to_20000;",
    )
    .await
    .unwrap();
    assert_eq!(engine.user_object_count(spec, "db_utf8mb4").await.unwrap(), 5);
    let full = engine.disk_used(spec).await.unwrap();
    assert!(full >= empty + 15_000_000, "disk_used grows with data: {empty} -> {full}");
    assert_eq!(engine.user_object_count(spec, "absent").await.unwrap_err().kind, ErrorKind::NotFound);

    // Dropping ends the sessions using the database.
    let mut user_session = inst.admin().await;
    user_session.query_drop("USE db_utf8mb4").await.unwrap();
    engine.drop_database(spec, "db_utf8mb4").await.unwrap();
    assert!(user_session.query_drop("SELECT 1").await.is_err(), "its session was ended");
    let err = engine.drop_database(spec, "db_utf8mb4").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(engine.disk_used(spec).await.unwrap() < full);
    assert_eq!(engine.drop_database(spec, "mysql").await.unwrap_err().kind, ErrorKind::InvalidInput);
}

/// Whether `sql` succeeds for the session.
async fn allowed(c: &mut mysql_async::Conn, sql: &str) -> bool {
    c.query_drop(sql).await.is_ok()
}

#[tokio::test]
async fn accounts_and_each_privilege_are_enforced() {
    let inst = Instance::provision("rm-acct").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    for db in ["shop", "other"] {
        engine.create_database(spec, db, &charset("utf8mb4")).await.unwrap();
    }
    let mut admin = inst.admin().await;
    admin.query_drop("CREATE TABLE shop.items (id INT PRIMARY KEY); INSERT INTO shop.items VALUES (1)").await.unwrap();
    assert!(engine.list_accounts(spec).await.unwrap().is_empty(), "built-in users are not accounts");

    engine.create_account(spec, "app", "pw'1\\x", AccountKind::Normal).await.unwrap();
    engine.create_account(spec, "boss", "Boss#pw2", AccountKind::Super).await.unwrap();
    assert_eq!(engine.create_account(spec, "app", "x", AccountKind::Normal).await.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(engine.create_account(spec, "root", "x", AccountKind::Normal).await.unwrap_err().kind, ErrorKind::InvalidInput);

    let accounts = engine.list_accounts(spec).await.unwrap();
    let kinds: Vec<(&str, AccountKind)> = accounts.iter().map(|a| (a.name.as_str(), a.kind)).collect();
    assert_eq!(kinds, vec![("app", AccountKind::Normal), ("boss", AccountKind::Super)]);
    assert!(accounts[0].privileges.is_empty());

    // A Normal account sees nothing until granted.
    let mut app = inst.connect("app", "pw'1\\x", None).await.unwrap();
    assert!(!allowed(&mut app, "SELECT * FROM shop.items").await);
    assert!(!allowed(&mut app, "CREATE DATABASE mine").await);
    drop(app);

    // The Super account administers databases and accounts, but not the host.
    let mut boss = inst.connect("boss", "Boss#pw2", None).await.unwrap();
    assert!(allowed(&mut boss, "CREATE DATABASE bosses").await);
    assert!(allowed(&mut boss, "SELECT * FROM shop.items").await);
    assert!(allowed(&mut boss, "CREATE USER helper@'%' IDENTIFIED BY 'x'").await);
    assert!(allowed(&mut boss, "GRANT SELECT ON shop.* TO helper@'%'").await);
    assert!(!allowed(&mut boss, "SET GLOBAL max_connections = 5").await, "no SUPER");
    assert!(!allowed(&mut boss, "SHUTDOWN").await, "no SHUTDOWN");
    assert!(!allowed(&mut boss, "SELECT 1 INTO OUTFILE '/tmp/openrds-boss-test'").await, "no FILE");
    drop(boss);

    // (privilege, statements allowed, statements refused), run in database shop.
    let cases: [(Privilege, &[&str], &[&str]); 4] = [
        (
            Privilege::ReadWrite,
            &["SELECT * FROM items", "INSERT INTO items VALUES (10)", "CREATE TABLE rw (id INT)", "DROP TABLE rw"],
            &["SELECT * FROM other.t", "CREATE USER x@'%'"],
        ),
        (
            Privilege::ReadOnly,
            &["SELECT * FROM items", "LOCK TABLES items READ", "UNLOCK TABLES"],
            &["INSERT INTO items VALUES (20)", "DELETE FROM items", "CREATE TABLE ro (id INT)"],
        ),
        (
            Privilege::DMLOnly,
            &["SELECT * FROM items", "INSERT INTO items VALUES (30)", "UPDATE items SET id = 31 WHERE id = 30", "DELETE FROM items WHERE id = 31"],
            &["CREATE TABLE dml (id INT)", "ALTER TABLE items ADD COLUMN c INT", "DROP TABLE items"],
        ),
        (
            Privilege::DDLOnly,
            &["CREATE TABLE ddl (id INT)", "ALTER TABLE ddl ADD COLUMN c INT", "CREATE INDEX i ON ddl (c)", "DROP TABLE ddl"],
            &["SELECT * FROM items", "INSERT INTO items VALUES (40)", "DELETE FROM items"],
        ),
    ];
    admin.query_drop("CREATE TABLE other.t (id INT)").await.unwrap();
    for (privilege, ok, refused) in cases {
        engine.grant(spec, "app", "shop", privilege).await.unwrap_or_else(|e| panic!("grant {privilege:?}: {e}"));
        let accounts = engine.list_accounts(spec).await.unwrap();
        let app = accounts.iter().find(|a| a.name == "app").unwrap();
        assert_eq!(app.privileges, vec![("shop".to_string(), privilege)], "{privilege:?} reads back");
        assert_eq!(app.privilege_detail.len(), 1);
        let mut c = inst.connect("app", "pw'1\\x", Some("shop")).await.unwrap();
        for sql in ok {
            c.query_drop(*sql).await.unwrap_or_else(|e| panic!("{privilege:?} must allow {sql}: {e}"));
        }
        for sql in refused {
            assert!(!allowed(&mut c, sql).await, "{privilege:?} must refuse {sql}");
        }
    }
    let err = engine.grant(spec, "app", "shop", Privilege::DBOwner).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(engine.grant(spec, "ghost", "shop", Privilege::ReadOnly).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(engine.grant(spec, "app", "absent", Privilege::ReadOnly).await.unwrap_err().kind, ErrorKind::NotFound);

    // A database whose name has a wildcard grants on itself only.
    engine.create_database(spec, "a_b", &charset("utf8mb4")).await.unwrap();
    engine.create_database(spec, "axb", &charset("utf8mb4")).await.unwrap();
    engine.grant(spec, "app", "a_b", Privilege::ReadWrite).await.unwrap();
    let mut c = inst.connect("app", "pw'1\\x", None).await.unwrap();
    assert!(allowed(&mut c, "CREATE TABLE a_b.t (id INT)").await);
    assert!(!allowed(&mut c, "CREATE TABLE axb.t (id INT)").await);
    let app = engine.list_accounts(spec).await.unwrap().into_iter().find(|a| a.name == "app").unwrap();
    assert!(app.privileges.contains(&("a_b".to_string(), Privilege::ReadWrite)), "{:?}", app.privileges);

    // Revoke leaves nothing on the database.
    engine.revoke(spec, "app", "shop").await.unwrap();
    engine.revoke(spec, "app", "shop").await.expect("revoke is idempotent");
    let mut c = inst.connect("app", "pw'1\\x", Some("a_b")).await.unwrap();
    assert!(!allowed(&mut c, "SELECT * FROM shop.items").await);
    let app = engine.list_accounts(spec).await.unwrap().into_iter().find(|a| a.name == "app").unwrap();
    assert_eq!(app.privileges, vec![("a_b".to_string(), Privilege::ReadWrite)]);
    drop(c);

    // Password reset: the old one stops working.
    engine.reset_password(spec, "app", "new-pw").await.unwrap();
    assert!(inst.connect("app", "pw'1\\x", None).await.is_err());
    inst.connect("app", "new-pw", None).await.unwrap();
    assert_eq!(engine.reset_password(spec, "ghost", "x").await.unwrap_err().kind, ErrorKind::NotFound);

    // Drop ends its sessions and its logins.
    let mut session = inst.connect("app", "new-pw", None).await.unwrap();
    engine.drop_account(spec, "app").await.unwrap();
    assert!(session.query_drop("SELECT 1").await.is_err());
    assert!(inst.connect("app", "new-pw", None).await.is_err());
    assert_eq!(engine.drop_account(spec, "app").await.unwrap_err().kind, ErrorKind::NotFound);
    let names: Vec<String> = engine.list_accounts(spec).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, vec!["boss".to_string(), "helper".to_string()]);
}

/// An instance made by an earlier version ran as the shared `mysql` user. Started by this
/// version, it moves to a user of its own (files re-owned, server restarted as that user,
/// in its control group), with its data.
#[tokio::test]
async fn an_instance_of_the_shared_engine_user_moves_to_its_own_user_with_its_data() {
    let inst = Instance::provision("rm-legacy").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    assert!(engine.config.isolate, "these tests run as root, where instances are confined");
    let mut c = inst.admin().await;
    c.query_drop("CREATE DATABASE kept").await.unwrap();
    c.query_drop("CREATE TABLE kept.t (id INT PRIMARY KEY) ENGINE=InnoDB").await.unwrap();
    c.query_drop("INSERT INTO kept.t SELECT seq FROM seq_1_to_1000").await.unwrap();
    drop(c);
    engine.stop(spec).await.unwrap();

    // What an earlier version left: the files of the shared user, no user of its own, and
    // the server running as `mysql`.
    let shared = nix::unistd::User::from_name("mysql").unwrap().expect("the mysql system user");
    for path in ["data", "run", "tmp", "binlog", "server.log"] {
        assert!(std::process::Command::new("chown").arg("-R").arg("mysql:mysql").arg(spec.dir.join(path)).status().unwrap().success());
    }
    assert!(std::process::Command::new("chgrp").arg("mysql").arg(spec.dir.join("my.cnf")).status().unwrap().success());
    let own = engine::isolation::system_user_name(&spec.id);
    assert!(std::process::Command::new("userdel").arg(&own).status().unwrap().success());
    let _ = std::process::Command::new("groupdel").arg(&own).status();
    let log = std::fs::OpenOptions::new().append(true).open(spec.dir.join("server.log")).unwrap();
    let mut old = std::process::Command::new("runuser")
        .args(["-u", "mysql", "--", "/usr/sbin/mariadbd"])
        .arg(format!("--defaults-file={}", spec.dir.join("my.cnf").display()))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .current_dir("/")
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while engine.liveness(spec).await != Liveness::Running {
        assert!(std::time::Instant::now() < deadline, "the old-style server did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let old_pid = recorded_pid(&spec.dir).unwrap();
    assert_eq!(std::fs::metadata(format!("/proc/{old_pid}")).unwrap().uid(), shared.uid.as_raw());

    // openrds upgraded: a new adapter starts it.
    let upgraded = engine_mariadb::MariaDbEngine::new(engine_mariadb::MariaDbConfig::detect().unwrap());
    upgraded.start(spec).await.unwrap();
    let _ = old.wait();
    assert_eq!(upgraded.liveness(spec).await, Liveness::Running);
    let user = nix::unistd::User::from_name(&own).unwrap().expect("the instance's own user is made");
    let pid = recorded_pid(&spec.dir).unwrap();
    assert_ne!(pid, old_pid, "the server was restarted");
    assert_eq!(std::fs::metadata(format!("/proc/{pid}")).unwrap().uid(), user.uid.as_raw());
    for path in ["data", "data/mysql", "run", "tmp", "binlog", "server.log"] {
        assert_eq!(std::fs::metadata(spec.dir.join(path)).unwrap().uid(), user.uid.as_raw(), "{path}");
    }
    let group = engine::isolation::memory_cgroup(&spec.id).unwrap();
    assert!(std::fs::read_to_string(group.join("cgroup.procs")).unwrap().lines().any(|p| p == pid.to_string()));
    let n: Option<u64> = inst.admin().await.query_first("SELECT COUNT(*) FROM kept.t").await.unwrap();
    assert_eq!(n, Some(1000), "no data lost");
    upgraded.destroy(spec).await.unwrap();
    assert!(nix::unistd::User::from_name(&own).unwrap().is_none());
}

/// An import is written to the binary log like any other write: a restore from a backup
/// taken before it, to a moment after it, holds it. Closed files leave the server once
/// archived; a restore to a moment past the archived log fails and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_log_is_archived_and_replays_an_import_made_after_the_backup() {
    let inst = Instance::provision("rm-binlog").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    let mut c = inst.admin().await;
    c.query_drop("CREATE DATABASE src").await.unwrap();
    c.query_drop("CREATE TABLE src.t (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB").await.unwrap();
    c.query_drop("INSERT INTO src.t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000").await.unwrap();
    // With a binary log the server refuses routines of accounts without SUPER, unless
    // told to trust them: API accounts never hold SUPER.
    engine.create_account(spec, "boss", "Str0ng_pass", AccountKind::Super).await.unwrap();
    let mut boss = inst.connect("boss", "Str0ng_pass", Some("src")).await.unwrap();
    boss.query_drop("CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN 2 * x").await.expect("a Super account creates a function");
    boss.query_drop("CREATE TRIGGER t_note BEFORE INSERT ON t FOR EACH ROW SET NEW.note = NEW.note").await.expect("and a trigger");
    drop(boss);
    let backups = TestDir::new();
    let (set, logs) = (backups.path().join("b1"), backups.path().join("log"));
    let taken = engine.take_backup(spec, &set).await.unwrap();
    assert!(taken.log_start.starts_with("mariadb-bin.") && taken.log_start == taken.log_end, "{taken:?}");

    let admin = engine.admin(spec).unwrap();
    let endpoint = mover::Endpoint { host: admin.host, port: admin.port, user: admin.user, password: admin.password };
    let names = [("src".to_string(), "imported".to_string())];
    let opts = mover::CopyOptions { staging_tag: "binlog".into(), jobs: 2, ..mover::CopyOptions::default() };
    engine_mariadb::copier::copy_databases(mover::CopyRequest::new(&endpoint, &endpoint, &names, &opts)).await.expect("import");
    // The next whole second is after the import; the delete comes more than a second later.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let until = now.as_secs() as i64 + 1;
    tokio::time::sleep(std::time::Duration::from_millis(2100) - std::time::Duration::from_nanos(now.subsec_nanos().into())).await;
    c.query_drop("DELETE FROM imported.t").await.unwrap();
    engine.close_log(spec).await.unwrap();
    assert!(engine.archive_logs(spec, &logs).await.unwrap() >= 1);
    // The file closed last may be needed for crash recovery a moment longer; a later sweep
    // finds it archived already and purges it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
        if left.len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "closed files stay on the server: {left:?}");
        assert_eq!(engine.archive_logs(spec, &logs).await.unwrap(), 0, "archived already");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    drop(c);

    let restored = backups.spec("rm-binlog-r", free_port());
    let target = engine::RestoreTarget { until_unix: Some(until), logs: logs.clone() };
    engine.provision_from_backup(&restored, &set, Some(&target)).await.expect("restore to after the import");
    let login = engine.admin(&restored).unwrap();
    let mut r = connect(&restored, &login.user, &login.password, None).await.unwrap();
    let n: Option<u64> = r.query_first("SELECT COUNT(*) FROM imported.t").await.unwrap();
    assert_eq!(n, Some(5000), "the import, replayed");
    drop(r);
    engine.destroy(&restored).await.unwrap();

    // The whole log (a deleted instance's): the delete too.
    let whole = engine::RestoreTarget { until_unix: None, logs: logs.clone() };
    engine.provision_from_backup(&restored, &set, Some(&whole)).await.expect("restore the whole log");
    let mut r = connect(&restored, &login.user, &login.password, None).await.unwrap();
    let n: Option<u64> = r.query_first("SELECT COUNT(*) FROM imported.t").await.unwrap();
    assert_eq!(n, Some(0), "the delete, replayed");
    drop(r);
    engine.destroy(&restored).await.unwrap();

    let past = engine::RestoreTarget { until_unix: Some(engine::backup::now_unix() as i64 + 60), logs };
    let e = engine.provision_from_backup(&restored, &set, Some(&past)).await.expect_err("the log ends before");
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(!restored.dir.exists(), "a failed restore leaves nothing");
}
