//! The `openrds` binary: parses the command line into plain configuration and hands it to
//! the libraries. Nothing here knows the API's rules.

mod backup;
mod client;
mod demo;
mod import;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "openrds", version, about = "A self-hosted database service with Alibaba Cloud RDS's API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server and supervise the instances.
    Serve(serve::ServeArgs),
    /// Call an RDS action: `openrds rds DescribeDBInstances --RegionId cn-hangzhou`.
    Rds(client::CallArgs),
    /// Call a RAM action: `openrds ram CreateUser --UserName alice`.
    Ram(client::CallArgs),
    /// Import databases between instances and follow the task:
    /// `openrds import --from <src> --to <dst> shop:shop_copy`.
    Import(import::ImportArgs),
    /// Back up an instance and follow the job: `openrds backup --instance <id>`.
    Backup(backup::BackupArgs),
    /// Make a new instance from a backup set and wait for it:
    /// `openrds clone --from <id> --backup-id <n>`.
    Clone(backup::CloneArgs),
    /// Restore databases of a backup set (or of a moment) into an existing instance and
    /// follow the task: `openrds restore --into <id> --backup-id <n> shop:shop_restored`.
    Restore(backup::RestoreArgs),
    /// Run the main job end to end on a temporary data directory, then clean up.
    Demo {
        /// The engine of the two instances, as the API's `Engine` names it (any case);
        /// the registry's first engine if not given.
        #[arg(long)]
        engine: Option<String>,
    },
    /// Operator tooling on a data directory (the server may be running).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create another account with its own root access key; prints the key as JSON.
    Add {
        #[arg(long, env = "OPENRDS_DATA_DIR", default_value = "./openrds-data")]
        data_dir: PathBuf,
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Demo { engine } => demo::run(engine).await,
            Command::Import(args) => import::run(args).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::Clone(args) => backup::clone(args).await,
            Command::Restore(args) => backup::restore(args).await,
            Command::Rds(args) => client::call(wire::RDS_VERSION, args).await,
            Command::Ram(args) => client::call(wire::RAM_VERSION, args).await,
            Command::Tenant { command: TenantCommand::Add { data_dir, name } } => serve::add_tenant(&data_dir, &name).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
