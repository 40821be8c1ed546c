//! Action dispatch: `(Version, Action)` is parsed into a `wire::Action`, whose row in one
//! table parses the action's parameters into its struct (`wire::parameters`, named as the
//! action) and calls its handler. Handlers are thin: one control-plane call with typed
//! parameters, and the response shaped.

mod accounts;
mod backups;
mod databases;
mod diagnostics;
mod imports;
mod instances;
mod db_parameters;
mod performance;
mod ram;
mod regions;
mod security_ips;
mod tags;

use crate::ServerError;
use control::{Caller, ControlPlane};
use serde_json::Value;
use wire::parameters::{self, ActionParameters};
use wire::{Action, Params, SignedRequest, WireError};

pub(crate) type Reply = Result<Value, ServerError>;

/// A successful answer's body: a tree of values, as most handlers build it, or the text
/// of a JSON object already serialised from typed fields, for the long answers
/// (listings) where building the tree costs more than the call's other work.
#[derive(Debug)]
pub(crate) enum Answer {
    Tree(Value),
    Encoded(String),
    /// Encoded text kept to answer the same question again (see `instances::describe_all`).
    Shared(std::sync::Arc<str>),
}

impl Answer {
    /// `body`, which must serialise as a JSON object, as text of about `size_hint` bytes
    /// (room made at once rather than by doubling as it grows).
    pub(crate) fn encode<T: serde::Serialize>(body: &T, size_hint: usize) -> Result<Answer, ServerError> {
        let mut bytes = Vec::with_capacity(size_hint);
        serde_json::to_writer(&mut bytes, body).map_err(encode_error)?;
        let text = String::from_utf8(bytes).map_err(encode_error)?;
        if !text.starts_with('{') {
            return Err(encode_error(format!("an answer must be an object, not {}", text.chars().take(16).collect::<String>())));
        }
        Ok(Answer::Encoded(text))
    }

    /// `body` as a tree, to be extended before it is answered.
    pub(crate) fn tree<T: serde::Serialize>(body: &T) -> Result<Value, ServerError> {
        serde_json::to_value(body).map_err(encode_error)
    }

    /// The body's text with `RequestId` as its first member.
    pub(crate) fn into_text(self, request_id: &str) -> String {
        let id = Value::from(request_id).to_string();
        match self {
            Answer::Tree(mut body) => {
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("RequestId".into(), request_id.into());
                }
                body.to_string()
            }
            Answer::Encoded(text) => with_request_id(&text, &id),
            Answer::Shared(text) => with_request_id(&text, &id),
        }
    }
}

/// `text`, an object, with `"RequestId":id` as its first member.
fn with_request_id(text: &str, id: &str) -> String {
    let rest = text[1..].trim_start();
    let separator = if rest.starts_with('}') { "" } else { "," };
    let mut answer = String::with_capacity(text.len() + id.len() + 16);
    answer.push_str("{\"RequestId\":");
    answer.push_str(id);
    answer.push_str(separator);
    answer.push_str(rest);
    answer
}

impl From<Value> for Answer {
    fn from(body: Value) -> Answer {
        Answer::Tree(body)
    }
}

fn encode_error(e: impl std::fmt::Display) -> ServerError {
    control::ControlError::Internal(format!("encode an answer: {e}")).into()
}

/// A row's entry point: parses the action's parameters, then runs its handler.
type Handler = for<'a> fn(&'a ControlPlane, &'a Caller, &'a Params) -> BoxFuture<'a, Result<Answer, ServerError>>;
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// `route!(Action, handler)`: a row of the table. The handler takes the action's
/// parameter struct (`wire::parameters::Action`); a request whose parameters do not parse
/// is answered without calling it.
macro_rules! route {
    ($action:ident, $handler:path) => {{
        fn handle<'a>(plane: &'a ControlPlane, caller: &'a Caller, p: &'a Params) -> BoxFuture<'a, Result<Answer, ServerError>> {
            match <parameters::$action as ActionParameters>::from_params(p) {
                Ok(parameters) => Box::pin(async move { $handler(plane, caller, parameters).await.map(Answer::from) }),
                Err(e) => Box::pin(std::future::ready(Err(e.into()))),
            }
        }
        (Action::$action, handle as Handler)
    }};
}

