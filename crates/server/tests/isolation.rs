//! Isolation of instances, through the API and against real engines: a Super account on
//! instance A that grants itself every power it can still reaches no file of instance B,
//! of openrds, or of the host outside A's directory; and an instance that tries to use
//! more memory than its class promises is held to it while the others keep answering.

mod common;

use engine_postgres::testing::PgConnect;
use common::*;
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn instance_dir(server: &TestServer, id: &str) -> PathBuf {
    server.dir.path().join("data/instances").join(id)
}

/// Files a tenant of another instance must never read or write, and one it may.
struct Targets {
    /// A file of instance B (its data directory).
    other_instance: PathBuf,
    /// openrds's own files: the metadata store (keys and secrets), B's admin credentials.
    openrds: Vec<PathBuf>,
    /// Where an escaping write would land on the host.
    host_writes: Vec<PathBuf>,
}

fn targets(server: &TestServer, b: &str, marker: &str, other_file: &str) -> Targets {
    let b_dir = instance_dir(server, b);
    Targets {
        other_instance: b_dir.join("data").join(other_file),
        openrds: vec![server.dir.path().join("metadata.db"), b_dir.join("admin.json")],
        host_writes: vec![
            PathBuf::from(format!("/tmp/openrds-escape-{marker}")),
            PathBuf::from(format!("/var/tmp/openrds-escape-{marker}")),
            b_dir.join("data").join(format!("escape-{marker}")),
            server.dir.path().join(format!("escape-{marker}")),
        ],
    }
}

fn assert_not_written(paths: &[PathBuf]) {
    for p in paths {
        assert!(!p.exists(), "a tenant of another instance wrote {}", p.display());
    }
}

/// Deletes the instances and checks that each one's system user went with it.
async fn deleted_with_their_users(c: &Client, ids: &[&String]) {
    c.delete_all(ids).await;
    for id in ids {
        assert!(nix::unistd::User::from_name(&user_of(id)).unwrap().is_none(), "the system user of {id} goes with it");
    }
}

fn user_of(id: &str) -> String {
    engine::isolation::system_user_name(id)
}

async fn pg_super(c: &Client, server: &TestServer, id: &str) -> tokio_postgres::Client {
    c.call("CreateAccount", &[("DBInstanceId", id), ("AccountName", "boss"), ("AccountPassword", "Boss_pass1"), ("AccountType", "Super")]).await.ok();
    let login = engine::Login { host: "127.0.0.1".into(), port: c.port(id).await, user: "boss".into(), password: "Boss_pass1".into() };
    let _ = server;
    login.connect("postgres").await
}

