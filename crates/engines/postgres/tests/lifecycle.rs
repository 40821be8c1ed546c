//! Provisioning, starting, stopping, adopting and destroying real servers.

#[path = "server_common/mod.rs"]
mod common;

use common::{free_port, OnHost, process_alive, processes_in, recorded_pid, Instance, Sessions, TestDir};
use engine::prelude::*;
use engine::{ErrorKind, Liveness};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// The process group of `/proc/<pid>`.
fn process_group(pid: &str) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(2).unwrap().parse().unwrap()
}


#[test]
fn detect_finds_the_host_binaries() {
    let config = engine_postgres::PostgresConfig::detect().expect("PostgreSQL server binaries are required");
    assert!(config.bin_dir.join("initdb").is_file() && config.bin_dir.join("pg_ctl").is_file());
    // initdb refuses root; as root, every instance runs as a user of its own.
    assert_eq!(config.isolate, nix::unistd::geteuid().is_root());
    let engine = engine_postgres::PostgresEngine::new(config.clone());
    let versions = engine.versions();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let major = config.bin_dir.parent().unwrap().file_name().unwrap().to_str().unwrap();
    assert_eq!(versions[0], format!("{major}.0"));
    assert!(config.bin_dir.join("pg_dump").is_file(), "the client tools the copier runs");
}

