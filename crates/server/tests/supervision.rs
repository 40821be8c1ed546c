//! An engine that dies shows in the API within a second or two, and is started again.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// The server's pid, from its pid file (PostgreSQL's first line; MariaDB's only line).
fn server_pid(server: &TestServer, id: &str) -> i32 {
    let dir = server.dir.path().join("data/instances").join(id);
    let file = if id.starts_with("pgm-") { dir.join("data/postmaster.pid") } else { dir.join("run/mariadbd.pid") };
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}; {:?}", file.display(), std::fs::read_to_string(dir.join("server.log")))).lines().next().unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_shows_at_once_and_is_started_again() {
    let (server, c) = serve().await;
    let (pg, maria) = c.running_pg_and_mariadb().await;
    for id in [&pg, &maria] {
        let pid = server_pid(&server, id);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
        let killed = Instant::now();
        loop {
            let status = c.status(id).await;
            if status != "Running" {
                assert_eq!(status, "Rebooting", "{id}");
                break;
            }
            assert!(killed.elapsed() < Duration::from_secs(2), "{id} still looks Running {:?} after its engine died", killed.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.wait_status(id, "Running").await;
        assert_ne!(server_pid(&server, id), pid, "{id} runs a new server");
        // It answers again.
        c.call("CreateDatabase", &[("DBInstanceId", id), ("DBName", "after"), ("CharacterSetName", if id.starts_with("pgm-") { "UTF8" } else { "utf8mb4" })]).await.ok();
    }
    c.delete_all(&[&pg, &maria]).await;
}
