//! The API client: signs (V3) and sends any action, prints the JSON, and fails on an error
//! envelope. Credentials and endpoint come from flags, then the environment, then a
//! profile file in the shape of the aliyun CLI's `config.json`, then the server's
//! `<data-dir>/credentials`.

use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CallArgs {
    /// The action, e.g. `DescribeDBInstances`.
    action: String,
    #[command(flatten)]
    api: ApiArgs,
    /// Action parameters: `--Name value` or `--Name=value`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    params: Vec<String>,
}

/// Where the API is and which key signs: flags, then the environment, then a profile
/// file, then the server's credentials file.
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// `host:port` of the openrds API.
    #[arg(long, env = "OPENRDS_ENDPOINT")]
    endpoint: Option<String>,
    #[arg(long, env = "OPENRDS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,
    #[arg(long, env = "OPENRDS_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: Option<String>,
    /// Profile file (aliyun CLI shape); default `~/.openrds/config.json`.
    #[arg(long = "config-path", env = "OPENRDS_CONFIG")]
    config_path: Option<PathBuf>,
    /// Profile name in the profile file; default its `current`.
    #[arg(long, env = "OPENRDS_PROFILE")]
    profile: Option<String>,
    /// A server data directory whose `credentials` file to use as a last resort.
    #[arg(long, env = "OPENRDS_DATA_DIR", default_value = "./openrds-data")]
    data_dir: PathBuf,
}

struct Profile {
    endpoint: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<String>,
}

fn load_profile(args: &ApiArgs) -> anyhow::Result<Profile> {
    let path = match &args.config_path {
        Some(p) => Some(p.clone()),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".openrds/config.json")).filter(|p| p.exists()),
    };
    let Some(path) = path else {
        return Ok(Profile { endpoint: None, access_key_id: None, access_key_secret: None });
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let name = args.profile.clone().or_else(|| doc["current"].as_str().map(String::from)).unwrap_or_else(|| "default".into());
    let profile = doc["profiles"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"].as_str() == Some(&name)))
        .with_context(|| format!("no profile {name:?} in {}", path.display()))?;
    let s = |k: &str| profile[k].as_str().filter(|v| !v.is_empty()).map(String::from);
    Ok(Profile { endpoint: s("endpoint"), access_key_id: s("access_key_id"), access_key_secret: s("access_key_secret") })
}

fn parse_params(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        let Some(name) = arg.strip_prefix("--") else {
            bail!("expected --Name value, got {arg:?}");
        };
        match name.split_once('=') {
            Some((n, v)) => out.push((n.to_string(), v.to_string())),
            None => {
                let value = it.next().with_context(|| format!("--{name} needs a value"))?;
                out.push((name.to_string(), value.clone()));
            }
        }
    }
    Ok(out)
}

impl ApiArgs {
    /// A client for `version`, or why there is none.
    pub fn client(&self, version: &str) -> anyhow::Result<client::Client> {
        let args = self;
        let profile = load_profile(args)?;
        let file = std::fs::read_to_string(args.data_dir.join("credentials"))
            .ok()
            .and_then(|t| control::RootCredentials::parse(&t).map(|c| (c, t)));
        let file_endpoint = file.as_ref().and_then(|(_, t)| {
            t.lines().find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == "endpoint").map(|(_, v)| v.trim().to_string()))
        });
        let endpoint = args.endpoint.clone().or(profile.endpoint).or(file_endpoint).unwrap_or_else(|| "127.0.0.1:8080".into());
        let (key_id, secret) = match (args.access_key_id.clone().or(profile.access_key_id), args.access_key_secret.clone().or(profile.access_key_secret)) {
            (Some(id), Some(secret)) => (id, secret),
            _ => match &file {
                Some((c, _)) => (c.access_key_id.clone(), c.access_key_secret.clone()),
                None => bail!(
                    "no credentials: set OPENRDS_ACCESS_KEY_ID/OPENRDS_ACCESS_KEY_SECRET, pass --access-key-id/--access-key-secret, \
                     write ~/.openrds/config.json, or run next to the server's data directory (--data-dir)"
                ),
            },
        };
        Ok(client::Client::new(&endpoint, &key_id, &secret).with_version(version))
    }
}

pub async fn call(version: &str, args: CallArgs) -> anyhow::Result<ExitCode> {
    let api = args.api.client(version)?;
    let params = parse_params(&args.params)?;
    let reply = api.send(&args.action, &params).await?;
    let pretty = serde_json::to_string_pretty(&reply.body)?;
    if reply.is_success() {
        println!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{pretty}");
        Ok(ExitCode::FAILURE)
    }
}
