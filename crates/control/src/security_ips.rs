//! Security IP lists (ModifySecurityIps, DescribeDBInstanceIPArrayList): which client
//! addresses may log in to an instance's engine, in named whitelist groups. The engine
//! enforces their union in its own access control (`AccessControl::set_allowed_addresses`); the store keeps
//! the groups. The engine is changed first, so a refused change leaves the old list in
//! force and recorded.

use wire::Action;
use crate::{Caller, ControlError, ControlPlane, Result};
use store::{InstanceRow, SecurityIpGroup};

/// The group CreateDBInstance's `SecurityIPList` fills, and ModifySecurityIps' default.
pub const DEFAULT_GROUP: &str = "default";
/// Alibaba's limits: addresses and blocks per instance, groups per instance.
const MAX_ENTRIES: usize = 1000;
const MAX_GROUPS: usize = 200;

/// How ModifySecurityIps changes a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModifyMode {
    Cover,
    Append,
    Delete,
}

impl ModifyMode {
    pub fn parse(value: Option<&str>) -> Result<ModifyMode> {
        match value.unwrap_or("Cover") {
            "Cover" => Ok(ModifyMode::Cover),
            "Append" => Ok(ModifyMode::Append),
            "Delete" => Ok(ModifyMode::Delete),
            other => Err(ControlError::invalid("ModifyMode", format!("{other:?} must be Cover, Append or Delete"))),
        }
    }
}

/// One entry in canonical form: `a.b.c.d` for one address (kept as given), `a.b.c.d/n`
/// for a block. The engine is given `a.b.c.d/32` for a single address.
fn canonical(entry: &str) -> Result<(String, String)> {
    let bad = |why: &str| ControlError::SecurityIpFormat(format!("The specified SecurityIPList entry {entry:?} is not valid: {why}."));
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad("the prefix length must be a number from 0 to 32"))?)),
        None => (entry, None),
    };
    let ip: std::net::Ipv4Addr = addr.parse().map_err(|_| bad("expected an IPv4 address such as 192.168.0.1 or a CIDR block such as 10.0.0.0/8"))?;
    match prefix {
        None => Ok((entry.to_string(), format!("{ip}/32"))),
        Some(p) if p <= 32 => Ok((format!("{ip}/{p}"), format!("{ip}/{p}"))),
        Some(_) => Err(bad("the prefix length must be 0 to 32")),
    }
}

/// Parses a comma-separated list: each entry valid, none twice, not empty.
pub fn parse_list(text: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for entry in text.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(ControlError::SecurityIpFormat(format!("The specified SecurityIPList {text:?} is not valid: it has an empty entry.")));
        }
        let (shown, _) = canonical(entry)?;
        if out.contains(&shown) {
            return Err(ControlError::SecurityIpDuplicate(format!("The specified SecurityIPList has {shown} twice.")));
        }
        out.push(shown);
    }
    if out.len() > MAX_ENTRIES {
        return Err(ControlError::SecurityIpQuota(format!("An instance holds at most {MAX_ENTRIES} addresses and blocks; this list has {}.", out.len())));
    }
    Ok(out)
}

/// What the engine enforces for `groups`: every block of every group, once.
fn engine_blocks(groups: &[SecurityIpGroup]) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for entry in groups.iter().flat_map(|g| g.ips.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
        if let Ok((_, block)) = canonical(entry) {
            if !blocks.contains(&block) {
                blocks.push(block);
            }
        }
    }
    blocks
}

fn group(name: &str, ips: &[String], attribute: &str) -> SecurityIpGroup {
    SecurityIpGroup {
        name: name.to_string(),
        ips: ips.join(","),
        attribute: attribute.to_string(),
        ip_type: "IPv4".into(),
        network_type: "MIX".into(),
    }
}

/// What ModifySecurityIps asks for.
#[derive(Debug, Clone)]
pub struct ModifySecurityIps {
    pub ips: String,
    pub group: Option<String>,
    pub mode: ModifyMode,
    pub attribute: Option<String>,
}

impl ControlPlane {
    /// The instance's groups; one that never had any has `default` with the list it was
    /// created with.
    pub(crate) async fn ip_groups(&self, row: &InstanceRow) -> Result<Vec<SecurityIpGroup>> {
        let groups = self.store.security_ip_groups(&row.id).await?;
        if !groups.is_empty() {
            return Ok(groups);
        }
        let ips: Vec<String> = row.security_ip_list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        Ok(vec![group(DEFAULT_GROUP, &ips, "")])
    }

