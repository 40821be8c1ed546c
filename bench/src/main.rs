//! openrds benchmarks. Each prints a Markdown table row set for bench/RESULTS.md.
//!
//! - `api`: signed DescribeDBInstances (V3) over loopback against a server holding 100
//!   instances' metadata: throughput and p50/p99 latency at concurrency 1 and 32.
//! - `create`: time from CreateDBInstance to `Running` for real PostgreSQL instances.

use store::prelude::*;
use anyhow::Context;
use clap::{Parser, Subcommand};
use control::{ControlConfig, ControlPlane};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signed DescribeDBInstances throughput and latency.
    Api {
        #[arg(long, default_value_t = 100)]
        instances: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// CreateDBInstance → Running, repeated.
    Create {
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

const KEY: &str = "LTAIbench000000000000000";
const SECRET: &str = "bench-secret-0123456789";

struct Bench {
    plane: Arc<ControlPlane>,
    host: String,
    _dir: tempfile::TempDir,
}

async fn start() -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
    let mut config = ControlConfig::new(dir.path().join("data"));
    config.root_key = Some((KEY.into(), SECRET.into()));
    config.port_range = (26000, 26099);
    let store = Arc::new(store::SqliteStore::open(&dir.path().join("metadata.db"))?);
    let pg = engine_postgres::PostgresConfig::detect().context("PostgreSQL binaries")?;
    let plane = ControlPlane::start(config, store, vec![Arc::new(engine_postgres::PostgresEngine::new(pg))]).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = listener.local_addr()?.to_string();
    let p = plane.clone();
    tokio::spawn(async move { server::serve(listener, p, server::ServerConfig::default(), std::future::pending()).await });
    Ok(Bench { plane, host, _dir: dir })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// The first DescribeDBInstances answer of a load test, read: the count and one entry per
/// instance.
#[derive(serde::Deserialize)]
struct Listing {
    #[serde(rename = "TotalRecordCount")]
    total: u64,
    #[serde(rename = "Items")]
    items: ListingItems,
}

#[derive(serde::Deserialize)]
struct ListingItems {
    #[serde(rename = "DBInstance")]
    instances: Vec<serde::de::IgnoredAny>,
}

/// An answer without its first member, `"RequestId":"…"`, the one part that differs
/// between answers to the same question about unchanged instances.
fn without_request_id(body: &[u8]) -> anyhow::Result<&[u8]> {
    const PREFIX: &[u8] = b"{\"RequestId\":\"";
    anyhow::ensure!(body.starts_with(PREFIX), "the answer does not start with its RequestId");
    let end = body[PREFIX.len()..].iter().position(|b| *b == b'"').ok_or_else(|| anyhow::anyhow!("the RequestId does not end"))?;
    Ok(&body[PREFIX.len() + end + 1..])
}

async fn api(instances: usize, seconds: u64) -> anyhow::Result<()> {
    let bench = start().await?;
    let account = bench.plane.root_account().uid.clone();
    // Metadata only: DescribeDBInstances reads rows, not engines.
    let store = store::SqliteStore::open(&bench._dir.path().join("metadata.db"))?;
    for i in 0..instances {
        let now = chrono::Utc::now();
        store
            .insert_instance(&store::InstanceRow {
                engine: "PostgreSQL".into(),
                class_code: "pg.x4.large.2c".into(),
                status: store::InstanceStatus::Stopped,
                description: format!("bench {i}"),
                ..store::InstanceRow::sample(&format!("pgm-bench{i:015}"), &account, now)
            })
            .await?;
    }
    println!("| concurrency | requests | throughput (req/s) | p50 (ms) | p99 (ms) | p90 (ms) | p99.9 (ms) |");
    println!("|---|---|---|---|---|---|---|");
    // The first answer is read and checked; every later one is checked against it byte
    // for byte, apart from its RequestId: the client shares the two cores with the
    // server, and reading every answer again (60 KB of JSON) cost it a quarter of them,
    // where the figure is meant to be the server's.
    let client = client::Client::new(&bench.host, KEY, SECRET);
    let params = [("RegionId", "cn-hangzhou"), ("PageSize", "100")];
    let (status, first) = client.send_raw("DescribeDBInstances", &params).await?;
    anyhow::ensure!(status == 200, "DescribeDBInstances answered {status}: {}", String::from_utf8_lossy(&first));
    let listing: Listing = serde_json::from_slice(&first)?;
    anyhow::ensure!(listing.total == instances as u64 && listing.items.instances.len() == instances, "wrong count");
    let expected: std::sync::Arc<[u8]> = without_request_id(&first)?.into();
    for concurrency in [1usize, 32] {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (client, expected) = (client.clone(), std::sync::Arc::clone(&expected));
            workers.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let (status, body) = client.send_raw("DescribeDBInstances", &params).await?;
                    anyhow::ensure!(status == 200 && without_request_id(&body)? == &expected[..], "an answer differs from the first");
                    lat.push(t.elapsed());
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await??);
        }
        let elapsed = started.elapsed();
        all.sort();
        println!(
            "| {concurrency} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            all.len(),
            all.len() as f64 / elapsed.as_secs_f64(),
            percentile(&all, 0.5).as_secs_f64() * 1e3,
            percentile(&all, 0.99).as_secs_f64() * 1e3,
            percentile(&all, 0.9).as_secs_f64() * 1e3,
            percentile(&all, 0.999).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

async fn create(rounds: usize) -> anyhow::Result<()> {
    let bench = start().await?;
    let client = client::Client::new(&bench.host, KEY, SECRET);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let id = client.create_instance(&client::NewInstance::new("PostgreSQL", "15.0", "pg.x4.large.2c", 20)).await?;
        loop {
            let body = client.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await?;
            if body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"] == "Running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        times.push(t.elapsed());
        client.call("DeleteDBInstance", &[("DBInstanceId", &id)]).await?;
        while client.call("DescribeDBInstanceAttribute", &[("DBInstanceId", &id)]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut sorted = times.clone();
    sorted.sort();
    println!("| rounds | median (s) | min (s) | max (s) |");
    println!("|---|---|---|---|");
    println!(
        "| {rounds} | {:.2} | {:.2} | {:.2} |",
        percentile(&sorted, 0.5).as_secs_f64(),
        sorted[0].as_secs_f64(),
        sorted[sorted.len() - 1].as_secs_f64()
    );
    bench.plane.shutdown(Duration::from_secs(20)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Api { instances, seconds } => api(instances, seconds).await,
        Command::Create { rounds } => create(rounds).await,
    }
}
