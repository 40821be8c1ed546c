//! One struct per served action with the parameters it reads, parsed once from a
//! request's [`Params`]: a missing required parameter is `MissingParameter`, a value of
//! the wrong type `InvalidParameter`, both naming the parameter as the API does (the
//! first in the struct's order). Each struct is named as its action and knows it
//! ([`ActionParameters::ACTION`]: wire name, API, RAM action). Parameters a struct does not
//! list are ignored, as Alibaba ignores the ones an action does not use.
//!
//! What a value means (a privilege, a time, an IP list) is the control plane's to check;
//! here a value is only text, a number, a flag or a list of tags.

use crate::{Action, Params, WireError};

/// An action's parameters, read from a request.
pub trait ActionParameters: Sized {
    const ACTION: Action;

    fn from_params(p: &Params) -> Result<Self, WireError>;
}

/// How one field is read, by its type: `name` is the parameter's wire name, or the
/// prefix of the names a group of parameters shares ([`Tags`], [`Paging`]).
pub trait Parameter: Sized {
    fn read(p: &Params, name: &str) -> Result<Self, WireError>;
}

/// Required text, as sent.
impl Parameter for String {
    fn read(p: &Params, name: &str) -> Result<Self, WireError> {
        p.required(name).map(String::from)
    }
}

/// Optional text, as sent; empty is absent.
impl Parameter for Option<String> {
    fn read(p: &Params, name: &str) -> Result<Self, WireError> {
        Ok(p.get(name).map(String::from))
    }
}

/// `true`/`false` in any case, required.
impl Parameter for bool {
    fn read(p: &Params, name: &str) -> Result<Self, WireError> {
        p.bool(name)?.ok_or_else(|| WireError::MissingParameter(name.to_string()))
    }
}

/// `true`/`false` in any case.
impl Parameter for Option<bool> {
    fn read(p: &Params, name: &str) -> Result<Self, WireError> {
        p.bool(name)
    }
}

macro_rules! numbers {
    ($($t:ty),+) => {$(
        impl Parameter for $t {
            fn read(p: &Params, name: &str) -> Result<Self, WireError> {
                p.parse_required(name)
            }
        }
        impl Parameter for Option<$t> {
            fn read(p: &Params, name: &str) -> Result<Self, WireError> {
                p.parse(name)
            }
        }
    )+};
}
numbers!(i64, u32);

/// `Tag.N.Key` / `Tag.N.Value` pairs in index order; a pair without a key is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(pub Vec<(String, String)>);

impl Parameter for Tags {
    fn read(p: &Params, name: &str) -> Result<Self, WireError> {
        Ok(Tags(
            p.indexed(name)
                .into_iter()
                .filter_map(|m| Some((m.get("Key")?.clone(), m.get("Value").cloned().unwrap_or_default())))
                .collect(),
        ))
    }
}

/// A RepeatList of values, flattened as `<name>.1`, `<name>.2`, ... (empty if none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl Parameter for List {
    fn read(p: &Params, name: &str) -> Result<Self, WireError> {
        Ok(List(p.repeated(name)))
    }
}

/// `<prefix>Size` and `<prefix>Number` (`PageSize`, `PageNumber`); bounds are each action's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paging {
    pub size: Option<u32>,
    pub number: Option<u32>,
}

impl Parameter for Paging {
    fn read(p: &Params, prefix: &str) -> Result<Self, WireError> {
        Ok(Paging { size: p.parse(&format!("{prefix}Size"))?, number: p.parse(&format!("{prefix}Number"))? })
    }
}

/// What both import listings (DescibeImportsFromDatabase, DescribeImportsForSQLServer)
/// read: the instance, a time window, one import, a page.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportListing {
    pub instance: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub import_id: Option<i64>,
    pub page: Paging,
}

