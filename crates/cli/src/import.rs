//! `openrds import --from <id> --to <id> src[:dst] ...`: starts ImportDatabaseBetweenInstances
//! and follows DescribeImportProgress with progress bars until the task ends. Exits 0 only
//! when the import succeeded; Ctrl-C cancels the task (CancelImport) and waits for it.

use crate::client::ApiArgs;
use anyhow::{bail, Context};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The source instance (SourceDBInstanceId).
    #[arg(long)]
    from: String,
    /// The destination instance (DBInstanceId).
    #[arg(long)]
    to: String,
    /// Databases as `source:destination`, or `name` to keep the name.
    #[arg(required = true)]
    databases: Vec<String>,
    /// How often to ask for progress, in milliseconds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    #[command(flatten)]
    api: ApiArgs,
}

pub(crate) fn db_info(pairs: &[String]) -> anyhow::Result<String> {
    let mut names = serde_json::Map::new();
    for pair in pairs {
        let (src, dst) = pair.split_once(':').unwrap_or((pair, pair));
        if src.is_empty() || dst.is_empty() {
            bail!("{pair:?}: expected source:destination or a database name");
        }
        if names.insert(src.to_string(), json!(dst)).is_some() {
            bail!("the source database {src} is named twice");
        }
    }
    Ok(json!({ "DBNames": names }).to_string())
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

fn rate_eta(bytes_per_sec: f64, eta: Option<f64>) -> String {
    let rate = indicatif::HumanBytes(bytes_per_sec.max(0.0) as u64);
    match eta {
        Some(s) => format!("{rate}/s, ETA {}", indicatif::HumanDuration(Duration::from_secs_f64(s.max(0.0)))),
        None => format!("{rate}/s"),
    }
}

/// Sizes are the source's estimates until a table is loaded: a bar's total is shown as
/// one (`~`) and only ever grows, so a bar never jumps back when an estimate is replaced.
fn set_progress(bar: &ProgressBar, expected: u64, done: u64) {
    bar.set_length(bar.length().unwrap_or(0).max(expected).max(done));
    bar.set_position(done);
}

/// The bars: one for the task, one per database, one per table while it is copied.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    databases: BTreeMap<String, ProgressBar>,
    tables: BTreeMap<String, ProgressBar>,
    /// Bytes of each table at the last poll, for its rate (the bars are set from the
    /// server's figures in jumps, which indicatif's own rate estimate misreads).
    table_bytes: BTreeMap<String, (u64, std::time::Instant)>,
    plain: bool,
    last_line: String,
}

