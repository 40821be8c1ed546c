use anyhow::Context;
use clap::Args;
use control::{ControlConfig, ControlPlane};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address the API listens on.
    #[arg(long, env = "OPENRDS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for metadata, credentials and instances.
    #[arg(long, env = "OPENRDS_DATA_DIR", default_value = "./openrds-data")]
    data_dir: PathBuf,
    /// Address engines listen on, and clients are told to connect to.
    #[arg(long, env = "OPENRDS_ENGINE_HOST", default_value = "127.0.0.1")]
    engine_host: String,
    /// Ports handed to new instances, `LOW-HIGH`.
    #[arg(long, env = "OPENRDS_PORT_RANGE", default_value = "15432-16431", value_parser = parse_range)]
    port_range: (u16, u16),
    /// Regions served, `region:zone[+zone...]`, comma-separated; the first is the default.
    #[arg(long, env = "OPENRDS_REGIONS", default_value = "cn-hangzhou:cn-hangzhou-h")]
    regions: String,
    /// Seconds between checks that running engines are alive.
    #[arg(long, env = "OPENRDS_SUPERVISE_SECS", default_value_t = 10)]
    supervise_secs: u64,
    /// Seconds between samples of each running instance's performance counters
    /// (DescribeDBInstancePerformance).
    #[arg(long, env = "OPENRDS_PERFORMANCE_SAMPLE_SECS", default_value_t = 60)]
    performance_sample_secs: u64,
    /// Days performance samples are kept.
    #[arg(long, env = "OPENRDS_PERFORMANCE_RETENTION_DAYS", default_value_t = 7)]
    performance_retention_days: u64,
    /// Root access key id (with OPENRDS_ACCESS_KEY_SECRET); generated when absent.
    #[arg(long, env = "OPENRDS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,
    #[arg(long, env = "OPENRDS_ACCESS_KEY_SECRET", hide_env_values = true, hide = true)]
    access_key_secret: Option<String>,
    /// How imports verify each table: `stream` reads the source once and has the destination
    /// load and count every row sent; `full` also reads every copied table back (PostgreSQL:
    /// row hashes compared; MariaDB: CHECKSUM TABLE on both sides; slower; see
    /// docs/decisions.md).
    #[arg(long, env = "OPENRDS_IMPORT_VERIFICATION", value_enum, default_value_t = ImportVerification::Stream)]
    import_verification: ImportVerification,
    /// Where backups are kept (0700, openrds only); `<data-dir>/backups` when not given.
    /// Backups outlive the instances they were taken of.
    #[arg(long, env = "OPENRDS_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// Log lines as `text` (colours only on a terminal) or `json` (one object a line).
    #[arg(long, env = "OPENRDS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportVerification {
    Stream,
    Full,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("expected LOW-HIGH")?;
    let lo: u16 = a.trim().parse().map_err(|_| "LOW is not a port")?;
    let hi: u16 = b.trim().parse().map_err(|_| "HIGH is not a port")?;
    if lo == 0 || lo > hi {
        return Err("LOW must be 1 or more and not above HIGH".into());
    }
    Ok((lo, hi))
}

fn parse_regions(s: &str) -> anyhow::Result<Vec<control::Region>> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, zones) = item.split_once(':').with_context(|| format!("region {item:?} must be region:zone"))?;
        let local_name = match id {
            "cn-hangzhou" => "China (Hangzhou)".to_string(),
            other => other.to_string(),
        };
        out.push(control::Region {
            id: id.to_string(),
            local_name,
            zones: zones.split('+').map(String::from).collect(),
        });
    }
    anyhow::ensure!(!out.is_empty(), "at least one region is needed");
    Ok(out)
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| {
            let quiet: Vec<String> = registry::QUIET_LOG_TARGETS.iter().map(|t| format!("{t}=warn")).collect();
            tracing_subscriber::EnvFilter::new(format!("info,{}", quiet.join(",")))
        });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        // Colour codes only where a person reads them: a file or a pipe gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// The engines of the registry this host can run; the others are named in the log.
pub fn engines() -> Vec<Arc<dyn engine::Engine>> {
    let (found, missing) = registry::detect();
    for (catalogue, e) in missing {
        tracing::warn!(engine = %catalogue.kind, error = %e, "engine not available on this host");
    }
    found
}

async fn open_store(data_dir: &Path) -> anyhow::Result<Arc<dyn store::MetadataStore>> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    let store = store::SqliteStore::open(&data_dir.join("metadata.db")).context("open the metadata store")?;
    Ok(Arc::new(store))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let mut config = ControlConfig::new(&args.data_dir);
    config.engine_host = args.engine_host;
    config.port_range = args.port_range;
    config.regions = parse_regions(&args.regions)?;
    config.supervise_every = Duration::from_secs(args.supervise_secs.max(1));
    config.performance_sample_every = Duration::from_secs(args.performance_sample_secs.max(1));
    config.performance_retention = Duration::from_secs(args.performance_retention_days.max(1) * 86_400);
    config.advertised_endpoint = args.listen.to_string();
    config.backup_dir = args.backup_dir;
    config.import_verification = match args.import_verification {
        ImportVerification::Stream => control::Verification::Stream,
        ImportVerification::Full => control::Verification::ReadBack,
    };
    config.root_key = match (args.access_key_id, args.access_key_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => anyhow::bail!("OPENRDS_ACCESS_KEY_ID and OPENRDS_ACCESS_KEY_SECRET must be given together"),
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listen on {}", args.listen))?;
    let store = open_store(&args.data_dir).await?;
    let plane = ControlPlane::start(config, store, engines()).await.context("start the control plane")?;
    let server_config = server::ServerConfig { host_id: args.listen.to_string(), ..Default::default() };
    tracing::info!(listen = %listener.local_addr()?, data_dir = %args.data_dir.display(), "openrds serving");
    server::serve(listener, plane.clone(), server_config, shutdown_signal()).await.context("serve HTTP")?;
    tracing::info!("stopped accepting calls; stopping background work");
    plane.shutdown(Duration::from_secs(20)).await;
    tracing::info!("bye; instances keep running and are adopted at the next start");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

pub async fn add_tenant(data_dir: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let store = open_store(data_dir).await?;
    let (account, key) = control::identity::create_tenant(store.as_ref(), name).await?;
    println!(
        "{}",
        serde_json::json!({"AccountId": account.uid, "AccountName": account.name,
            "AccessKeyId": key.access_key_id, "AccessKeySecret": key.access_key_secret})
    );
    Ok(ExitCode::SUCCESS)
}