    /// Has the engine enforce the instance's recorded list (after provisioning, and at
    /// start for instances of earlier versions, whose lists were not enforced).
    pub(crate) async fn apply_security_ips(&self, row: &InstanceRow) -> Result<()> {
        let groups = self.ip_groups(row).await?;
        let engine = self.engine_of(row)?;
        engine.set_allowed_addresses(&self.spec(row)?, &engine_blocks(&groups)).await?;
        Ok(())
    }

    pub async fn describe_security_ips(&self, caller: &Caller, id: &str) -> Result<Vec<SecurityIpGroup>> {
        let row = self.authorized_instance(caller, Action::DescribeDBInstanceIPArrayList, id).await?;
        self.ip_groups(&row).await
    }

    pub async fn modify_security_ips(&self, caller: &Caller, id: &str, req: ModifySecurityIps) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifySecurityIps, id).await?;
        let name = req.group.clone().unwrap_or_else(|| DEFAULT_GROUP.to_string());
        if name.is_empty() || name.len() > 120 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ControlError::invalid("DBInstanceIPArrayName", format!("{name:?} must be 1 to 120 letters, digits or underscores")));
        }
        let entries = parse_list(&req.ips)?;
        Self::require_running(&row)?;
        // One change at a time per instance: two read-modify-writes must not interleave.
        let _engine = self.lock_engine(&row.id).await;
        let mut groups = self.ip_groups(&row).await?;
        let position = groups.iter().position(|g| g.name == name);
        let current: Vec<String> = position.map(|i| groups[i].ips.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default();
        let updated: Vec<String> = match req.mode {
            ModifyMode::Cover => entries,
            ModifyMode::Append => {
                let mut all = current.clone();
                for e in entries {
                    if !all.contains(&e) {
                        all.push(e);
                    }
                }
                all
            }
            ModifyMode::Delete => current.iter().filter(|e| !entries.contains(e)).cloned().collect(),
        };
        let attribute = req.attribute.clone().or_else(|| position.map(|i| groups[i].attribute.clone())).unwrap_or_default();
        match (position, updated.is_empty()) {
            (Some(i), true) if name != DEFAULT_GROUP => {
                groups.remove(i);
            }
            (_, true) => {
                return Err(ControlError::SecurityIpFormat(format!(
                    "The whitelist group {name} would be left empty; at least one address must remain (use 0.0.0.0/0 to allow every address, 127.0.0.1 to allow none from outside)."
                )))
            }
            (Some(i), false) => groups[i] = group(&name, &updated, &attribute),
            (None, false) => groups.push(group(&name, &updated, &attribute)),
        }
        if groups.len() > MAX_GROUPS {
            return Err(ControlError::SecurityIpQuota(format!("An instance holds at most {MAX_GROUPS} whitelist groups.")));
        }
        let total: usize = groups.iter().map(|g| g.ips.split(',').filter(|s| !s.trim().is_empty()).count()).sum();
        if total > MAX_ENTRIES {
            return Err(ControlError::SecurityIpQuota(format!("An instance holds at most {MAX_ENTRIES} addresses and blocks; this change would make {total}.")));
        }
        let engine = self.engine_of(&row)?;
        engine.set_allowed_addresses(&self.spec(&row)?, &engine_blocks(&groups)).await?;
        self.store.set_security_ip_groups(&row.id, &groups).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_ipv4_addresses_and_blocks_without_repeats() {
        assert_eq!(parse_list("127.0.0.1, 10.0.0.0/8,0.0.0.0/0").unwrap(), ["127.0.0.1", "10.0.0.0/8", "0.0.0.0/0"]);
        for bad in ["", "1.2.3", "10.0.0.0/33", "a.b.c.d", "127.0.0.1,,10.0.0.1", "%"] {
            assert!(matches!(parse_list(bad), Err(ControlError::SecurityIpFormat(_))), "{bad}");
        }
        assert!(matches!(parse_list("127.0.0.1,127.0.0.1"), Err(ControlError::SecurityIpDuplicate(_))));
        let many = (0..1001).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect::<Vec<_>>().join(",");
        assert!(matches!(parse_list(&many), Err(ControlError::SecurityIpQuota(_))));
    }

    #[test]
    fn the_engine_gets_every_block_once() {
        let groups = [group("default", &["127.0.0.1".into(), "10.0.0.0/8".into()], ""), group("app", &["127.0.0.1".into()], "")];
        assert_eq!(engine_blocks(&groups), ["127.0.0.1/32", "10.0.0.0/8"]);
    }
}