/// Read as a whole, from the names the two listings share (`prefix` is unused).
impl Parameter for ImportListing {
    fn read(p: &Params, _prefix: &str) -> Result<Self, WireError> {
        Ok(ImportListing {
            instance: Parameter::read(p, "DBInstanceId")?,
            start_time: Parameter::read(p, "StartTime")?,
            end_time: Parameter::read(p, "EndTime")?,
            import_id: Parameter::read(p, "ImportId")?,
            page: Parameter::read(p, "Page")?,
        })
    }
}

/// `Name { field: Type = "WireName", ... }`: the struct, and its parsing in field order.
macro_rules! parameters {
    ($($(#[$doc:meta])* $action:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty = $wire:literal),* $(,)? })+) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq)]
            pub struct $action {
                $($(#[$fdoc])* pub $field: $ty),*
            }

            impl ActionParameters for $action {
                const ACTION: Action = Action::$action;

                #[allow(unused_variables)]
                fn from_params(p: &Params) -> Result<Self, WireError> {
                    Ok($action { $($field: Parameter::read(p, $wire)?),* })
                }
            }
        )+

        /// Every action that has a parameter struct (a test checks it is every action).
        pub const ALL: &[Action] = &[$(Action::$action),+];
    };
}

parameters! {
    CreateDBInstance {
        region_id: String = "RegionId",
        engine: String = "Engine",
        engine_version: String = "EngineVersion",
        class: String = "DBInstanceClass",
        storage_gb: i64 = "DBInstanceStorage",
        zone_id: Option<String> = "ZoneId",
        storage_type: Option<String> = "DBInstanceStorageType",
        description: Option<String> = "DBInstanceDescription",
        pay_type: Option<String> = "PayType",
        category: Option<String> = "Category",
        net_type: Option<String> = "DBInstanceNetType",
        network_type: Option<String> = "InstanceNetworkType",
        security_ip_list: Option<String> = "SecurityIPList",
        tags: Tags = "Tag",
        dry_run: Option<bool> = "DryRun",
        deletion_protection: Option<bool> = "DeletionProtection",
    }
    DescribeDBInstances {
        region_id: String = "RegionId",
        /// Comma-separated instance ids.
        ids: Option<String> = "DBInstanceId",
        engine: Option<String> = "Engine",
        engine_version: Option<String> = "EngineVersion",
        status: Option<String> = "DBInstanceStatus",
        class: Option<String> = "DBInstanceClass",
        search_key: Option<String> = "SearchKey",
        max_results: Option<u32> = "MaxResults",
        next_token: Option<String> = "NextToken",
        page: Paging = "Page",
    }
    DescribeDBInstanceAttribute { instance: String = "DBInstanceId" }
    DeleteDBInstance { instance: String = "DBInstanceId" }
    RestartDBInstance { instance: String = "DBInstanceId" }
    StopDBInstance { instance: String = "DBInstanceId" }
    StartDBInstance { instance: String = "DBInstanceId" }
    ModifyDBInstanceSpec {
        instance: String = "DBInstanceId",
        class: Option<String> = "DBInstanceClass",
        storage_gb: Option<i64> = "DBInstanceStorage",
        storage_type: Option<String> = "DBInstanceStorageType",
        pay_type: Option<String> = "PayType",
        direction: Option<String> = "Direction",
        effective_time: Option<String> = "EffectiveTime",
        engine_version: Option<String> = "EngineVersion",
    }
    ModifyDBInstanceDescription { instance: String = "DBInstanceId", description: String = "DBInstanceDescription" }
    ModifyDBInstanceDeletionProtection { instance: String = "DBInstanceId", protect: bool = "DeletionProtection" }
    ModifyDBInstanceMaintainTime { instance: String = "DBInstanceId", window: String = "MaintainTime" }
    ModifyDBDescription { instance: String = "DBInstanceId", name: String = "DBName", description: String = "DBDescription" }
    ModifyAccountDescription { instance: String = "DBInstanceId", account: String = "AccountName", description: String = "AccountDescription" }
    DescribeDBInstanceNetInfo { instance: String = "DBInstanceId" }
    ModifySecurityIps {
        instance: String = "DBInstanceId",
        ips: String = "SecurityIps",
        group: Option<String> = "DBInstanceIPArrayName",
        mode: Option<String> = "ModifyMode",
        attribute: Option<String> = "DBInstanceIPArrayAttribute",
        ip_type: Option<String> = "SecurityIPType",
        network_type: Option<String> = "WhitelistNetworkType",
    }
    DescribeDBInstanceIPArrayList { instance: String = "DBInstanceId" }
    CreateDatabase {
        instance: String = "DBInstanceId",
        name: String = "DBName",
        charset: String = "CharacterSetName",
        account: Option<String> = "AccountName",
        privilege: Option<String> = "AccountPrivilege",
        description: Option<String> = "DBDescription",
    }
    DescribeDatabases {
        instance: String = "DBInstanceId",
        name: Option<String> = "DBName",
        status: Option<String> = "DBStatus",
        page: Paging = "Page",
    }
    DeleteDatabase { instance: String = "DBInstanceId", name: String = "DBName" }
    CreateAccount {
        instance: String = "DBInstanceId",
        name: String = "AccountName",
        password: String = "AccountPassword",
        account_type: Option<String> = "AccountType",
        description: Option<String> = "AccountDescription",
    }
    DescribeAccounts { instance: String = "DBInstanceId", name: Option<String> = "AccountName" }
    DeleteAccount { instance: String = "DBInstanceId", name: String = "AccountName" }
    ResetAccountPassword { instance: String = "DBInstanceId", name: String = "AccountName", password: String = "AccountPassword" }
    GrantAccountPrivilege {
        instance: String = "DBInstanceId",
        account: String = "AccountName",
        /// Comma-separated database names.
        databases: String = "DBName",
        /// One privilege for all databases, or one per database, comma-separated.
        privileges: String = "AccountPrivilege",
    }
    RevokeAccountPrivilege {
        instance: String = "DBInstanceId",
        account: String = "AccountName",
        /// Comma-separated database names.
        databases: String = "DBName",
    }
    ImportDatabaseBetweenInstances {
        instance: String = "DBInstanceId",
        source: String = "SourceDBInstanceId",
        db_info: String = "DBInfo",
        dry_run: Option<bool> = "DryRun",
    }
    DescibeImportsFromDatabase { listing: ImportListing = "" }
    DescribeImportsForSQLServer { listing: ImportListing = "" }
    CancelImport { instance: String = "DBInstanceId", import_id: i64 = "ImportId" }
    DescribeImportProgress { instance: String = "DBInstanceId", import_id: i64 = "ImportId" }
    DescribeRegions {}
    DescribeAvailableClasses { region_id: Option<String> = "RegionId", engine: Option<String> = "Engine" }
    CreateBackup {
        instance: String = "DBInstanceId",
        method: Option<String> = "BackupMethod",
        strategy: Option<String> = "BackupStrategy",
        backup_type: Option<String> = "BackupType",
        db_name: Option<String> = "DBName",
    }
    DescribeBackups {
        instance: String = "DBInstanceId",
        backup_id: Option<String> = "BackupId",
        mode: Option<String> = "BackupMode",
        status: Option<String> = "BackupStatus",
        backup_type: Option<String> = "BackupType",
        start_time: Option<String> = "StartTime",
        end_time: Option<String> = "EndTime",
        page: Paging = "Page",
    }
    DescribeBackupTasks {
        instance: String = "DBInstanceId",
        job_id: Option<i64> = "BackupJobId",
        job_status: Option<String> = "BackupJobStatus",
        mode: Option<String> = "BackupMode",
    }
    DeleteBackup {
        instance: String = "DBInstanceId",
        /// Comma-separated backup set ids.
        backup_ids: String = "BackupId",
    }
    DescribeLogBackupFiles {
        instance: String = "DBInstanceId",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        page: Paging = "Page",
    }
    DescribeBinlogFiles {
        instance: String = "DBInstanceId",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        page: Paging = "Page",
    }
    RecoveryDBInstance {
        db_names: String = "DbNames",
        instance: Option<String> = "DBInstanceId",
        backup_id: Option<String> = "BackupId",
        restore_time: Option<String> = "RestoreTime",
        target: Option<String> = "TargetDBInstanceId",
        class: Option<String> = "DBInstanceClass",
        storage_gb: Option<i64> = "DBInstanceStorage",
        storage_type: Option<String> = "DBInstanceStorageType",
        pay_type: Option<String> = "PayType",
        network_type: Option<String> = "InstanceNetworkType",
    }
    TagResources { region_id: String = "RegionId", resource_type: String = "ResourceType", ids: List = "ResourceId", tags: Tags = "Tag" }
    UntagResources {
        region_id: String = "RegionId",
        resource_type: String = "ResourceType",
        ids: List = "ResourceId",
        keys: List = "TagKey",
        all: Option<bool> = "All",
    }
    ListTagResources {
        region_id: String = "RegionId",
        resource_type: String = "ResourceType",
        ids: List = "ResourceId",
        tags: Tags = "Tag",
        next_token: Option<String> = "NextToken",
    }
    DescribeTags {
        region_id: String = "RegionId",
        instance: Option<String> = "DBInstanceId",
        resource_type: Option<String> = "ResourceType",
        /// A JSON object `{"key":"value"}` naming the tags asked about.
        tags: Option<String> = "Tags",
    }
    DescribeParameterTemplates {
        engine: String = "Engine",
        engine_version: String = "EngineVersion",
        category: Option<String> = "Category",
        instance: Option<String> = "DBInstanceId",
    }
    DescribeParameters { instance: String = "DBInstanceId" }
    ModifyParameter {
        instance: String = "DBInstanceId",
        parameters: Option<String> = "Parameters",
        force_restart: Option<bool> = "Forcerestart",
        group_id: Option<String> = "ParameterGroupId",
        switch_time_mode: Option<String> = "SwitchTimeMode",
    }
    DescribeModifyParameterLog {
        instance: String = "DBInstanceId",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        page: Paging = "Page",
    }
    DescribeResourceUsage { instance: String = "DBInstanceId" }
    DescribeSlowLogs {
        instance: String = "DBInstanceId",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        db_name: Option<String> = "DBName",
        sort_key: Option<String> = "SortKey",
        page: Paging = "Page",
    }
    DescribeSlowLogRecords {
        instance: String = "DBInstanceId",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        db_name: Option<String> = "DBName",
        sql_hash: Option<String> = "SQLHASH",
        page: Paging = "Page",
    }
    DescribeDBInstancePerformance {
        instance: String = "DBInstanceId",
        /// Comma-separated keys (`MySQL_QPSTPS,MySQL_Sessions`).
        key: String = "Key",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        node_id: Option<String> = "NodeId",
    }
    DescribeCharacterSetName {
        region_id: String = "RegionId",
        engine: String = "Engine",
        resource_group_id: Option<String> = "ResourceGroupId",
    }
    DescribeErrorLogs {
        instance: String = "DBInstanceId",
        start_time: String = "StartTime",
        end_time: String = "EndTime",
        page: Paging = "Page",
    }
    CheckDBNameAvailable { instance: String = "DBInstanceId", name: String = "DBName" }
    CheckAccountNameAvailable { instance: String = "DBInstanceId", account: String = "AccountName" }
    DescribeAvailableZones {
        region_id: String = "RegionId",
        engine: String = "Engine",
        engine_version: Option<String> = "EngineVersion",
        zone_id: Option<String> = "ZoneId",
        category: Option<String> = "Category",
    }
    DescribeBackupPolicy { instance: String = "DBInstanceId", mode: Option<String> = "BackupPolicyMode" }
    ModifyBackupPolicy {
        instance: String = "DBInstanceId",
        mode: Option<String> = "BackupPolicyMode",
        preferred_time: Option<String> = "PreferredBackupTime",
        preferred_period: Option<String> = "PreferredBackupPeriod",
        retention_days: Option<String> = "BackupRetentionPeriod",
        backup_log: Option<String> = "BackupLog",
        enable_backup_log: Option<String> = "EnableBackupLog",
        log_retention_days: Option<String> = "LogBackupRetentionPeriod",
    }
    CloneDBInstance {
        instance: String = "DBInstanceId",
        pay_type: String = "PayType",
        backup_id: Option<String> = "BackupId",
        restore_time: Option<String> = "RestoreTime",
        backup_type: Option<String> = "BackupType",
        class: Option<String> = "DBInstanceClass",
        storage_gb: Option<i64> = "DBInstanceStorage",
        storage_type: Option<String> = "DBInstanceStorageType",
        description: Option<String> = "DBInstanceDescription",
        region_id: Option<String> = "RegionId",
        zone_id: Option<String> = "ZoneId",
        network_type: Option<String> = "InstanceNetworkType",
        category: Option<String> = "Category",
    }

    CreateUser { user: String = "UserName", display_name: Option<String> = "DisplayName", comments: Option<String> = "Comments" }
    GetUser { user: String = "UserName" }
    DeleteUser { user: String = "UserName" }
    ListUsers {}
    CreateAccessKey { user: Option<String> = "UserName" }
    UpdateAccessKey { key_id: String = "UserAccessKeyId", status: String = "Status", user: Option<String> = "UserName" }
    DeleteAccessKey { key_id: String = "UserAccessKeyId", user: Option<String> = "UserName" }
    ListAccessKeys { user: Option<String> = "UserName" }
    CreatePolicy { name: String = "PolicyName", document: String = "PolicyDocument", description: Option<String> = "Description" }
    DeletePolicy { name: String = "PolicyName" }
    ListPolicies { policy_type: Option<String> = "PolicyType" }
    AttachPolicyToUser { policy_type: String = "PolicyType", name: String = "PolicyName", user: String = "UserName" }
    DetachPolicyFromUser { policy_type: String = "PolicyType", name: String = "PolicyName", user: String = "UserName" }
    ListPoliciesForUser { user: String = "UserName" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from(pairs)
    }

    #[test]
    fn every_action_has_parameters() {
        let missing: Vec<_> = Action::ALL.iter().filter(|a| !ALL.contains(a)).collect();
        assert!(missing.is_empty(), "actions without a parameter struct: {missing:?}");
        assert_eq!(ALL.len(), Action::ALL.len());
    }

    #[test]
    fn the_first_missing_parameter_is_named() {
        let e = ResetAccountPassword::from_params(&params(&[("DBInstanceId", "pgm-1")])).unwrap_err();
        assert_eq!(e, WireError::MissingParameter("AccountName".into()));
        let e = CancelImport::from_params(&params(&[("DBInstanceId", "pgm-1"), ("ImportId", "x")])).unwrap_err();
        assert!(matches!(e, WireError::InvalidParameter { name, .. } if name == "ImportId"));
    }

    #[test]
    fn values_are_typed() {
        let p = CreateDBInstance::from_params(&params(&[
            ("RegionId", "cn-hangzhou"),
            ("Engine", "PostgreSQL"),
            ("EngineVersion", "15.0"),
            ("DBInstanceClass", "pg.n2.small.1"),
            ("DBInstanceStorage", " 20 "),
            ("DryRun", "TRUE"),
            ("Tag.2.Key", "b"),
            ("Tag.1.Key", "a"),
            ("Tag.1.Value", "1"),
            ("Tag.3.Value", "keyless"),
            ("ZoneId", ""),
        ]))
        .unwrap();
        assert_eq!(p.storage_gb, 20);
        assert_eq!(p.dry_run, Some(true));
        assert_eq!(p.zone_id, None);
        assert_eq!(p.tags, Tags(vec![("a".into(), "1".into()), ("b".into(), String::new())]));
        assert_eq!(CreateDBInstance::ACTION.ram_action(), "rds:CreateDBInstance");
    }
}
