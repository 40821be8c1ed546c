//! Who may log in from where: `pg_hba.conf`, written from the instance's security IP list
//! and reloaded without a restart. openrds's own administrator may log in from anywhere
//! (with its password, which never leaves the host), so the control plane is never locked
//! out by a list; every other role only from the listed addresses.

use super::{PostgresEngine, ADMIN_USER};
use engine::instance_dir::{host_error, set_mode};
use engine::{EngineError, InstanceSpec};
use std::os::unix::fs::MetadataExt;

/// `pg_hba.conf` for `allowed` (CIDR blocks, already validated): the administrator's
/// lines first, then one line per block for everyone else. No line matches other
/// addresses, so the server refuses them before any password is asked.
pub(super) fn render_hba(allowed: &[String]) -> String {
    let mut hba = String::from(
        "# Written by openrds from the instance's SecurityIPList; edits are lost.\n\
         # Every login is over TCP and proves a password.\n",
    );
    // `replication` is not matched by `all`: the administrator's line for it is what lets
    // pg_basebackup take the instance's backups.
    for any in ["0.0.0.0/0", "::/0"] {
        hba.push_str(&format!("host all {ADMIN_USER} {any} scram-sha-256\n"));
        hba.push_str(&format!("host replication {ADMIN_USER} {any} scram-sha-256\n"));
    }
    for block in allowed {
        hba.push_str(&format!("host all all {block} scram-sha-256\n"));
    }
    hba
}

#[async_trait::async_trait]
impl engine::AccessControl for PostgresEngine {
    fn admin(&self, spec: &InstanceSpec) -> Result<engine::AdminConnection, EngineError> {
        super::lifecycle::read_admin(spec)
    }

    /// Writes the list into `pg_hba.conf` and has the server reload it.
    async fn set_allowed_addresses(&self, spec: &InstanceSpec, allowed: &[String]) -> Result<(), EngineError> {
        let data = spec.dir.join("data");
        let hba = data.join("pg_hba.conf");
        let meta = std::fs::metadata(&data).map_err(|e| host_error(format!("stat {}", data.display()), e))?;
        let staged = data.join("pg_hba.conf.openrds");
        std::fs::write(&staged, render_hba(allowed)).map_err(|e| host_error(format!("write {}", staged.display()), e))?;
        set_mode(&staged, 0o600)?;
        std::os::unix::fs::chown(&staged, Some(meta.uid()), Some(meta.gid())).map_err(|e| host_error(format!("chown {}", staged.display()), e))?;
        // Renamed into place, so the server never reads half a file.
        std::fs::rename(&staged, &hba).map_err(|e| host_error(format!("replace {}", hba.display()), e))?;
        let c = self.connect(spec, "postgres").await?;
        c.simple_query("SELECT pg_reload_conf()")
            .await
            .map_err(|e| super::sql::pg_error(e, &format!("reload the access rules of instance {}", spec.id)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_administrator_is_let_in_from_anywhere() {
        let hba = render_hba(&["127.0.0.2/32".into(), "10.0.0.0/8".into()]);
        let lines: Vec<&str> = hba.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "host all openrds_admin 0.0.0.0/0 scram-sha-256",
                "host replication openrds_admin 0.0.0.0/0 scram-sha-256",
                "host all openrds_admin ::/0 scram-sha-256",
                "host replication openrds_admin ::/0 scram-sha-256",
                "host all all 127.0.0.2/32 scram-sha-256",
                "host all all 10.0.0.0/8 scram-sha-256",
            ]
        );
        assert_eq!(render_hba(&[]).lines().filter(|l| l.starts_with("host all all")).count(), 0);
    }
}
