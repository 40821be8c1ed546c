//! The RAM API (2015-05-01) subset openrds serves: users, access keys, policies.

use super::{time, Reply};
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use control::model::{AccessKeyStatus, Policy, RamUser};
use wire::Params;

fn user_json(u: &RamUser) -> Value {
    json!({
        "UserId": u.user_id,
        "UserName": u.user_name,
        "DisplayName": u.display_name,
        "MobilePhone": "",
        "Email": "",
        "Comments": u.comments,
        "CreateDate": time(u.created_at),
        "UpdateDate": time(u.updated_at),
    })
}

fn policy_json(p: &Policy) -> Value {
    json!({
        "PolicyName": p.policy_name,
        "PolicyType": p.policy_type,
        "Description": p.description,
        "DefaultVersion": "v1",
        "CreateDate": time(p.created_at),
        "UpdateDate": time(p.created_at),
        "AttachmentCount": 0,
    })
}

pub(crate) async fn create_user(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let user = plane
        .create_ram_user(caller, p.required("UserName")?, p.get("DisplayName"), p.get("Comments"))
        .await?;
    Ok(json!({"User": user_json(&user)}))
}

pub(crate) async fn get_user(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let user = plane.get_ram_user(caller, p.required("UserName")?).await?;
    Ok(json!({"User": user_json(&user)}))
}

pub(crate) async fn delete_user(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    plane.delete_ram_user(caller, p.required("UserName")?).await?;
    Ok(json!({}))
}

pub(crate) async fn list_users(plane: &ControlPlane, caller: &Caller, _p: &Params) -> Reply {
    let users: Vec<Value> = plane.list_ram_users(caller).await?.iter().map(user_json).collect();
    Ok(json!({"IsTruncated": false, "Marker": "", "Users": {"User": users}}))
}

pub(crate) async fn create_access_key(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let new = plane.create_access_key(caller, p.get("UserName")).await?;
    let k = &new.key;
    Ok(json!({"AccessKey": {
        "AccessKeyId": k.id,
        "AccessKeySecret": k.secret,
        "Status": k.status.as_str(),
        "CreateDate": time(k.created_at),
    }}))
}

fn parse_status(value: &str) -> Result<AccessKeyStatus, crate::ServerError> {
    match value {
        "Active" => Ok(AccessKeyStatus::Active),
        "Inactive" => Ok(AccessKeyStatus::Inactive),
        other => Err(super::invalid("Status", format!("{other:?} must be Active or Inactive"))),
    }
}

pub(crate) async fn update_access_key(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let key_id = p.required("UserAccessKeyId")?;
    let status = parse_status(p.required("Status")?)?;
    plane.update_access_key(caller, key_id, status, p.get("UserName")).await?;
    Ok(json!({}))
}

pub(crate) async fn delete_access_key(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    plane.delete_access_key(caller, p.required("UserAccessKeyId")?, p.get("UserName")).await?;
    Ok(json!({}))
}

pub(crate) async fn list_access_keys(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let keys: Vec<Value> = plane
        .list_access_keys(caller, p.get("UserName"))
        .await?
        .iter()
        .map(|k| json!({"AccessKeyId": k.id, "Status": k.status.as_str(), "CreateDate": time(k.created_at)}))
        .collect();
    Ok(json!({"AccessKeys": {"AccessKey": keys}}))
}

pub(crate) async fn create_policy(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let policy = plane
        .create_policy(caller, p.required("PolicyName")?, p.required("PolicyDocument")?, p.get("Description"))
        .await?;
    Ok(json!({"Policy": policy_json(&policy)}))
}

pub(crate) async fn delete_policy(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    plane.delete_policy(caller, p.required("PolicyName")?).await?;
    Ok(json!({}))
}

pub(crate) async fn list_policies(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let wanted = p.get("PolicyType");
    let policies: Vec<Value> = plane
        .list_policies(caller)
        .await?
        .iter()
        .filter(|pol| wanted.is_none_or(|t| t == pol.policy_type))
        .map(policy_json)
        .collect();
    Ok(json!({"IsTruncated": false, "Marker": "", "Policies": {"Policy": policies}}))
}

pub(crate) async fn attach(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    plane
        .attach_policy(caller, p.required("PolicyType")?, p.required("PolicyName")?, p.required("UserName")?)
        .await?;
    Ok(json!({}))
}

pub(crate) async fn detach(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    plane
        .detach_policy(caller, p.required("PolicyType")?, p.required("PolicyName")?, p.required("UserName")?)
        .await?;
    Ok(json!({}))
}

pub(crate) async fn list_for_user(plane: &ControlPlane, caller: &Caller, p: &Params) -> Reply {
    let policies: Vec<Value> = plane
        .list_policies_for_user(caller, p.required("UserName")?)
        .await?
        .iter()
        .map(|(a, pol)| {
            json!({
                "PolicyName": pol.policy_name,
                "PolicyType": pol.policy_type,
                "Description": pol.description,
                "DefaultVersion": "v1",
                "AttachDate": time(a.attached_at),
            })
        })
        .collect();
    Ok(json!({"Policies": {"Policy": policies}}))
}
