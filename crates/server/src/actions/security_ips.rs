//! ModifySecurityIps and DescribeDBInstanceIPArrayList.

use super::Reply;
use control::security_ips::{ModifyMode, ModifySecurityIps};
use control::{Caller, ControlPlane};
use serde_json::json;
use wire::parameters::{self, DescribeDBInstanceIPArrayList};

pub(crate) async fn modify(plane: &ControlPlane, caller: &Caller, p: parameters::ModifySecurityIps) -> Reply {
    let req = ModifySecurityIps { ips: p.ips, group: p.group, mode: ModifyMode::parse(p.mode.as_deref())?, attribute: p.attribute };
    if let Some(t) = &p.ip_type {
        if !t.eq_ignore_ascii_case("IPv4") {
            return Err(super::invalid("SecurityIPType", format!("{t:?}: only IPv4 lists are served here")));
        }
    }
    if let Some(n) = &p.network_type {
        if !matches!(n.as_str(), "Classic" | "VPC" | "MIX") {
            return Err(control::ControlError::invalid("WhitelistNetworkType", format!("{n:?} must be Classic, VPC or MIX")).into());
        }
    }
    plane.modify_security_ips(caller, &p.instance, req).await?;
    // Applied before the call returns; the id names the change for clients that wait.
    Ok(json!({"TaskId": control::order_id()}))
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeDBInstanceIPArrayList) -> Reply {
    let groups = plane.describe_security_ips(caller, &p.instance).await?;
    let items: Vec<_> = groups
        .iter()
        .map(|g| {
            json!({
                "DBInstanceIPArrayName": g.name,
                "DBInstanceIPArrayAttribute": g.attribute,
                "SecurityIPList": g.ips,
                "SecurityIPType": g.ip_type,
                "WhitelistNetworkType": g.network_type,
            })
        })
        .collect();
    Ok(json!({"Items": {"DBInstanceIPArray": items}}))
}
