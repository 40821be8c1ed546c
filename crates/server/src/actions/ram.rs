//! The RAM API (2015-05-01) subset openrds serves: users, access keys, policies.

use super::{time, Reply};
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use control::model::{AccessKeyStatus, Policy, RamUser};
use wire::parameters::{
    AttachPolicyToUser, CreateAccessKey, CreatePolicy, CreateUser, DeleteAccessKey, DeletePolicy, DeleteUser, DetachPolicyFromUser, GetUser,
    ListAccessKeys, ListPolicies, ListPoliciesForUser, ListUsers, UpdateAccessKey,
};

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

pub(crate) async fn create_user(plane: &ControlPlane, caller: &Caller, p: CreateUser) -> Reply {
    let user = plane
        .create_ram_user(caller, &p.user, p.display_name.as_deref(), p.comments.as_deref())
        .await?;
    Ok(json!({"User": user_json(&user)}))
}

pub(crate) async fn get_user(plane: &ControlPlane, caller: &Caller, p: GetUser) -> Reply {
    let user = plane.get_ram_user(caller, &p.user).await?;
    Ok(json!({"User": user_json(&user)}))
}

pub(crate) async fn delete_user(plane: &ControlPlane, caller: &Caller, p: DeleteUser) -> Reply {
    plane.delete_ram_user(caller, &p.user).await?;
    Ok(json!({}))
}

pub(crate) async fn list_users(plane: &ControlPlane, caller: &Caller, _p: ListUsers) -> Reply {
    let users: Vec<Value> = plane.list_ram_users(caller).await?.iter().map(user_json).collect();
    Ok(json!({"IsTruncated": false, "Marker": "", "Users": {"User": users}}))
}

pub(crate) async fn create_access_key(plane: &ControlPlane, caller: &Caller, p: CreateAccessKey) -> Reply {
    let new = plane.create_access_key(caller, p.user.as_deref()).await?;
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

pub(crate) async fn update_access_key(plane: &ControlPlane, caller: &Caller, p: UpdateAccessKey) -> Reply {
    let status = parse_status(&p.status)?;
    plane.update_access_key(caller, &p.key_id, status, p.user.as_deref()).await?;
    Ok(json!({}))
}

pub(crate) async fn delete_access_key(plane: &ControlPlane, caller: &Caller, p: DeleteAccessKey) -> Reply {
    plane.delete_access_key(caller, &p.key_id, p.user.as_deref()).await?;
    Ok(json!({}))
}

pub(crate) async fn list_access_keys(plane: &ControlPlane, caller: &Caller, p: ListAccessKeys) -> Reply {
    let keys: Vec<Value> = plane
        .list_access_keys(caller, p.user.as_deref())
        .await?
        .iter()
        .map(|k| json!({"AccessKeyId": k.id, "Status": k.status.as_str(), "CreateDate": time(k.created_at)}))
        .collect();
    Ok(json!({"AccessKeys": {"AccessKey": keys}}))
}

pub(crate) async fn create_policy(plane: &ControlPlane, caller: &Caller, p: CreatePolicy) -> Reply {
    let policy = plane.create_policy(caller, &p.name, &p.document, p.description.as_deref()).await?;
    Ok(json!({"Policy": policy_json(&policy)}))
}

pub(crate) async fn delete_policy(plane: &ControlPlane, caller: &Caller, p: DeletePolicy) -> Reply {
    plane.delete_policy(caller, &p.name).await?;
    Ok(json!({}))
}

pub(crate) async fn list_policies(plane: &ControlPlane, caller: &Caller, p: ListPolicies) -> Reply {
    let wanted = p.policy_type.as_deref();
    let policies: Vec<Value> = plane
        .list_policies(caller)
        .await?
        .iter()
        .filter(|pol| wanted.is_none_or(|t| t == pol.policy_type))
        .map(policy_json)
        .collect();
    Ok(json!({"IsTruncated": false, "Marker": "", "Policies": {"Policy": policies}}))
}

pub(crate) async fn attach(plane: &ControlPlane, caller: &Caller, p: AttachPolicyToUser) -> Reply {
    plane.attach_policy(caller, &p.policy_type, &p.name, &p.user).await?;
    Ok(json!({}))
}

pub(crate) async fn detach(plane: &ControlPlane, caller: &Caller, p: DetachPolicyFromUser) -> Reply {
    plane.detach_policy(caller, &p.policy_type, &p.name, &p.user).await?;
    Ok(json!({}))
}

pub(crate) async fn list_for_user(plane: &ControlPlane, caller: &Caller, p: ListPoliciesForUser) -> Reply {
    let policies: Vec<Value> = plane
        .list_policies_for_user(caller, &p.user)
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