/// Every served action and its handler; `wire::Action` lists the same actions, and a
/// test checks that each has a row here.
static ROUTES: &[(Action, Handler)] = &[
    route!(CreateDBInstance, instances::create),
    route!(DescribeDBInstances, instances::describe_all),
    route!(DescribeDBInstanceAttribute, instances::describe_attribute),
    route!(DeleteDBInstance, instances::delete),
    route!(RestartDBInstance, instances::restart),
    route!(StopDBInstance, instances::stop),
    route!(StartDBInstance, instances::start),
    route!(ModifyDBInstanceSpec, instances::modify_spec),
    route!(ModifyDBInstanceDescription, instances::modify_description),
    route!(ModifyDBInstanceDeletionProtection, instances::modify_deletion_protection),
    route!(ModifyDBInstanceMaintainTime, instances::modify_maintain_time),
    route!(ModifyDBDescription, databases::modify_description),
    route!(ModifyAccountDescription, accounts::modify_description),
    route!(TagResources, tags::tag),
    route!(UntagResources, tags::untag),
    route!(ListTagResources, tags::list),
    route!(DescribeTags, tags::describe),
    route!(CheckDBNameAvailable, databases::check_name),
    route!(CheckAccountNameAvailable, accounts::check_name),
    route!(DescribeAvailableZones, regions::describe_zones),
    route!(DescribeParameterTemplates, db_parameters::templates),
    route!(DescribeParameters, db_parameters::describe),
    route!(ModifyParameter, db_parameters::modify),
    route!(DescribeModifyParameterLog, db_parameters::log),
    route!(DescribeResourceUsage, diagnostics::resource_usage),
    route!(DescribeErrorLogs, diagnostics::error_logs),
    route!(DescribeSlowLogRecords, diagnostics::slow_log_records),
    route!(DescribeSlowLogs, diagnostics::slow_logs),
    route!(DescribeDBInstancePerformance, performance::describe),
    route!(DescribeCharacterSetName, performance::character_sets),
    route!(DescribeDBInstanceNetInfo, instances::net_info),
    route!(ModifySecurityIps, security_ips::modify),
    route!(DescribeDBInstanceIPArrayList, security_ips::describe),
    route!(CreateDatabase, databases::create),
    route!(DescribeDatabases, databases::describe),
    route!(DeleteDatabase, databases::delete),
    route!(CreateAccount, accounts::create),
    route!(DescribeAccounts, accounts::describe),
    route!(DeleteAccount, accounts::delete),
    route!(ResetAccountPassword, accounts::reset_password),
    route!(GrantAccountPrivilege, accounts::grant),
    route!(RevokeAccountPrivilege, accounts::revoke),
    route!(ImportDatabaseBetweenInstances, imports::start),
    route!(DescibeImportsFromDatabase, imports::from_database),
    route!(DescribeImportsForSQLServer, imports::for_sql_server),
    route!(CancelImport, imports::cancel),
    route!(DescribeImportProgress, imports::progress),
    route!(DescribeRegions, regions::describe_regions),
    route!(DescribeAvailableClasses, regions::describe_classes),
    route!(CreateBackup, backups::create),
    route!(DescribeBackups, backups::describe),
    route!(DescribeBackupTasks, backups::tasks),
    route!(DeleteBackup, backups::delete),
    route!(CloneDBInstance, backups::clone),
    route!(DescribeBackupPolicy, backups::describe_policy),
    route!(ModifyBackupPolicy, backups::modify_policy),
    route!(DescribeLogBackupFiles, backups::log_files),
    route!(DescribeBinlogFiles, backups::binlog_files),
    route!(RecoveryDBInstance, backups::recovery),
    route!(CreateUser, ram::create_user),
    route!(GetUser, ram::get_user),
    route!(DeleteUser, ram::delete_user),
    route!(ListUsers, ram::list_users),
    route!(CreateAccessKey, ram::create_access_key),
    route!(UpdateAccessKey, ram::update_access_key),
    route!(DeleteAccessKey, ram::delete_access_key),
    route!(ListAccessKeys, ram::list_access_keys),
    route!(CreatePolicy, ram::create_policy),
    route!(DeletePolicy, ram::delete_policy),
    route!(ListPolicies, ram::list_policies),
    route!(AttachPolicyToUser, ram::attach),
    route!(DetachPolicyFromUser, ram::detach),
    route!(ListPoliciesForUser, ram::list_for_user),
];