#[tokio::test]
async fn provision_lays_out_a_running_server_that_survives_stop_start_restart_and_adoption() {
    let inst = Instance::provision("pgm-life").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    assert_eq!(engine.liveness(spec).await, Liveness::Running);

    let engine_uid = engine::conformance::support::assert_own_layout(spec, engine.config.isolate, "postgres");
    assert!(!spec.dir.join("initdb.pw").exists(), "the initdb password file is removed");
    let mut names: Vec<String> =
        std::fs::read_dir(&spec.dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["admin.json", "data", "server.log", "wal-archive"]);
    // The archiver (the server, as its own user) writes there; nobody else reads it.
    let archive = std::fs::metadata(spec.dir.join("wal-archive")).unwrap();
    assert_eq!((std::os::unix::fs::MetadataExt::uid(&archive), std::os::unix::fs::MetadataExt::mode(&archive) & 0o777), (engine_uid, 0o700));

    // The server runs as configured, as the engine user, and only over TCP.
    let admin = engine.admin(spec).unwrap();
    assert_eq!((admin.host.as_str(), admin.port, admin.user.as_str(), admin.maintenance_db.as_str()), ("127.0.0.1", spec.port, "openrds_admin", "postgres"));
    assert!(admin.password.len() >= 24);
    let c = inst.admin("postgres").await;
    for (name, expected) in [
        ("listen_addresses", "127.0.0.1"),
        ("unix_socket_directories", ""),
        ("max_connections", "40"),
        ("shared_buffers", "128MB"),
        ("effective_cache_size", "384MB"),
        ("password_encryption", "scram-sha-256"),
        ("logging_collector", "off"),
        ("archive_mode", "on"),
        ("server_encoding", "UTF8"),
        ("lc_collate", "C.UTF-8"),
    ] {
        let value: String = c.query_one(&format!("SHOW {name}"), &[]).await.unwrap().get(0);
        assert_eq!(value, expected, "{name}");
    }
    let hba: Vec<(String, Vec<String>, String)> = c
        .query("SELECT type, address, auth_method FROM pg_hba_file_rules WHERE error IS NULL ORDER BY line_number", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), vec![r.get::<_, Option<String>>(1).unwrap_or_default()], r.get(2)))
        .collect();
    assert!(hba.iter().all(|(t, _, m)| t == "host" && m == "scram-sha-256"), "{hba:?}");
    assert!(hba.iter().any(|(_, a, _)| a[0] == "0.0.0.0"), "{hba:?}");
    let pid = recorded_pid(&spec.dir).unwrap();
    assert_eq!(std::fs::metadata(format!("/proc/{pid}")).unwrap().uid(), engine_uid);
    // Its own process group and session: a Ctrl-C aimed at openrds does not reach it.
    let pgid = process_group(&pid.to_string());
    assert_eq!(pgid, pid);
    assert_ne!(pgid, process_group("self"));
    let used = engine.disk_used(spec).await.unwrap();
    assert!(used > 1_000_000, "{used}");
    drop(c);

    // A bad password is refused: the server really checks passwords.
    let err = inst.connect("openrds_admin", "wrong", "postgres").await.unwrap_err();
    assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD), "{err:?}");

    engine.stop(spec).await.unwrap();
    assert_eq!(engine.liveness(spec).await, Liveness::Stopped);
    assert!(!process_alive(pid));
    engine.stop(spec).await.expect("stopping a stopped server is a no-op");
    assert!(engine.disk_used(spec).await.unwrap_err().kind == ErrorKind::Unavailable);

    engine.start(spec).await.unwrap();
    assert_eq!(engine.liveness(spec).await, Liveness::Running);
    let pid = recorded_pid(&spec.dir).unwrap();
    engine.start(spec).await.expect("starting a running server is a no-op");
    assert_eq!(recorded_pid(&spec.dir), Some(pid), "the running server was left alone");

    inst.admin("postgres").await.batch_execute("CREATE DATABASE kept").await.unwrap();
    engine.restart(spec).await.unwrap();
    assert_eq!(engine.liveness(spec).await, Liveness::Running);
    assert_ne!(recorded_pid(&spec.dir), Some(pid), "restart made a new server process");
    assert!(!process_alive(pid));

    // A second adapter, as after openrds restarts, finds the server and drives it.
    let again = engine_postgres::PostgresEngine::new(engine_postgres::PostgresConfig::detect().unwrap());
    assert_eq!(again.liveness(spec).await, Liveness::Running);
    let dbs = again.list_databases(spec).await.unwrap();
    assert_eq!(dbs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["kept"]);
    again.start(spec).await.unwrap();

    // A changed spec (another port, another class) takes effect on restart.
    let mut moved = spec.clone();
    moved.port = free_port();
    moved.settings.max_connections = 60;
    moved.settings.memory_mb = 2048;
    again.restart(&moved).await.unwrap();
    assert_eq!(again.liveness(&moved).await, Liveness::Running);
    assert_eq!(again.liveness(spec).await, Liveness::Unresponsive, "nothing listens on the old port");
    let admin = again.admin(&moved).unwrap();
    let c = common::connect(&moved, &admin.user, &admin.password, "postgres").await.unwrap();
    for (name, expected) in [("max_connections", "60"), ("shared_buffers", "512MB"), ("port", &moved.port.to_string())] {
        let value: String = c.query_one(&format!("SHOW {name}"), &[]).await.unwrap().get(0);
        assert_eq!(value, expected, "{name}");
    }
    drop(c);
    // The new class's memory is the control group's limit, and the server is held by it.
    if again.config.isolate {
        let group = engine::isolation::memory_cgroup(&moved.id).expect("a memory controller");
        let limit = std::fs::read_to_string(group.join("memory.limit_in_bytes")).or_else(|_| std::fs::read_to_string(group.join("memory.max"))).unwrap();
        assert_eq!(limit.trim(), (2048u64 << 20).to_string());
        let pid = recorded_pid(&moved.dir).unwrap();
        let procs = std::fs::read_to_string(group.join("cgroup.procs")).unwrap();
        assert!(procs.lines().any(|p| p == pid.to_string()), "the postmaster {pid} is in its group: {procs}");
        // And its CPUs are the group's quota.
        let cpu = std::path::Path::new("/sys/fs/cgroup/cpu/openrds").join(&moved.id);
        if cpu.is_dir() {
            let quota = std::fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap();
            assert_eq!(quota.trim(), (u64::from(moved.settings.cpu) * 100_000).to_string());
            assert!(std::fs::read_to_string(cpu.join("cgroup.procs")).unwrap().lines().any(|p| p == pid.to_string()));
        }
    }
    let spec = &moved;

    // Destroy: nothing of the server remains, and doing it again is fine.
    let processes = processes_in(&spec.dir.join("data"));
    assert!(processes.len() >= 3, "postmaster and its workers: {processes:?}");
    again.destroy(spec).await.unwrap();
    assert!(!spec.dir.exists());
    for p in processes {
        assert!(!process_alive(p), "process {p} outlived destroy");
    }
    again.destroy(spec).await.expect("destroying a destroyed instance is a no-op");
    assert_eq!(again.liveness(spec).await, Liveness::Stopped);
    let user = engine::isolation::system_user_name(&spec.id);
    assert!(nix::unistd::User::from_name(&user).unwrap().is_none(), "the instance's system user {user} is removed with it");
    assert!(nix::unistd::Group::from_name(&user).unwrap().is_none(), "and its group");
    if let Some(group) = engine::isolation::memory_cgroup(&spec.id) {
        assert!(!group.exists(), "and its control group");
    }
}

