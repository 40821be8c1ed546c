//! ModifySecurityIps and DescribeDBInstanceIPArrayList.

use super::Reply;
use control::security_ips::{ModifyMode, ModifySecurityIps};
use control::{Caller, ControlPlane};
use serde_json::json;
use wire::Params;

pub(crate) async fn modify(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let id = p.required("DBInstanceId")?;
    let req = ModifySecurityIps {
        ips: p.required("SecurityIps")?.to_string(),
        group: p.get("DBInstanceIPArrayName").map(String::from),
        mode: ModifyMode::parse(p.get("ModifyMode"))?,
        attribute: p.get("DBInstanceIPArrayAttribute").map(String::from),
    };
    if let Some(t) = p.get("SecurityIPType") {
        if !t.eq_ignore_ascii_case("IPv4") {
            return Err(super::invalid("SecurityIPType", format!("{t:?}: only IPv4 lists are served here")));
        }
    }
    if let Some(n) = p.get("WhitelistNetworkType") {
        if !matches!(n, "Classic" | "VPC" | "MIX") {
            return Err(control::ControlError::invalid("WhitelistNetworkType", format!("{n:?} must be Classic, VPC or MIX")).into());
        }
    }
    plane.modify_security_ips(caller, id, req).await?;
    // Applied before the call returns; the id names the change for clients that wait.
    Ok(json!({"TaskId": control::order_id()}))
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let id = p.required("DBInstanceId")?;
    let groups = plane.describe_security_ips(caller, id).await?;
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
