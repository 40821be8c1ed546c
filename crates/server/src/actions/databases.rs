use super::{page, Reply};
use control::accounts::parse_privilege;
use control::databases::CreateDatabase;
use control::{Caller, ControlPlane};
use serde_json::{json, Value};
use wire::parameters::{self, CheckDBNameAvailable, DeleteDatabase, DescribeDatabases, ModifyDBDescription};
use wire::WireError;

pub(crate) async fn create(plane: &ControlPlane, caller: &Caller, p: parameters::CreateDatabase) -> Reply {
    let account = match (p.account, p.privilege) {
        (Some(a), Some(pr)) => Some((a, parse_privilege(&pr)?)),
        (Some(a), None) => Some((a, parse_privilege("ReadWrite")?)),
        (None, Some(_)) => return Err(WireError::MissingParameter("AccountName".into()).into()),
        (None, None) => None,
    };
    let req = CreateDatabase { name: p.name, charset: p.charset, description: p.description, account };
    plane.create_database(caller, &p.instance, req).await?;
    Ok(json!({}))
}

pub(crate) async fn describe(plane: &ControlPlane, caller: &Caller, p: DescribeDatabases) -> Reply {
    let id = &p.instance;
    let page = page(p.page, 30, 100)?;
    let row = plane.owned_instance(caller, id).await?;
    let mut views = plane.describe_databases(caller, id, p.name.as_deref()).await?;
    // Every database that the engine shows is usable; the transient states are not kept.
    if p.status.is_some_and(|s| s != "Running") {
        views.clear();
    }
    let total = views.len();
    let start = ((page.number - 1) * page.size) as usize;
    let dbs: Vec<Value> = views
        .into_iter()
        .skip(start)
        .take(page.size as usize)
        .map(|v| {
            let accounts: Vec<Value> = v
                .accounts
                .iter()
                .map(|(a, pr, detail)| json!({"Account": a, "AccountPrivilege": pr.as_str(), "AccountPrivilegeDetail": detail}))
                .collect();
            json!({
                "DBName": v.info.name,
                "DBInstanceId": row.id,
                "Engine": row.engine,
                "DBStatus": "Running",
                "CharacterSetName": v.info.charset,
                "Collate": v.info.collate,
                "Ctype": v.info.ctype,
                "ConnLimit": v.info.conn_limit.to_string(),
                "Tablespace": v.info.tablespace,
                "DBDescription": v.description,
                "Accounts": {"AccountPrivilegeInfo": accounts},
                "TotalCount": total,
                "PageNumber": page.number,
                "PageSize": page.size,
                "ResourceGroupId": "",
            })
        })
        .collect();
    Ok(json!({"Databases": {"Database": dbs}, "PageNumber": page.number, "PageRecordCount": dbs.len(), "TotalRecordCount": total}))
}

pub(crate) async fn delete(plane: &ControlPlane, caller: &Caller, p: DeleteDatabase) -> Reply {
    plane.delete_database(caller, &p.instance, &p.name).await?;
    Ok(json!({}))
}

pub(crate) async fn modify_description(plane: &ControlPlane, caller: &Caller, p: ModifyDBDescription) -> Reply {
    plane.modify_database_description(caller, &p.instance, &p.name, &p.description).await?;
    Ok(json!({}))
}

pub(crate) async fn check_name(plane: &ControlPlane, caller: &Caller, p: CheckDBNameAvailable) -> Reply {
    plane.check_db_name_available(caller, &p.instance, &p.name).await?;
    Ok(json!({}))
}