#[tokio::test]
async fn destroy_kills_a_server_that_will_not_stop() {
    let inst = Instance::provision("pgm-stuck").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    let pid = recorded_pid(&spec.dir).unwrap();
    let processes = processes_in(&spec.dir.join("data"));
    // A stopped postmaster cannot shut down; destroy must still leave nothing behind.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGSTOP).unwrap();
    let started = std::time::Instant::now();
    let stop_then_kill = engine.destroy(spec).await;
    stop_then_kill.unwrap();
    assert!(!spec.dir.exists());
    for p in processes {
        assert!(!process_alive(p), "process {p} outlived destroy");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}

/// PostgreSQL's side of a failed provision (the conformance suite has the rest): the
/// error says why the server could not start, missing binaries are a host problem, and a
/// parent the engine user cannot enter is named.
#[tokio::test]
async fn a_failed_provision_says_why() {
    let engine = engine_postgres::PostgresEngine::on_host();
    let dir = TestDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = dir.spec("pgm-taken", taken.local_addr().unwrap().port());
    let err = engine.provision(&spec).await.unwrap_err();
    assert!(err.message.contains("Address already in use") || err.message.contains("could not"), "{err}");
    drop(taken);

    let broken = engine_postgres::PostgresEngine::new(engine_postgres::PostgresConfig {
        bin_dir: dir.path().join("no-such-bin"),
        isolate: engine.config.isolate,
    });
    let spec = dir.spec("pgm-nobin", free_port());
    let err = broken.provision(&spec).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::HostSetup, "{err}");
    assert!(!spec.dir.exists());

    if engine.config.isolate {
        let closed = dir.path().join("closed");
        std::fs::create_dir(&closed).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut spec = dir.spec("pgm-closed", free_port());
        spec.dir = closed.join("pgm-closed");
        let err = engine.provision(&spec).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::HostSetup, "{err}");
        assert!(err.message.contains(&closed.display().to_string()), "{err}");
        assert!(!spec.dir.exists());
    }
}

/// An instance made by an earlier version ran as the shared `postgres` user. Started by
/// this version, it moves to a user of its own (files re-owned, server restarted as that
/// user, in its control group), with its data.
#[tokio::test]
async fn an_instance_of_the_shared_engine_user_moves_to_its_own_user_with_its_data() {
    let inst = Instance::provision("pgm-legacy").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    assert!(engine.config.isolate, "these tests run as root, where instances are confined");
    inst.admin("postgres").await.batch_execute("CREATE DATABASE kept").await.unwrap();
    inst.admin("kept").await.batch_execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g").await.unwrap();
    engine.stop(spec).await.unwrap();

    // What an earlier version left: the files of the shared user, no user of its own, and
    // the server running as `postgres`.
    let data = spec.dir.join("data");
    let shared = nix::unistd::User::from_name("postgres").unwrap().expect("the postgres system user");
    for path in [&data, &spec.dir.join("server.log")] {
        let status = std::process::Command::new("chown").arg("-R").arg("postgres:postgres").arg(path).status().unwrap();
        assert!(status.success());
    }
    let own = engine::isolation::system_user_name(&spec.id);
    assert!(std::process::Command::new("userdel").arg(&own).status().unwrap().success());
    let _ = std::process::Command::new("groupdel").arg(&own).status();
    let started = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(engine.config.bin_dir.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(spec.dir.join("server.log"))
        .args(["-w", "-s", "start"])
        .current_dir("/")
        .status()
        .unwrap();
    assert!(started.success());
    let old_pid = recorded_pid(&spec.dir).unwrap();
    assert_eq!(std::fs::metadata(format!("/proc/{old_pid}")).unwrap().uid(), shared.uid.as_raw());

    // openrds upgraded: a new adapter starts it.
    let upgraded = engine_postgres::PostgresEngine::new(engine_postgres::PostgresConfig::detect().unwrap());
    upgraded.start(spec).await.unwrap();
    assert_eq!(upgraded.liveness(spec).await, Liveness::Running);
    let user = nix::unistd::User::from_name(&own).unwrap().expect("the instance's own user is made");
    let pid = recorded_pid(&spec.dir).unwrap();
    assert_ne!(pid, old_pid, "the server was restarted");
    assert!(!process_alive(old_pid));
    assert_eq!(std::fs::metadata(format!("/proc/{pid}")).unwrap().uid(), user.uid.as_raw());
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), user.uid.as_raw());
    assert_eq!(std::fs::metadata(data.join("base")).unwrap().uid(), user.uid.as_raw(), "files below are re-owned too");
    assert_eq!(std::fs::metadata(spec.dir.join("server.log")).unwrap().uid(), user.uid.as_raw());
    let group = engine::isolation::memory_cgroup(&spec.id).unwrap();
    assert!(std::fs::read_to_string(group.join("cgroup.procs")).unwrap().lines().any(|p| p == pid.to_string()));
    let n: i64 = inst.admin("kept").await.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(n, 1000, "no data lost");
    upgraded.destroy(spec).await.unwrap();
    assert!(nix::unistd::User::from_name(&own).unwrap().is_none());
}

