//! Who may log in from where. MariaDB keeps hosts per account, and API accounts are
//! `'name'@'%'`; the instance's security IP list is enforced by a server-side rule
//! instead: `init_connect` calls `mysql.openrds_check_client()`, which ends any session
//! whose client address is in no listed block. `init_connect` is skipped for accounts with
//! CONNECTION ADMIN (or SUPER): openrds's administrator keeps its access; API accounts,
//! Super included, do not hold it.

use super::sql::{literal, my_error};
use super::MariaDbEngine;
use engine::{EngineError, ErrorKind, InstanceSpec};
use mysql_async::prelude::*;

/// The statement every non-administrator session runs first (also in my.cnf, so it holds
/// from the first start on; until the procedure exists, such sessions are refused).
pub(super) const INIT_CONNECT: &str = "CALL mysql.openrds_check_client()";

/// An IPv4 block as the check compares it: `INET_ATON(client) & mask = network`.
fn network_and_mask(block: &str) -> Result<(u32, u32), EngineError> {
    let bad = || EngineError::new(ErrorKind::InvalidInput, format!("{block} is not an IPv4 address or CIDR block"));
    let (addr, prefix) = match block.split_once('/') {
        Some((a, p)) => (a, p.parse::<u32>().map_err(|_| bad())?),
        None => (block, 32),
    };
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    Ok((u32::from(addr) & mask, mask))
}

const CHECK_PROCEDURE: &str = "CREATE OR REPLACE DEFINER = 'openrds_admin'@'%' PROCEDURE mysql.openrds_check_client()
SQL SECURITY DEFINER
BEGIN
  DECLARE client VARCHAR(255) DEFAULT SUBSTRING_INDEX(USER(), '@', -1);
  IF NOT EXISTS (SELECT 1 FROM mysql.openrds_security_ips WHERE (INET_ATON(client) & mask) = network) THEN
    SIGNAL SQLSTATE '28000' SET MESSAGE_TEXT = 'Access denied: the client address is not in the SecurityIPList of this instance';
  END IF;
END";

#[async_trait::async_trait]
impl engine::AccessControl for MariaDbEngine {
    fn admin(&self, spec: &InstanceSpec) -> Result<engine::AdminConnection, EngineError> {
        super::lifecycle::read_admin(spec)
    }

    /// Replaces the allowed blocks and makes sure the check is in place.
    async fn set_allowed_addresses(&self, spec: &InstanceSpec, allowed: &[String]) -> Result<(), EngineError> {
        let blocks = allowed.iter().map(|b| network_and_mask(b)).collect::<Result<Vec<_>, _>>()?;
        let mut c = self.connect(spec).await?;
        let fail = |e| my_error(e, &format!("apply the security IP list of instance {}", spec.id));
        c.query_drop(
            "CREATE TABLE IF NOT EXISTS mysql.openrds_security_ips \
             (network INT UNSIGNED NOT NULL, mask INT UNSIGNED NOT NULL, PRIMARY KEY (network, mask)) ENGINE=InnoDB",
        )
        .await
        .map_err(fail)?;
        let mut tx = c.start_transaction(mysql_async::TxOpts::default()).await.map_err(fail)?;
        tx.query_drop("DELETE FROM mysql.openrds_security_ips").await.map_err(fail)?;
        for (network, mask) in &blocks {
            tx.exec_drop("INSERT IGNORE INTO mysql.openrds_security_ips VALUES (?, ?)", (network, mask)).await.map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        c.query_drop(CHECK_PROCEDURE).await.map_err(fail)?;
        c.query_drop("GRANT EXECUTE ON PROCEDURE mysql.openrds_check_client TO PUBLIC").await.map_err(fail)?;
        c.query_drop(format!("SET GLOBAL init_connect = {}", literal(INIT_CONNECT))).await.map_err(fail)?;
        let _ = c.disconnect().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_network_and_mask() {
        assert_eq!(network_and_mask("127.0.0.2").unwrap(), (0x7f00_0002, u32::MAX));
        assert_eq!(network_and_mask("10.1.2.3/8").unwrap(), (0x0a00_0000, 0xff00_0000));
        assert_eq!(network_and_mask("0.0.0.0/0").unwrap(), (0, 0));
        for bad in ["10.0.0.0/33", "nope", "1.2.3/8"] {
            assert!(network_and_mask(bad).is_err(), "{bad}");
        }
    }
}