impl Bars {
    fn new() -> Bars {
        let plain = !std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if plain { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
        let total = multi.add(ProgressBar::new(0));
        total.set_style(style("{prefix:>28} [{bar:30}] {bytes:>10}/~{total_bytes:<10} {msg}"));
        total.set_prefix("import");
        Bars { multi, total, databases: BTreeMap::new(), tables: BTreeMap::new(), table_bytes: BTreeMap::new(), plain, last_line: String::new() }
    }

    fn update(&mut self, status: &str, phase: &str, p: &Value) {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        set_progress(&self.total, n(&p["BytesExpected"]), n(&p["BytesDone"]));
        let rate = rate_eta(p["BytesPerSec"].as_f64().unwrap_or(0.0), p["EtaSeconds"].as_f64());
        self.total.set_message(format!("{status}/{phase}, {rate}"));
        for db in p["Databases"].as_array().into_iter().flatten() {
            let name = format!("{} -> {}", db["Source"].as_str().unwrap_or(""), db["Destination"].as_str().unwrap_or(""));
            let bar = self.databases.entry(name.clone()).or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new(0));
                b.set_style(style("{prefix:>28} [{bar:30}] {bytes:>10}/~{total_bytes:<10} {msg}"));
                b.set_prefix(name.clone());
                b
            });
            set_progress(bar, n(&db["BytesExpected"]), n(&db["BytesDone"]));
            bar.set_message(format!("{}, indexes {}/{}", db["Phase"].as_str().unwrap_or(""), n(&db["IndexesDone"]), n(&db["IndexesTotal"])));
            for t in db["Tables"].as_array().into_iter().flatten() {
                let key = format!("{}/{}.{}", db["Destination"].as_str().unwrap_or(""), t["Schema"].as_str().unwrap_or(""), t["Name"].as_str().unwrap_or(""));
                let state = t["State"].as_str().unwrap_or("");
                match (state, self.tables.get(&key)) {
                    ("Copying", None) => {
                        let b = self.multi.add(ProgressBar::new(n(&t["BytesExpected"])));
                        b.set_style(style("{prefix:>28} [{bar:30}] {bytes:>10}/~{total_bytes:<10} {msg}"));
                        b.set_prefix(format!("  {key}"));
                        b.set_position(n(&t["BytesDone"]));
                        self.table_bytes.insert(key.clone(), (n(&t["BytesDone"]), std::time::Instant::now()));
                        self.tables.insert(key, b);
                    }
                    ("Copying", Some(b)) => {
                        let bytes = n(&t["BytesDone"]);
                        set_progress(b, n(&t["BytesExpected"]), bytes);
                        let now = std::time::Instant::now();
                        let (before, at) = self.table_bytes.insert(key.clone(), (bytes, now)).unwrap_or((bytes, now));
                        let secs = now.duration_since(at).as_secs_f64();
                        let rate = if secs > 0.0 { bytes.saturating_sub(before) as f64 / secs } else { 0.0 };
                        b.set_message(format!("{}/s, {} rows", indicatif::HumanBytes(rate as u64), n(&t["RowsDone"])));
                    }
                    (_, Some(_)) => {
                        // Done with its data: the bar makes room for the tables still copying.
                        if let Some(b) = self.tables.remove(&key) {
                            b.finish_and_clear();
                            self.multi.remove(&b);
                        }
                    }
                    _ => {}
                }
            }
        }
        if self.plain {
            let line = format!("{status}/{phase}: {} of {} bytes, {rate}", n(&p["BytesDone"]), n(&p["BytesExpected"]));
            if phase != self.last_line {
                eprintln!("{line}");
                self.last_line = phase.to_string();
            }
        }
    }

    fn finish(&self) {
        for b in self.tables.values().chain(self.databases.values()) {
            b.finish_and_clear();
        }
        self.total.finish_and_clear();
    }
}

pub async fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let api = args.api.client(wire::RDS_VERSION)?;
    let info = db_info(&args.databases)?;
    let started = api
        .call("ImportDatabaseBetweenInstances", &[("DBInstanceId", args.to.as_str()), ("SourceDBInstanceId", &args.from), ("DBInfo", &info)])
        .await?;
    let import_id = started["ImportId"].as_str().context("ImportId in the response")?.to_string();
    eprintln!("ImportId {import_id}: {} -> {} {info}", args.from, args.to);
    follow(&api, &args.to, &import_id, args.poll_ms).await
}