/// The handler of `action`, if this server serves it.
pub(crate) fn route(action: Action) -> Option<Handler> {
    ROUTES.iter().find(|(a, _)| *a == action).map(|(_, h)| *h)
}

pub(crate) async fn dispatch(plane: &ControlPlane, caller: &Caller, request: &SignedRequest) -> Result<Answer, ServerError> {
    let action = match Action::find(&request.version, &request.action) {
        Some(action) => action,
        None if wire::Api::of_version(&request.version).is_none() => return Err(ServerError::UnknownVersion(request.version.clone())),
        None => return Err(ServerError::UnknownAction(request.action.clone())),
    };
    let handler = route(action).ok_or_else(|| ServerError::UnknownAction(request.action.clone()))?;
    handler(plane, caller, &request.params).await
}

/// Alibaba's time format in responses.
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    // `2024-01-01T00:00:00Z`, without parsing a format string for every time of a listing.
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A time filter in `yyyy-MM-ddTHH:mmZ` (the documented form), also with seconds.
pub(crate) fn parse_time(value: Option<&str>, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ServerError> {
    let Some(v) = value else { return Ok(None) };
    for format in ["%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(invalid(name, format!("{v:?} is not a UTC time like 2024-01-01T00:00Z")))
}

/// `PageSize`/`PageNumber` with their documented bounds.
pub(crate) fn page(paging: parameters::Paging, default_size: u32, max_size: u32) -> Result<control::model::Page, ServerError> {
    let size = paging.size.unwrap_or(default_size);
    if size == 0 || size > max_size {
        return Err(invalid("PageSize", format!("{size} must be between 1 and {max_size}")));
    }
    let number = paging.number.unwrap_or(1);
    if number == 0 {
        return Err(invalid("PageNumber", "it must be 1 or more"));
    }
    Ok(control::model::Page { number, size })
}

pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> ServerError {
    WireError::InvalidParameter { name: name.to_string(), reason: reason.into() }.into()
}

/// Splits a comma-separated list, dropping blanks.
pub(crate) fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_answered_to_the_second_in_utc() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-02-03T04:05:06.789+00:00").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(time(t), "2024-02-03T04:05:06Z");
    }

    #[test]
    fn an_encoded_answer_gets_the_request_id_first() {
        let with = |text: &str| Answer::Encoded(text.into()).into_text("ID-1");
        assert_eq!(with("{}"), r#"{"RequestId":"ID-1"}"#);
        assert_eq!(with(r#"{"A":1}"#), r#"{"RequestId":"ID-1","A":1}"#);
        let tree: Value = serde_json::from_str(&Answer::Tree(serde_json::json!({"A": [1]})).into_text("ID-\"2")).unwrap();
        assert_eq!(tree, serde_json::json!({"A": [1], "RequestId": "ID-\"2"}));
        assert!(Answer::encode(&[1, 2], 0).is_err(), "a list is not an answer");
    }

    #[test]
    fn every_action_has_a_route() {
        let missing: Vec<_> = Action::ALL.iter().filter(|a| route(**a).is_none()).collect();
        assert!(missing.is_empty(), "actions without a handler: {missing:?}");
    }
}
