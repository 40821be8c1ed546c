//! Parameters callers may change on a PostgreSQL instance, kept in
//! `data/openrds-parameters.conf`, which postgresql.conf includes after the class's
//! settings and before a restore's. The list leaves out what the class decides (memory:
//! shared_buffers, work_mem, maintenance_work_mem; max_connections): ModifyDBInstanceSpec
//! changes those. A change is written, then the server
//! reloads its configuration: values that need no restart take effect at once.

use super::PostgresEngine;
use engine::instance_dir::{host_error, set_mode};
use engine::lifecycle::data_dir;
use engine::parameters::{ParameterDef, ParameterKind::*};
use engine::{EngineError, InstanceSpec};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub(super) const PARAMETERS_FILE: &str = "openrds-parameters.conf";

const ON_OFF: &[&str] = &["on", "off"];
const MAX_INT: i64 = 2147483647;

/// Units are PostgreSQL's base units for each (`pg_settings.unit`). The two that size
/// shared memory are capped so that no value keeps a server of the smallest class from
/// starting (its lock table is max_locks_per_transaction × (max_connections +
/// max_prepared_transactions) entries of about 270 bytes).
pub(crate) const DEFINITIONS: &[ParameterDef] = &[
    ParameterDef { name: "statement_timeout", kind: Integer { min: 0, max: MAX_INT }, default: "0", restart: false, description: "Statements running longer are canceled, in ms; 0 never." },
    ParameterDef { name: "lock_timeout", kind: Integer { min: 0, max: MAX_INT }, default: "0", restart: false, description: "Waits for a lock longer are canceled, in ms; 0 never." },
    ParameterDef { name: "idle_in_transaction_session_timeout", kind: Integer { min: 0, max: MAX_INT }, default: "0", restart: false, description: "Sessions idle in a transaction longer are ended, in ms; 0 never." },
    ParameterDef { name: "log_min_duration_statement", kind: Integer { min: -1, max: MAX_INT }, default: "1000", restart: false, description: "Statements running at least this long are logged with their duration, in ms; -1 never." },
    ParameterDef { name: "log_statement", kind: Choice(&["none", "ddl", "mod", "all"]), default: "none", restart: false, description: "Which statements are logged." },
    ParameterDef { name: "default_statistics_target", kind: Integer { min: 1, max: 10000 }, default: "100", restart: false, description: "Default sample size of ANALYZE for columns without their own." },
    ParameterDef { name: "effective_io_concurrency", kind: Integer { min: 0, max: 1000 }, default: "1", restart: false, description: "Concurrent disk reads the planner may expect." },
    ParameterDef { name: "max_parallel_workers_per_gather", kind: Integer { min: 0, max: 1024 }, default: "2", restart: false, description: "Parallel workers a query node may start." },
    ParameterDef { name: "jit", kind: Choice(ON_OFF), default: "on", restart: false, description: "Just-in-time compilation of expensive queries." },
    ParameterDef { name: "track_io_timing", kind: Choice(ON_OFF), default: "off", restart: false, description: "Time spent reading and writing blocks is measured." },
    ParameterDef { name: "autovacuum", kind: Choice(ON_OFF), default: "on", restart: false, description: "The autovacuum launcher runs." },
    ParameterDef { name: "max_locks_per_transaction", kind: Integer { min: 10, max: 1024 }, default: "64", restart: true, description: "Object locks a transaction may hold on average (shared lock table size)." },
    ParameterDef { name: "max_prepared_transactions", kind: Integer { min: 0, max: 100 }, default: "0", restart: true, description: "Transactions that may be prepared for two-phase commit at once." },
];

fn file(spec: &InstanceSpec) -> PathBuf {
    data_dir(spec).join(PARAMETERS_FILE)
}

/// `name = 'value'` lines, as postgresql.conf reads them.
fn render(values: &BTreeMap<String, String>) -> String {
    let mut text = String::from("# Parameters set through the API (ModifyParameter); written by openrds.\n");
    for (name, value) in values {
        text.push_str(&format!("{name} = {}\n", super::sql::conf_string(value)));
    }
    text
}

/// Reads what `render` wrote.
fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.split_once('=')?;
            let value = value.trim().trim_matches('\'').replace("''", "'");
            Some((name.trim().to_string(), value))
        })
        .collect()
}

#[async_trait::async_trait]
impl engine::parameters::Parameters for PostgresEngine {
    fn definitions(&self) -> &'static [ParameterDef] {
        DEFINITIONS
    }

    async fn running(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError> {
        let client = self.connect(spec, "postgres").await?;
        let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
        let rows = client
            .query("SELECT name, setting FROM pg_settings WHERE name = ANY($1)", &[&names])
            .await
            .map_err(|e| super::sql::pg_error(e, "read the running parameters"))?;
        Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect())
    }

    fn configured(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError> {
        match std::fs::read_to_string(file(spec)) {
            Ok(text) => Ok(parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(host_error(format!("read {}", file(spec).display()), e)),
        }
    }

    async fn configure(&self, spec: &InstanceSpec, values: &BTreeMap<String, String>) -> Result<(), EngineError> {
        let mut all = self.configured(spec)?;
        all.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        let data = data_dir(spec);
        // Owned as the rest of the data directory: the confined server must read it.
        let owner = std::fs::metadata(&data).map_err(|e| host_error(format!("stat {}", data.display()), e))?;
        let path = file(spec);
        let staged = path.with_extension("conf.part");
        std::fs::write(&staged, render(&all)).map_err(|e| host_error(format!("write {}", staged.display()), e))?;
        set_mode(&staged, 0o600)?;
        std::os::unix::fs::chown(&staged, Some(owner.uid()), Some(owner.gid())).map_err(|e| host_error(format!("chown {}", staged.display()), e))?;
        std::fs::rename(&staged, &path).map_err(|e| host_error(format!("rename {}", staged.display()), e))?;
        // Instances started before this release include the file from their next start;
        // the include is added now so the reload below already reads it.
        Self::ensure_parameters_included(spec)?;
        let client = self.connect(spec, "postgres").await?;
        client.batch_execute("SELECT pg_reload_conf()").await.map_err(|e| super::sql::pg_error(e, "reload the configuration"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_what_was_written() {
        let values: BTreeMap<String, String> = [("statement_timeout".to_string(), "60000".to_string()), ("log_statement".to_string(), "ddl".to_string())].into();
        assert_eq!(parse(&render(&values)), values);
    }

    #[test]
    fn the_list_is_well_formed() {
        engine::parameters::check_list(DEFINITIONS).unwrap();
    }
}
