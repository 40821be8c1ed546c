use super::{list, Reply};
use control::accounts::{parse_account_type, parse_privilege};
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use wire::parameters::{CheckAccountNameAvailable, CreateAccount, DeleteAccount, DescribeAccounts, GrantAccountPrivilege, ModifyAccountDescription, ResetAccountPassword, RevokeAccountPrivilege};

pub(crate) async fn create(plane: &ControlPlane, caller: &Caller, p: CreateAccount) -> Reply {
    let kind = parse_account_type(p.account_type.as_deref())?;
    plane.create_account(caller, &p.instance, &p.name, &p.password, kind, p.description.as_deref()).await?;
    Ok(json!({}))
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeAccounts) -> Reply {
    let id = &p.instance;
    let views = plane.describe_accounts(caller, id, p.name.as_deref()).await?;
    let accounts: Vec<Value> = views
        .iter()
        .map(|v| {
            let privileges: Vec<Value> = v
                .info
                .privileges
                .iter()
                .map(|(db, pr)| {
                    let detail = v.info.privilege_detail.iter().find(|(d, _)| d == db).map(|(_, s)| s.as_str()).unwrap_or("");
                    json!({"DBName": db, "AccountPrivilege": pr.as_str(), "AccountPrivilegeDetail": detail})
                })
                .collect();
            let mut item = json!({
                "DBInstanceId": id,
                "AccountName": v.info.name,
                // Alibaba's values; an account without a login (a role an import made)
                // cannot log in until CreateAccount or ResetAccountPassword gives it one.
                "AccountStatus": if v.info.can_login { "Available" } else { "Unavailable" },
                "AccountType": v.account_type,
                "AccountDescription": v.description,
                "PrivExceeded": "0",
                "DatabasePrivileges": {"DatabasePrivilege": privileges},
            });
            // PostgreSQL roles' attributes, spelled as pg_roles shows them.
            if let (Some(role), Some(obj)) = (&v.info.role, item.as_object_mut()) {
                let flag = |b: bool| if b { "t" } else { "f" };
                obj.insert("CreateDB".into(), json!(flag(role.create_db)));
                obj.insert("CreateRole".into(), json!(flag(role.create_role)));
                obj.insert("Replication".into(), json!(flag(role.replication)));
                obj.insert("BypassRLS".into(), json!(flag(role.bypass_rls)));
                obj.insert("ValidUntil".into(), json!(role.valid_until.clone().unwrap_or_else(|| "infinity".into())));
            }
            item
        })
        .collect();
    Ok(json!({"Accounts": {"DBInstanceAccount": accounts}}))
}

pub(crate) async fn delete(plane: &ControlPlane, caller: &Caller, p: DeleteAccount) -> Reply {
    plane.delete_account(caller, &p.instance, &p.name).await?;
    Ok(json!({}))
}

pub(crate) async fn reset_password(plane: &ControlPlane, caller: &Caller, p: ResetAccountPassword) -> Reply {
    plane.reset_account_password(caller, &p.instance, &p.name, &p.password).await?;
    Ok(json!({}))
}

pub(crate) async fn grant(plane: &ControlPlane, caller: &Caller, p: GrantAccountPrivilege) -> Reply {
    let dbs = list(&p.databases);
    let privileges = list(&p.privileges);
    // One privilege for all databases, or one per database in order.
    let privileges: Vec<String> = match privileges.len() {
        1 => vec![privileges[0].clone(); dbs.len()],
        n if n == dbs.len() => privileges,
        n => {
            return Err(super::invalid(
                "AccountPrivilege",
                format!("{n} privileges were given for {} databases; give one, or one per database", dbs.len()),
            ))
        }
    };
    let mut grants = Vec::with_capacity(dbs.len());
    for (db, pr) in dbs.into_iter().zip(privileges) {
        grants.push((db, parse_privilege(&pr)?));
    }
    plane.grant_privileges(caller, &p.instance, &p.account, &grants).await?;
    Ok(json!({}))
}

pub(crate) async fn revoke(plane: &ControlPlane, caller: &Caller, p: RevokeAccountPrivilege) -> Reply {
    plane.revoke_privileges(caller, &p.instance, &p.account, &list(&p.databases)).await?;
    Ok(json!({}))
}

pub(crate) async fn modify_description(plane: &ControlPlane, caller: &Caller, p: ModifyAccountDescription) -> Reply {
    plane.modify_account_description(caller, &p.instance, &p.account, &p.description).await?;
    Ok(json!({}))
}

pub(crate) async fn check_name(plane: &ControlPlane, caller: &Caller, p: CheckAccountNameAvailable) -> Reply {
    plane.check_account_name_available(caller, &p.instance, &p.account).await?;
    Ok(json!({}))
}