/// Follows the task `import_id` of instance `to` (an import, or a restore into it) with
/// progress bars until it ends; Ctrl-C cancels it. Exits 0 only when it succeeded.
pub(crate) async fn follow(api: &client::Client, to: &str, import_id: &str, poll_ms: u64) -> anyhow::Result<ExitCode> {
    let mut bars = Bars::new();
    let mut cancel_sent = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut failures = 0;
    let last = loop {
        let p = match api.call("DescribeImportProgress", &[("DBInstanceId", to), ("ImportId", import_id)]).await {
            Ok(p) => {
                failures = 0;
                p
            }
            // The task runs on the server whatever happens here: a blip is not its end.
            Err(e) if failures < 10 => {
                failures += 1;
                bars.multi.suspend(|| eprintln!("progress not available ({e}); retrying"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let status = p["Status"].as_str().unwrap_or_default().to_string();
        bars.update(&status, p["Phase"].as_str().unwrap_or_default(), &p["Progress"]);
        if store::ImportStatus::parse(&status).is_some_and(|s| s.is_terminal()) {
            break p;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(poll_ms)) => {}
            _ = &mut ctrl_c => {
                if cancel_sent {
                    // A second Ctrl-C: stop following; the server finishes the cancel.
                    bars.finish();
                    eprintln!("import {import_id} is being canceled; follow it with DescribeImportProgress");
                    return Ok(ExitCode::FAILURE);
                }
                cancel_sent = true;
                ctrl_c.set(tokio::signal::ctrl_c());
                bars.multi.suspend(|| eprintln!("canceling import {import_id} (Ctrl-C again to stop waiting) ..."));
                api.call("CancelImport", &[("DBInstanceId", to), ("ImportId", import_id)]).await?;
            }
        }
    };
    bars.finish();
    print_outcome(&last);
    Ok(if last["Status"] == "Success" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One table of an import's result: `schema.name: N rows, checksum C, destination D verified`.
pub(crate) fn table_outcome(t: &Value) -> String {
    format!(
        "{}.{}: {} rows, checksum {}, destination {} {}",
        t["Schema"].as_str().unwrap_or(""),
        t["Name"].as_str().unwrap_or(""),
        t["Rows"],
        t["SourceChecksum"].as_str().unwrap_or(""),
        t["DestinationChecksum"].as_str().unwrap_or(""),
        if verified(t) { "verified" } else { "NOT VERIFIED" }
    )
}

/// Whether a table of an import's result says it was verified, and its two checksums
/// agree: equal when the destination read the table back, or the destination's row count
/// matching the source's `<rows>:<digest>` when it counted the rows.
pub(crate) fn verified(t: &Value) -> bool {
    let (source, destination) = (t["SourceChecksum"].as_str().unwrap_or(""), t["DestinationChecksum"].as_str().unwrap_or("-"));
    let agree = source == destination || source.split_once(':').is_some_and(|(rows, _)| rows == destination && t["Rows"].as_u64().is_some_and(|n| n.to_string() == rows));
    t["Verified"] == true && agree
}

fn print_outcome(p: &Value) {
    let status = p["Status"].as_str().unwrap_or_default();
    if status != "Success" {
        eprintln!("import {} {status}: {}", p["ImportId"].as_str().unwrap_or(""), p["Error"].as_str().unwrap_or(""));
        return;
    }
    let r = &p["Result"];
    for db in r["Databases"].as_array().into_iter().flatten() {
        println!("{} -> {}", db["Source"].as_str().unwrap_or(""), db["Destination"].as_str().unwrap_or(""));
        for t in db["Tables"].as_array().into_iter().flatten() {
            println!("  {}", table_outcome(t));
        }
    }
    let names = |key: &str| r[key].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).filter(|s| !s.is_empty());
    if let Some(roles) = names("RolesCreated") {
        println!("roles created on the destination, without a login: {roles}");
    }
    if let Some(accounts) = names("AccountsCreated") {
        println!("accounts created on the destination, locked until CreateAccount or ResetAccountPassword gives them a login: {accounts}");
    }
    if let Some(accounts) = names("AccountsMissing") {
        println!("accounts the destination could not be given; their privileges were not carried over: {accounts}");
    }
    println!(
        "import {} succeeded: {} rows, {} in {:.1}s",
        p["ImportId"].as_str().unwrap_or(""),
        r["Rows"],
        indicatif::HumanBytes(r["Bytes"].as_u64().unwrap_or(0)),
        r["ElapsedMs"].as_f64().unwrap_or(0.0) / 1e3
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_the_map_form() {
        assert_eq!(db_info(&["a:b".into(), "c".into()]).unwrap(), r#"{"DBNames":{"a":"b","c":"c"}}"#);
        assert!(db_info(&["a:b".into(), "a:c".into()]).is_err());
        assert!(db_info(&[":b".into()]).is_err());
    }
}