/// The user and control groups of an instance whose directory went away without a
/// destroy (a host cleaned by hand) are swept, and a live instance's are kept.
#[tokio::test]
async fn users_of_instances_whose_directory_is_gone_are_swept() {
    let gone = Instance::provision("pgm-swept").await;
    let kept = Instance::provision("pgm-kept").await;
    assert!(gone.engine.config.isolate, "these tests run as root, where instances are confined");
    gone.engine.stop(&gone.spec).await.unwrap();
    std::fs::remove_dir_all(&gone.spec.dir).unwrap();
    engine::isolation::sweep_orphaned_users().await;
    let user = |id: &str| nix::unistd::User::from_name(&engine::isolation::system_user_name(id)).unwrap();
    assert!(user("pgm-swept").is_none(), "the orphan's user is removed");
    assert!(!engine::isolation::memory_cgroup("pgm-swept").unwrap().exists(), "and its control group");
    assert!(user("pgm-kept").is_some(), "a live instance's user stays");
    assert_eq!(kept.engine.liveness(&kept.spec).await, Liveness::Running);
    kept.engine.destroy(&kept.spec).await.unwrap();
}

/// The bytes of the file at `path`, hashed.
fn file_digest(path: &std::path::Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).unwrap().hash(&mut h);
    h.finish()
}

#[tokio::test]
async fn archived_wal_is_a_link_the_server_never_writes_again() {
    let inst = Instance::provision("pgm-walink").await;
    let (engine, spec) = (&inst.engine, &inst.spec);
    let c = inst.admin("postgres").await;
    c.batch_execute("CREATE TABLE filler (v text)").await.unwrap();
    engine.close_log(spec).await.unwrap();
    let segment: String = c.query_one("SELECT last_archived_wal FROM pg_stat_archiver", &[]).await.unwrap().get(0);
    let (archived, live) = (spec.dir.join("wal-archive").join(&segment), spec.dir.join("data/pg_wal").join(&segment));
    assert!(
        engine::backup::same_file(&archived, &live),
        "archiving {segment} gave it a second name, copying nothing"
    );
    let before = file_digest(&archived);

    // Enough WAL and checkpoints for the server to let go of the segment: with recycling,
    // it would rename it to a future segment and write new WAL into the archived bytes.
    for _ in 0..4 {
        c.batch_execute("INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 5000); SELECT pg_switch_wal(); CHECKPOINT")
            .await
            .unwrap();
    }
    assert!(!live.exists(), "the server removed {segment} from pg_wal once it was past two checkpoints");
    assert_eq!(file_digest(&archived), before, "the archived {segment} is unchanged");
    assert_eq!(std::fs::metadata(&archived).unwrap().nlink(), 1, "the archive holds the only name left");
}