/// Reads a file into a temporary table through `COPY`; the error text if the server refused.
async fn pg_read(boss: &tokio_postgres::Client, from: &str) -> Result<Vec<String>, String> {
    boss.batch_execute("TRUNCATE loot").await.unwrap();
    boss.batch_execute(&format!("COPY loot FROM {from}")).await.map_err(|e| format!("{e:?}"))?;
    Ok(boss.query("SELECT line FROM loot", &[]).await.unwrap().iter().map(|r| r.get(0)).collect())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_super_account_with_every_power_it_can_grant_itself_stays_inside_its_instance() {
    let (server, c) = serve().await;
    let (a, b) = c.running_pg_pair("pg.n2.medium.1").await;
    let boss = pg_super(&c, &server, &a).await;

    // Alibaba's privileged account: roles, and work in a database made without an owner.
    boss.batch_execute("CREATE ROLE app_reader NOLOGIN").await.expect("a Super account creates roles");
    c.call("CreateDatabase", &[("DBInstanceId", &a), ("DBName", "shop"), ("CharacterSetName", "UTF8")]).await.ok();
    let login = engine::Login { host: "127.0.0.1".into(), port: c.port(&a).await, user: "boss".into(), password: "Boss_pass1".into() };
    login
        .connect("shop")
        .await
        .batch_execute("CREATE TABLE public.orders (id int); GRANT SELECT ON public.orders TO app_reader")
        .await
        .expect("a Super account creates and grants in a database made by CreateDatabase without an owner");

    // Every power CREATEROLE lets it take on PostgreSQL 15.
    boss.batch_execute("GRANT pg_execute_server_program, pg_read_server_files, pg_write_server_files TO boss")
        .await
        .expect("CREATEROLE grants predefined roles on 15");
    boss.batch_execute("CREATE TEMP TABLE loot (line text)").await.unwrap();

    // What it runs runs as A's own system user, and can read A's own files (so the
    // refusals below are the confinement's, not a broken COPY).
    assert_eq!(pg_read(&boss, "PROGRAM 'id -un'").await.unwrap(), [user_of(&a)]);
    let own = instance_dir(&server, &a).join("data/PG_VERSION");
    assert_eq!(pg_read(&boss, &quote(&own.display().to_string())).await.unwrap(), ["15"]);

    let marker = format!("{}", std::process::id());
    let t = targets(&server, &b, &marker, "PG_VERSION");
    let mut secrets = vec![t.other_instance.clone()];
    secrets.extend(t.openrds.iter().cloned());
    secrets.push(PathBuf::from("/etc/shadow"));
    for secret in &secrets {
        let path = quote(&secret.display().to_string());
        assert!(secret.exists(), "{} exists on the host", secret.display());
        let read = pg_read(&boss, &path).await;
        assert!(read.is_err(), "COPY FROM {} read {read:?}", secret.display());
        let cat = pg_read(&boss, &format!("PROGRAM {}", quote(&format!("cat {}", secret.display())))).await;
        assert!(cat.is_err(), "a program read {}: {cat:?}", secret.display());
    }
    // The other instance's directory and openrds's cannot even be listed.
    let listed = pg_read(&boss, &format!("PROGRAM {}", quote(&format!("ls {} {} 2>&1; true", instance_dir(&server, &b).display(), server.dir.path().display())))).await.unwrap();
    for hidden in [b.as_str(), "metadata.db", "admin.json", "credentials"] {
        assert!(listed.iter().all(|l| !l.contains(hidden) || l.contains("No such file")), "{hidden} shows in {listed:?}");
    }

    for target in &t.host_writes {
        let path = target.display().to_string();
        let _ = boss.batch_execute(&format!("COPY (SELECT 'owned') TO {}", quote(&path))).await;
        let _ = boss.batch_execute(&format!("COPY (SELECT 1) TO PROGRAM {}", quote(&format!("touch {path}")))).await;
    }
    assert_not_written(&t.host_writes);

    // B is untouched and answers.
    assert_eq!(std::fs::read_to_string(&t.other_instance).unwrap().trim(), "15");
    server.admin_of(&c, &b).await.connect("postgres").await.simple_query("SELECT 1").await.unwrap();
    assert_eq!(c.status(&b).await, "Running");
    deleted_with_their_users(&c, &[&a, &b]).await;
}

/// Every privilege bit MariaDB 10.11 knows, as `GRANT ALL ... WITH GRANT OPTION` stores it.
const ALL_PRIVILEGES: u64 = 549_755_813_887;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_super_account_that_edits_the_mysql_schema_stays_inside_its_instance() {
    let (server, c) = serve().await;
    let (a, b) = c.running_mariadb_pair("mariadb.n2.medium.1").await;
    c.call("CreateAccount", &[("DBInstanceId", &a), ("AccountName", "boss"), ("AccountPassword", "Boss_pass1"), ("AccountType", "Super")]).await.ok();
    let login = engine::Login { host: "127.0.0.1".into(), port: c.port(&a).await, user: "boss".into(), password: "Boss_pass1".into() };

    // Its grants leave out FILE and SUPER, but it can write the mysql schema: it gives
    // itself every privilege there, FILE and SUPER included.
    let mut boss = engine_mariadb::testing::connect(&login, None).await;
    boss.query_drop(format!("UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.access', {ALL_PRIVILEGES}) WHERE User = 'boss'"))
        .await
        .expect("a Super account writes its own instance's mysql schema");
    boss.query_drop("FLUSH PRIVILEGES").await.unwrap();
    drop(boss);
    let mut boss = engine_mariadb::testing::connect(&login, None).await;
    let grants: Vec<String> = boss.query("SHOW GRANTS").await.unwrap();
    assert!(grants[0].contains("ALL PRIVILEGES"), "{grants:?}");

    let marker = format!("{}", std::process::id());
    let t = targets(&server, &b, &marker, "mysql/user.frm");
    let mut secrets = vec![t.other_instance.clone(), instance_dir(&server, &b).join("data/ibdata1")];
    secrets.extend(t.openrds.iter().cloned());
    secrets.push(PathBuf::from("/etc/shadow"));
    for secret in &secrets {
        assert!(secret.exists(), "{} exists on the host", secret.display());
        let read: Option<Option<Vec<u8>>> = boss.query_first(format!("SELECT LOAD_FILE({})", quote(&secret.display().to_string()))).await.unwrap();
        assert_eq!(read, Some(None), "LOAD_FILE read {}", secret.display());
        boss.query_drop("CREATE DATABASE IF NOT EXISTS loot").await.unwrap();
        boss.query_drop("CREATE TABLE IF NOT EXISTS loot.t (line LONGBLOB)").await.unwrap();
        let loaded = boss.query_drop(format!("LOAD DATA INFILE {} INTO TABLE loot.t", quote(&secret.display().to_string()))).await;
        assert!(loaded.is_err(), "LOAD DATA read {}", secret.display());
    }
    // SUPER lets it point the server's own logs anywhere: the server still writes only
    // what its own user can, in its own view of the file system.
    for target in &t.host_writes {
        let path = quote(&target.display().to_string());
        let _ = boss.query_drop(format!("SELECT 'owned' INTO OUTFILE {path}")).await;
        if boss.query_drop(format!("SET GLOBAL general_log_file = {path}")).await.is_ok() {
            let _ = boss.query_drop("SET GLOBAL general_log = ON").await;
            let _ = boss.query_drop("SELECT 'logged'").await;
            let _ = boss.query_drop("SET GLOBAL general_log = OFF").await;
        }
    }
    assert_not_written(&t.host_writes);

    // B is untouched and answers.
    let mut bc = engine_mariadb::testing::connect(&server.admin_of(&c, &b).await, None).await;
    bc.query_drop("SELECT 1").await.unwrap();
    assert_eq!(c.status(&b).await, "Running");
    assert_eq!(c.status(&a).await, "Running");
    deleted_with_their_users(&c, &[&a, &b]).await;
}

fn read_number(path: &Path) -> u64 {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_wants_more_memory_than_its_class_is_held_to_it_and_the_others_keep_answering() {
    let (server, c) = serve().await;
    // pg.n2.small.1: 1 GB.
    let (greedy, neighbour) = c.running_pg_pair("pg.n2.small.1").await;
    let group = engine::isolation::memory_cgroup(&greedy).expect("this host has a memory controller");
    let limit_file = if group.join("memory.limit_in_bytes").exists() { "memory.limit_in_bytes" } else { "memory.max" };
    assert_eq!(read_number(&group.join(limit_file)), 1024 << 20, "the class's memory is the group's limit");

    // A sort held in memory (work_mem 4 GB) of about 3 GB of rows.
    let greedy_login = server.admin_of(&c, &greedy).await;
    let hog = greedy_login.connect("postgres").await;
    let hog_task = tokio::spawn(async move {
        hog.batch_execute("SET work_mem = '4GB'").await.unwrap();
        hog.simple_query("SELECT count(*) FROM (SELECT g, repeat('x', 600) AS r FROM generate_series(1, 5000000) g ORDER BY r DESC, g) s").await
    });
    let neighbour_login = server.admin_of(&c, &neighbour).await;
    let mut answered = 0;
    while !hog_task.is_finished() {
        let n = neighbour_login.connect("postgres").await;
        let started = std::time::Instant::now();
        n.simple_query("SELECT 1").await.expect("the neighbour keeps answering");
        assert!(started.elapsed() < Duration::from_secs(5), "the neighbour answered in {:?}", started.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let result = hog_task.await.unwrap();
    let err = result.expect_err("a query needing three times the class's memory must not succeed");
    eprintln!("the greedy query ended with: {err:?}");
    // The kernel's own account of the group: its limit was hit and a process of it (the
    // greedy backend) was killed for it (v1 `memory.oom_control`, v2 `memory.events`).
    let events = ["memory.oom_control", "memory.events"].iter().find_map(|f| std::fs::read_to_string(group.join(f)).ok()).unwrap();
    let oom_kills: u64 = events.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(oom_kills > 0, "the group's limit was enforced by the kernel: {events}");
    assert!(answered > 0, "the neighbour was asked while the greedy query ran");
    let peak_file = if group.join("memory.max_usage_in_bytes").exists() { "memory.max_usage_in_bytes" } else { "memory.peak" };
    if group.join(peak_file).exists() {
        let peak = read_number(&group.join(peak_file));
        assert!(peak <= 1024 << 20, "the group's peak {peak} stayed within its limit");
    }

    // The greedy instance recovers by itself (PostgreSQL restarts its backends) and is
    // still Running.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let login = greedy_login.clone();
        let ok = tokio::time::timeout(Duration::from_secs(5), async move {
            let mut cfg = tokio_postgres::Config::new();
            cfg.host(&login.host).port(login.port).user(&login.user).password(login.password.as_str()).dbname("postgres");
            match cfg.connect(tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    client.simple_query("SELECT 1").await.is_ok()
                }
                Err(_) => false,
            }
        })
        .await
        .unwrap_or(false);
        if ok {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the greedy instance did not recover");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(c.status(&greedy).await, "Running");
    assert_eq!(c.status(&neighbour).await, "Running");
    c.delete_all(&[&greedy, &neighbour]).await;
}
