//! The actions this endpoint serves, as a type: each knows its API (version), its name on
//! the wire and the action RAM policies name (`rds:CreateDBInstance`). Parsed once from a
//! request; everything after works with the value.

use crate::{RAM_VERSION, RDS_VERSION};

/// Which API an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// ApsaraDB RDS, `2014-08-15`.
    Rds,
    /// RAM, `2015-05-01`, served on the same endpoint.
    Ram,
}

impl Api {
    pub fn version(self) -> &'static str {
        match self {
            Api::Rds => RDS_VERSION,
            Api::Ram => RAM_VERSION,
        }
    }

    /// The service prefix of RAM action names (`rds`, `ram`).
    pub fn service(self) -> &'static str {
        match self {
            Api::Rds => "rds",
            Api::Ram => "ram",
        }
    }

    pub fn of_version(version: &str) -> Option<Api> {
        [Api::Rds, Api::Ram].into_iter().find(|api| api.version() == version)
    }
}

macro_rules! actions {
    ($($api:ident: [$($action:ident),+ $(,)?]),+ $(,)?) => {
        /// Every served action; the variant's name is the action's name on the wire.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::enum_variant_names)]
        pub enum Action {
            $($($action),+),+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$($(Action::$action),+),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($(Action::$action => stringify!($action)),+),+
                }
            }

            pub fn api(self) -> Api {
                match self {
                    $($(Action::$action => Api::$api),+),+
                }
            }
        }
    };
}

actions! {
    Rds: [
        CreateDBInstance,
        DescribeDBInstances,
        DescribeDBInstanceAttribute,
        DeleteDBInstance,
        RestartDBInstance,
        DescribeDBInstanceNetInfo,
        ModifySecurityIps,
        DescribeDBInstanceIPArrayList,
        CreateDatabase,
        DescribeDatabases,
        DeleteDatabase,
        CreateAccount,
        DescribeAccounts,
        DeleteAccount,
        ResetAccountPassword,
        GrantAccountPrivilege,
        RevokeAccountPrivilege,
        ImportDatabaseBetweenInstances,
        // Alibaba's own spelling.
        DescibeImportsFromDatabase,
        DescribeImportsForSQLServer,
        CancelImport,
        DescribeImportProgress,
        DescribeRegions,
        DescribeAvailableClasses,
        CreateBackup,
        DescribeBackups,
        DescribeBackupTasks,
        DeleteBackup,
        CloneDBInstance,
        DescribeBackupPolicy,
        ModifyBackupPolicy,
        DescribeLogBackupFiles,
        DescribeBinlogFiles,
        RecoveryDBInstance,
        ModifyDBInstanceSpec,
        StopDBInstance,
        StartDBInstance,
        ModifyDBInstanceDescription,
        ModifyDBInstanceDeletionProtection,
        ModifyDBInstanceMaintainTime,
        ModifyDBDescription,
        ModifyAccountDescription,
        TagResources,
        UntagResources,
        ListTagResources,
        DescribeTags,
        CheckDBNameAvailable,
        CheckAccountNameAvailable,
        DescribeAvailableZones,
        DescribeParameterTemplates,
        DescribeParameters,
        ModifyParameter,
        DescribeModifyParameterLog,
        DescribeResourceUsage,
        DescribeErrorLogs,
        DescribeSlowLogRecords,
        DescribeSlowLogs,
        DescribeDBInstancePerformance,
        DescribeCharacterSetName,
    ],
    Ram: [
        CreateUser,
        GetUser,
        DeleteUser,
        ListUsers,
        CreateAccessKey,
        UpdateAccessKey,
        DeleteAccessKey,
        ListAccessKeys,
        CreatePolicy,
        DeletePolicy,
        ListPolicies,
        AttachPolicyToUser,
        DetachPolicyFromUser,
        ListPoliciesForUser,
    ],
}

impl Action {
    /// The action `name` of the API of `version`, if served.
    pub fn find(version: &str, name: &str) -> Option<Action> {
        let api = Api::of_version(version)?;
        Action::ALL.iter().copied().find(|a| a.api() == api && a.name() == name)
    }

    /// The action as RAM policies name it (`rds:CreateDBInstance`, `ram:CreateUser`).
    pub fn ram_action(self) -> String {
        format!("{}:{}", self.api().service(), self.name())
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_found_in_their_own_api_only() {
        assert_eq!(Action::find(RDS_VERSION, "CreateDBInstance"), Some(Action::CreateDBInstance));
        assert_eq!(Action::find(RAM_VERSION, "CreateDBInstance"), None);
        assert_eq!(Action::find(RAM_VERSION, "CreateUser").map(Action::ram_action).as_deref(), Some("ram:CreateUser"));
        assert_eq!(Action::CancelImport.ram_action(), "rds:CancelImport");
        assert_eq!(Action::find("2099-01-01", "CreateUser"), None);
    }
}
