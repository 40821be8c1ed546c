//! Login accounts of an instance and their privileges. The engine holds the accounts and
//! the real grants; the store keeps the API's type and description.

use wire::Action;
use crate::{names, Caller, ControlError, ControlPlane, Result};
use engine::{AccountInfo, AccountKind, ErrorKind, Privilege};
use store::AccountNote;

#[derive(Debug, Clone)]
pub struct AccountView {
    pub info: AccountInfo,
    pub account_type: &'static str,
    pub description: String,
}

/// Parses `AccountType`.
pub fn parse_account_type(value: Option<&str>) -> Result<AccountKind> {
    match value.unwrap_or("Normal") {
        "Normal" => Ok(AccountKind::Normal),
        "Super" => Ok(AccountKind::Super),
        other => Err(ControlError::invalid("AccountType", format!("{other:?} must be Normal or Super"))),
    }
}

/// Parses one `AccountPrivilege` value.
pub fn parse_privilege(value: &str) -> Result<Privilege> {
    Privilege::parse(value.trim()).ok_or_else(|| {
        ControlError::PrivilegeInvalid(format!(
            "The specified AccountPrivilege {value:?} is not valid; use ReadWrite, ReadOnly, DDLOnly, DMLOnly or DBOwner."
        ))
    })
}

fn kind_name(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Normal => "Normal",
        AccountKind::Super => "Super",
    }
}

impl ControlPlane {
    async fn account_exists(&self, spec: &engine::InstanceSpec, engine: &dyn engine::Engine, name: &str, id: &str) -> Result<()> {
        if engine.list_accounts(spec).await?.iter().any(|a| a.name == name) {
            Ok(())
        } else {
            Err(ControlError::AccountNotFound(format!("The account {name} does not exist on instance {id}.")))
        }
    }

    pub async fn create_account(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
        password: &str,
        kind: AccountKind,
        description: Option<&str>,
    ) -> Result<()> {
        let row = self.authorized_instance(caller, Action::CreateAccount, id).await?;
        names::check_account_name(self.engine_of(&row)?.catalogue(), name)?;
        names::check_password(password)?;
        let (engine, spec) = self.running_engine(&row)?;
        let duplicate = || ControlError::AccountDuplicate(format!("The account {name} already exists on instance {id}."));
        // An account without a login (made by an import) is not a duplicate: the engine
        // gives it its login, keeping what it owns.
        if engine.list_accounts(&spec).await?.iter().any(|a| a.name == name && a.can_login) {
            return Err(duplicate());
        }
        engine.create_account(&spec, name, password, kind).await.map_err(|e| match e.kind {
            ErrorKind::AlreadyExists => duplicate(),
            _ => e.into(),
        })?;
        self.store
            .put_account_note(&AccountNote {
                instance_id: row.id.clone(),
                account_name: name.to_string(),
                account_type: kind_name(kind).to_string(),
                description: description.unwrap_or_default().to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn describe_accounts(&self, caller: &Caller, id: &str, name: Option<&str>) -> Result<Vec<AccountView>> {
        let row = self.authorized_instance(caller, Action::DescribeAccounts, id).await?;
        let engine = self.engine_of(&row)?;
        let spec = self.spec(&row)?;
        let notes = self.store.list_account_notes(&row.id).await?;
        let mut out: Vec<AccountView> = engine
            .list_accounts(&spec)
            .await?
            .into_iter()
            .filter(|a| name.is_none_or(|n| n == a.name))
            .map(|info| {
                let description =
                    notes.iter().find(|n| n.account_name == info.name).map(|n| n.description.clone()).unwrap_or_default();
                AccountView { account_type: kind_name(info.kind), info, description }
            })
            .collect();
        out.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        Ok(out)
    }

    pub async fn delete_account(&self, caller: &Caller, id: &str, name: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::DeleteAccount, id).await?;
        let (engine, spec) = self.running_engine(&row)?;
        self.account_exists(&spec, engine.as_ref(), name, id).await?;
        engine.drop_account(&spec, name).await?;
        self.store.delete_account_note(&row.id, name).await?;
        Ok(())
    }

    /// CheckAccountNameAvailable: a name CreateAccount would accept on this instance now.
    pub async fn check_account_name_available(&self, caller: &Caller, id: &str, name: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::CheckAccountNameAvailable, id).await?;
        names::check_account_name(self.engine_of(&row)?.catalogue(), name)?;
        let (engine, spec) = self.running_engine(&row)?;
        if engine.list_accounts(&spec).await?.iter().any(|a| a.name == name && a.can_login) {
            return Err(ControlError::AccountDuplicate(format!("The account {name} already exists on instance {id}.")));
        }
        Ok(())
    }

    /// ModifyAccountDescription.
    pub async fn modify_account_description(&self, caller: &Caller, id: &str, name: &str, description: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifyAccountDescription, id).await?;
        crate::modify::check_description("AccountDescription", description)?;
        let (engine, spec) = self.running_engine(&row)?;
        let info = engine.list_accounts(&spec).await?.into_iter().find(|a| a.name == name && a.can_login);
        let Some(info) = info else { return Err(ControlError::AccountNotFound(format!("The account {name} does not exist on instance {id}."))) };
        self.store
            .put_account_note(&AccountNote {
                instance_id: row.id.clone(),
                account_name: name.to_string(),
                account_type: kind_name(info.kind).to_string(),
                description: description.to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn reset_account_password(&self, caller: &Caller, id: &str, name: &str, password: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ResetAccountPassword, id).await?;
        names::check_password(password)?;
        let (engine, spec) = self.running_engine(&row)?;
        self.account_exists(&spec, engine.as_ref(), name, id).await?;
        engine.reset_password(&spec, name, password).await?;
        Ok(())
    }

    /// Grants one privilege per database; every pair is checked before any is applied.
    pub async fn grant_privileges(&self, caller: &Caller, id: &str, account: &str, grants: &[(String, Privilege)]) -> Result<()> {
        let row = self.authorized_instance(caller, Action::GrantAccountPrivilege, id).await?;
        let (engine, spec) = self.running_engine(&row)?;
        self.account_exists(&spec, engine.as_ref(), account, id).await?;
        self.databases_exist(&spec, engine.as_ref(), grants.iter().map(|(d, _)| d.as_str()), id).await?;
        for (db, privilege) in grants {
            engine.grant(&spec, account, db, *privilege).await?;
        }
        Ok(())
    }

    pub async fn revoke_privileges(&self, caller: &Caller, id: &str, account: &str, dbs: &[String]) -> Result<()> {
        let row = self.authorized_instance(caller, Action::RevokeAccountPrivilege, id).await?;
        let (engine, spec) = self.running_engine(&row)?;
        self.account_exists(&spec, engine.as_ref(), account, id).await?;
        self.databases_exist(&spec, engine.as_ref(), dbs.iter().map(String::as_str), id).await?;
        for db in dbs {
            engine.revoke(&spec, account, db).await?;
        }
        Ok(())
    }

    async fn databases_exist<'a>(
        &self,
        spec: &engine::InstanceSpec,
        engine: &dyn engine::Engine,
        dbs: impl Iterator<Item = &'a str>,
        id: &str,
    ) -> Result<()> {
        let existing = engine.list_databases(spec).await?;
        for db in dbs {
            if !existing.iter().any(|d| d.name == db) {
                return Err(ControlError::DbNotFound(format!("The database {db} does not exist on instance {id}.")));
            }
        }
        Ok(())
    }
}
