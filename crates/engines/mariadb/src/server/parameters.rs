//! Parameters callers may change on a MariaDB instance, kept in `<instance>/parameters.cnf`,
//! which my.cnf includes at its end (so a caller's value wins; the list leaves out what
//! the class decides). A change is written, then `SET GLOBAL` applies those the server can
//! change while it runs; the others take effect at its next start.

use super::lifecycle::{config_file, render_settings};
use super::sql::my_error;
use super::MariaDbEngine;
use engine::instance_dir::{host_error, set_mode};
use engine::parameters::{ParameterDef, ParameterKind::*};
use engine::{EngineError, InstanceSpec};
use mysql_async::prelude::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const ON_OFF: &[&str] = &["ON", "OFF"];
const MAX_U32: i64 = 4294967295;
const YEAR_S: i64 = 31536000;

/// Sizes in bytes, times in seconds, as `SHOW GLOBAL VARIABLES` shows them. The one
/// allocated once at start is capped (256 MiB) so that no value keeps a server of the
/// smallest class from starting; per-session buffers are the sessions' own.
pub(crate) const DEFINITIONS: &[ParameterDef] = &[
    ParameterDef { name: "wait_timeout", kind: Integer { min: 1, max: YEAR_S }, default: "28800", restart: false, description: "Idle non-interactive connections are closed after this many seconds." },
    ParameterDef { name: "interactive_timeout", kind: Integer { min: 1, max: YEAR_S }, default: "28800", restart: false, description: "Idle interactive connections are closed after this many seconds." },
    ParameterDef { name: "innodb_lock_wait_timeout", kind: Integer { min: 1, max: 1073741824 }, default: "50", restart: false, description: "Seconds a transaction waits for a row lock before giving up." },
    ParameterDef { name: "lock_wait_timeout", kind: Integer { min: 1, max: YEAR_S }, default: "86400", restart: false, description: "Seconds a statement waits for a metadata lock before giving up." },
    ParameterDef { name: "net_read_timeout", kind: Integer { min: 1, max: YEAR_S }, default: "30", restart: false, description: "Seconds to wait for more data from a connection." },
    ParameterDef { name: "net_write_timeout", kind: Integer { min: 1, max: YEAR_S }, default: "60", restart: false, description: "Seconds to wait for a block to be written to a connection." },
    ParameterDef { name: "max_connect_errors", kind: Integer { min: 1, max: MAX_U32 }, default: "100", restart: false, description: "Interrupted connections from a host before it is blocked." },
    ParameterDef { name: "sort_buffer_size", kind: Integer { min: 32768, max: MAX_U32 }, default: "2097152", restart: false, description: "Bytes each session may use to sort." },
    ParameterDef { name: "join_buffer_size", kind: Integer { min: 128, max: MAX_U32 }, default: "262144", restart: false, description: "Bytes of the buffer for joins without indexes." },
    ParameterDef { name: "tmp_table_size", kind: Integer { min: 1024, max: MAX_U32 }, default: "16777216", restart: false, description: "Largest in-memory internal temporary table, in bytes." },
    ParameterDef { name: "max_heap_table_size", kind: Integer { min: 16384, max: MAX_U32 }, default: "16777216", restart: false, description: "Largest MEMORY table a user may create, in bytes." },
    ParameterDef { name: "table_open_cache", kind: Integer { min: 1, max: 1048576 }, default: "2000", restart: false, description: "Open tables kept for all sessions." },
    ParameterDef { name: "innodb_flush_log_at_trx_commit", kind: Choice(&["0", "1", "2"]), default: "1", restart: false, description: "1: the redo log is flushed at every commit; 2: written at commit, flushed each second; 0: both each second." },
    ParameterDef { name: "sync_binlog", kind: Integer { min: 0, max: MAX_U32 }, default: "1", restart: false, description: "The binary log is synced every this many commit groups; 0 leaves it to the OS (faster writes, commits a host crash may lose from the log)." },
    ParameterDef { name: "slow_query_log", kind: Choice(ON_OFF), default: "ON", restart: false, description: "Statements slower than long_query_time are logged." },
    ParameterDef { name: "innodb_log_buffer_size", kind: Integer { min: 2097152, max: 268435456 }, default: "16777216", restart: true, description: "Bytes of the buffer InnoDB writes its redo log through." },
];

pub(super) fn file(spec: &InstanceSpec) -> PathBuf {
    spec.dir.join("parameters.cnf")
}

fn render(values: &BTreeMap<String, String>) -> String {
    let mut text = String::from("# Parameters set through the API (ModifyParameter); written by openrds.\n[mysqld]\n");
    for (name, value) in values {
        text.push_str(&format!("{name} = {value}\n"));
    }
    text
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(['#', '[']))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect()
}

/// Writes `text` to `path` with the ownership and mode of `like` (the server reads both).
fn write_like(path: &Path, text: &str, like: &Path) -> Result<(), EngineError> {
    let meta = std::fs::metadata(like).map_err(|e| host_error(format!("stat {}", like.display()), e))?;
    let staged = path.with_extension("part");
    std::fs::write(&staged, text).map_err(|e| host_error(format!("write {}", staged.display()), e))?;
    std::os::unix::fs::chown(&staged, Some(meta.uid()), Some(meta.gid())).map_err(|e| host_error(format!("chown {}", staged.display()), e))?;
    set_mode(&staged, meta.mode() & 0o777)?;
    std::fs::rename(&staged, path).map_err(|e| host_error(format!("rename {}", staged.display()), e))
}

#[async_trait::async_trait]
impl engine::parameters::Parameters for MariaDbEngine {
    fn definitions(&self) -> &'static [ParameterDef] {
        DEFINITIONS
    }

    async fn running(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError> {
        let mut c = self.connect(spec).await?;
        let names: Vec<String> = DEFINITIONS.iter().map(|d| format!("'{}'", d.name)).collect();
        let rows: Vec<(String, String)> = c
            .query(format!("SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})", names.join(", ")))
            .await
            .map_err(|e| my_error(e, "read the running parameters"))?;
        Ok(rows.into_iter().collect())
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
        let conf = config_file(spec);
        write_like(&file(spec), &render(&all), &conf)?;
        // my.cnf includes the file from now on (it is rewritten before every start too).
        write_like(&conf, &render_settings(spec), &conf)?;
        let mut c = self.connect(spec).await?;
        for (name, value) in values {
            let def = engine::parameters::find(DEFINITIONS, name);
            if def.is_some_and(|d| !d.restart) {
                // Checked against the definitions: a number or one of their words.
                c.query_drop(format!("SET GLOBAL {name} = {value}")).await.map_err(|e| my_error(e, &format!("set {name}")))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_what_was_written() {
        let values: BTreeMap<String, String> = [("wait_timeout".to_string(), "600".to_string()), ("slow_query_log".to_string(), "ON".to_string())].into();
        assert_eq!(parse(&render(&values)), values);
    }

    #[test]
    fn the_list_is_well_formed() {
        engine::parameters::check_list(DEFINITIONS).unwrap();
    }
}
