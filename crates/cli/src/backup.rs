//! `openrds backup --instance <id>`: CreateBackup, then DescribeBackupTasks with a progress
//! bar (bytes, rate, ETA) until the job ends, and the set's DescribeBackups entry.
//! `openrds clone --from <id> --backup-id <n>`: CloneDBInstance, then the new instance's
//! state until it is Running. `openrds restore --into <id> --backup-id <n> src[:dst]...`:
//! RecoveryDBInstance into an existing instance, followed like an import. Each exits 0
//! only on success.

use crate::client::ApiArgs;
use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The instance to back up (DBInstanceId).
    #[arg(long)]
    instance: String,
    /// How often to ask for progress, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args, Debug)]
pub struct CloneArgs {
    /// The instance whose backup to restore (DBInstanceId; it may have been deleted).
    #[arg(long)]
    from: String,
    /// The backup set (BackupId, from DescribeBackups or `openrds backup`).
    #[arg(long)]
    backup_id: String,
    /// The new instance's class (DBInstanceClass); the source's if not given.
    #[arg(long)]
    class: Option<String>,
    /// The new instance's storage in GB (DBInstanceStorage); the source's if not given.
    #[arg(long)]
    storage: Option<u32>,
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The instance the databases are restored into (TargetDBInstanceId).
    #[arg(long)]
    into: String,
    /// The backup set (BackupId).
    #[arg(long, conflicts_with = "restore_time")]
    backup_id: Option<String>,
    /// Instead of a set: the moment to restore, `yyyy-MM-ddTHH:mm:ssZ` (RestoreTime), with
    /// the instance it is of (`--from`).
    #[arg(long, requires = "from")]
    restore_time: Option<String>,
    /// The instance whose backup or log to restore (DBInstanceId; it may have been deleted).
    #[arg(long)]
    from: Option<String>,
    /// Databases as `source:destination`, or `name` to keep the name.
    #[arg(required = true)]
    databases: Vec<String>,
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    #[command(flatten)]
    api: ApiArgs,
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    if args.backup_id.is_none() && args.restore_time.is_none() {
        bail!("give --backup-id, or --restore-time with --from");
    }
    let api = args.api.client(wire::RDS_VERSION)?;
    let names = crate::import::db_info(&args.databases)?;
    let names: Value = serde_json::from_str(&names)?;
    let names = names["DBNames"].to_string();
    let mut params = vec![("TargetDBInstanceId", args.into.as_str()), ("DbNames", names.as_str())];
    for (key, value) in [("BackupId", &args.backup_id), ("RestoreTime", &args.restore_time), ("DBInstanceId", &args.from)] {
        if let Some(v) = value {
            params.push((key, v.as_str()));
        }
    }
    let started = api.call("RecoveryDBInstance", &params).await?;
    let task = started["OrderId"].as_str().context("OrderId in the response")?.to_string();
    eprintln!("restore {task}: into {} {names}", args.into);
    crate::import::follow(&api, &args.into, &task, args.poll_ms).await
}

fn bar(plain: bool) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if plain {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{prefix} [{bar:40}] {bytes}/{total_bytes} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let api = args.api.client(wire::RDS_VERSION)?;
    let started = api.call("CreateBackup", &[("DBInstanceId", args.instance.as_str())]).await?;
    let job = started["BackupJobId"].as_str().context("BackupJobId in the response")?.to_string();
    eprintln!("BackupJobId {job}: backing up {}", args.instance);
    let plain = !std::io::stderr().is_terminal();
    let progress = bar(plain);
    progress.set_prefix(format!("backup {job}"));
    let mut last_line = String::new();
    let ended = loop {
        let tasks = api.call("DescribeBackupTasks", &[("DBInstanceId", args.instance.as_str()), ("BackupJobId", &job)]).await?;
        let task = tasks["Items"]["BackupJob"].get(0).cloned().context("the backup job is not listed")?;
        let done = task["BackupBytesDone"].as_u64().unwrap_or(0);
        let expected = task["BackupBytesExpected"].as_u64().unwrap_or(0);
        progress.set_length(expected.max(done));
        progress.set_position(done);
        let eta = task["EstimatedSecondsLeft"].as_u64().map(|s| format!(", ETA {}", indicatif::HumanDuration(Duration::from_secs(s)))).unwrap_or_default();
        let status = task["BackupStatus"].as_str().unwrap_or_default().to_string();
        progress.set_message(format!("{status}{eta}"));
        if plain {
            let line = format!("backup {job}: {status} {}%", task["Process"].as_str().unwrap_or("0"));
            if line != last_line {
                eprintln!("{line}");
                last_line = line;
            }
        }
        if status == "Finished" || status == "Failed" {
            break task;
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    };
    progress.finish_and_clear();
    if ended["BackupStatus"] != "Finished" {
        eprintln!("backup {job} failed: {}", ended["Error"].as_str().unwrap_or("(no reason given)"));
        return Ok(ExitCode::FAILURE);
    }
    let set = api.call("DescribeBackups", &[("DBInstanceId", args.instance.as_str()), ("BackupId", &job)]).await?;
    let set = set["Items"]["Backup"].get(0).cloned().unwrap_or(Value::Null);
    println!("{}", serde_json::to_string_pretty(&set)?);
    Ok(ExitCode::SUCCESS)
}

pub async fn clone(args: CloneArgs) -> anyhow::Result<ExitCode> {
    let api = args.api.client(wire::RDS_VERSION)?;
    let storage = args.storage.map(|s| s.to_string());
    let mut params = vec![("DBInstanceId", args.from.as_str()), ("BackupId", args.backup_id.as_str()), ("PayType", "Postpaid")];
    if let Some(c) = &args.class {
        params.push(("DBInstanceClass", c));
    }
    if let Some(s) = &storage {
        params.push(("DBInstanceStorage", s));
    }
    let made = api.call("CloneDBInstance", &params).await?;
    let id = made["DBInstanceId"].as_str().context("DBInstanceId in the response")?.to_string();
    eprintln!("{id}: restoring backup {} of {}", args.backup_id, args.from);
    let spinner = ProgressBar::new_spinner();
    if !std::io::stderr().is_terminal() {
        spinner.set_draw_target(ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    loop {
        let reply = api.send("DescribeDBInstanceAttribute", &[("DBInstanceId".to_string(), id.clone())]).await?;
        if !reply.is_success() {
            spinner.finish_and_clear();
            // A clone that cannot be restored (its set failed verification) is removed.
            bail!("the clone {id} failed and was removed: {}", reply.body["Message"].as_str().unwrap_or_default());
        }
        let status = reply.body["Items"]["DBInstanceAttribute"][0]["DBInstanceStatus"].as_str().unwrap_or_default().to_string();
        spinner.set_message(format!("{id}: {status} ({:.0} s)", started.elapsed().as_secs_f64()));
        spinner.tick();
        if status == "Running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    }
    spinner.finish_and_clear();
    println!("{id} is Running ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
