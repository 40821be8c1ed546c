//! Action dispatch: `(Version, Action)` → handler. Handlers are thin: read parameters,
//! make one control-plane call, shape the response.

mod accounts;
mod databases;
mod imports;
mod instances;
mod ram;
mod regions;
mod security_ips;

use crate::ServerError;
use control::{Caller, ControlPlane};
use serde_json::Value;
use wire::{Params, SignedRequest, WireError};

pub(crate) type Reply = Result<Value, ServerError>;

pub(crate) async fn dispatch(plane: &ControlPlane, caller: &Caller, request: &SignedRequest) -> Reply {
    let p = &request.params;
    match request.version.as_str() {
        wire::RDS_VERSION => match request.action.as_str() {
            "CreateDBInstance" => instances::create(plane, caller, p).await,
            "DescribeDBInstances" => instances::describe_all(plane, caller, p).await,
            "DescribeDBInstanceAttribute" => instances::describe_attribute(plane, caller, p).await,
            "DeleteDBInstance" => instances::delete(plane, caller, p).await,
            "RestartDBInstance" => instances::restart(plane, caller, p).await,
            "DescribeDBInstanceNetInfo" => instances::net_info(plane, caller, p).await,
            "ModifySecurityIps" => security_ips::modify(plane, caller, p).await,
            "DescribeDBInstanceIPArrayList" => security_ips::describe(plane, caller, p).await,
            "CreateDatabase" => databases::create(plane, caller, p).await,
            "DescribeDatabases" => databases::describe(plane, caller, p).await,
            "DeleteDatabase" => databases::delete(plane, caller, p).await,
            "CreateAccount" => accounts::create(plane, caller, p).await,
            "DescribeAccounts" => accounts::describe(plane, caller, p).await,
            "DeleteAccount" => accounts::delete(plane, caller, p).await,
            "ResetAccountPassword" => accounts::reset_password(plane, caller, p).await,
            "GrantAccountPrivilege" => accounts::grant(plane, caller, p).await,
            "RevokeAccountPrivilege" => accounts::revoke(plane, caller, p).await,
            "ImportDatabaseBetweenInstances" => imports::start(plane, caller, p).await,
            "DescibeImportsFromDatabase" => imports::from_database(plane, caller, p).await,
            "DescribeImportsForSQLServer" => imports::for_sql_server(plane, caller, p).await,
            "CancelImport" => imports::cancel(plane, caller, p).await,
            "DescribeImportProgress" => imports::progress(plane, caller, p).await,
            "DescribeRegions" => regions::describe_regions(plane, caller, p).await,
            "DescribeAvailableClasses" => regions::describe_classes(plane, caller, p).await,
            other => Err(ServerError::UnknownAction(other.to_string())),
        },
        wire::RAM_VERSION => match request.action.as_str() {
            "CreateUser" => ram::create_user(plane, caller, p).await,
            "GetUser" => ram::get_user(plane, caller, p).await,
            "DeleteUser" => ram::delete_user(plane, caller, p).await,
            "ListUsers" => ram::list_users(plane, caller, p).await,
            "CreateAccessKey" => ram::create_access_key(plane, caller, p).await,
            "UpdateAccessKey" => ram::update_access_key(plane, caller, p).await,
            "DeleteAccessKey" => ram::delete_access_key(plane, caller, p).await,
            "ListAccessKeys" => ram::list_access_keys(plane, caller, p).await,
            "CreatePolicy" => ram::create_policy(plane, caller, p).await,
            "DeletePolicy" => ram::delete_policy(plane, caller, p).await,
            "ListPolicies" => ram::list_policies(plane, caller, p).await,
            "AttachPolicyToUser" => ram::attach(plane, caller, p).await,
            "DetachPolicyFromUser" => ram::detach(plane, caller, p).await,
            "ListPoliciesForUser" => ram::list_for_user(plane, caller, p).await,
            other => Err(ServerError::UnknownAction(other.to_string())),
        },
        other => Err(ServerError::UnknownVersion(other.to_string())),
    }
}

/// Alibaba's time format in responses.
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `PageSize`/`PageNumber` with their documented bounds.
pub(crate) fn page(p: &Params, default_size: u32, max_size: u32) -> Result<store::Page, ServerError> {
    let size: u32 = p.parse("PageSize")?.unwrap_or(default_size);
    if size == 0 || size > max_size {
        return Err(invalid("PageSize", format!("{size} must be between 1 and {max_size}")));
    }
    let number: u32 = p.parse("PageNumber")?.unwrap_or(1);
    if number == 0 {
        return Err(invalid("PageNumber", "it must be 1 or more"));
    }
    Ok(store::Page { number, size })
}

pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> ServerError {
    WireError::InvalidParameter { name: name.to_string(), reason: reason.into() }.into()
}

/// Splits a comma-separated list, dropping blanks.
pub(crate) fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}
