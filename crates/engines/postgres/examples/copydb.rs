//! Copies PostgreSQL databases with the copier from the command line, for measurements:
//! `copydb <host:port> <src>:<dst> [<src>:<dst>...]` with `MOVER_JOBS`, `MOVER_SPLIT_MB`,
//! `MOVER_PG_BIN` and `MOVER_DEST=<host:port>` (defaults: the source server) in the
//! environment. User `PGUSER` (default `postgres`), password from `PGPASSWORD`, and on the
//! destination from `MOVER_DEST_PASSWORD` where set.

use engine_postgres::copier::copy_databases;
use mover::{CopyOptions, CopyRequest, Endpoint};
use std::time::Instant;

fn endpoint(addr: &str, password: String) -> Endpoint {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "5432"));
    Endpoint {
        host: host.to_string(),
        port: port.parse().expect("port"),
        user: std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into()),
        password,
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_target(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: copydb <host:port> <src>:<dst>...");
        std::process::exit(2);
    }
    let password = std::env::var("PGPASSWORD").unwrap_or_default();
    let source = endpoint(&args[0], password.clone());
    let dest_password = std::env::var("MOVER_DEST_PASSWORD").unwrap_or(password);
    let dest = std::env::var("MOVER_DEST").map(|d| endpoint(&d, dest_password)).unwrap_or_else(|_| source.clone());
    let names: Vec<(String, String)> = args[1..]
        .iter()
        .map(|p| {
            let (s, d) = p.split_once(':').expect("src:dst");
            (s.to_string(), d.to_string())
        })
        .collect();
    let env = |k: &str| std::env::var(k).ok();
    let opts = CopyOptions {
        jobs: env("MOVER_JOBS").and_then(|v| v.parse().ok()).unwrap_or(4),
        split_bytes: env("MOVER_SPLIT_MB").and_then(|v| v.parse::<u64>().ok()).map(|m| m << 20).unwrap_or(u64::MAX),
        index_memory_mb: env("MOVER_INDEX_MB").and_then(|v| v.parse().ok()).unwrap_or(512),
        staging_tag: format!("cli{}", std::process::id()),
        ..CopyOptions::default()
    };
    let started = Instant::now();
    let tool_dir = std::path::PathBuf::from(env("MOVER_PG_BIN").unwrap_or_default());
    let r = copy_databases(&tool_dir, CopyRequest::new(&source, &dest, &names, &opts)).await;
    match r {
        Ok(report) => {
            println!("{:.2}s rows={} bytes={}", started.elapsed().as_secs_f64(), report.rows, report.bytes);
            if env("MOVER_REPORT").is_some() {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            }
        }
        Err(e) => {
            eprintln!("copy failed: {e}");
            std::process::exit(1);
        }
    }
}
