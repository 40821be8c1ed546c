//! Databases of an instance. The engine is the truth about which databases exist; the
//! store only adds what the engine cannot hold (the API's description).

use wire::Action;
use crate::{names, Caller, ControlError, ControlPlane, Result};
use engine::{AccountInfo, DatabaseInfo, ErrorKind, Privilege};
use store::DatabaseNote;

/// A database as DescribeDatabases shows it.
#[derive(Debug, Clone)]
pub struct DatabaseView {
    pub info: DatabaseInfo,
    pub description: String,
    /// (account, privilege, engine detail) for each account holding rights on it.
    pub accounts: Vec<(String, Privilege, String)>,
}

#[derive(Debug, Clone)]
pub struct CreateDatabase {
    pub name: String,
    pub charset: String,
    pub description: Option<String>,
    /// An existing account to grant `privilege` on the new database.
    pub account: Option<(String, Privilege)>,
}

impl ControlPlane {
    pub async fn create_database(&self, caller: &Caller, id: &str, req: CreateDatabase) -> Result<()> {
        let row = self.authorized_instance(caller, Action::CreateDatabase, id).await?;
        let catalogue = self.engine_of(&row)?.catalogue();
        names::check_db_name(catalogue, &req.name)?;
        if let Some(d) = &req.description {
            if d.chars().count() > 256 {
                return Err(ControlError::invalid("DBDescription", "it must be at most 256 characters"));
            }
        }
        let charset = names::parse_charset(catalogue, &req.charset)?;
        let (engine, spec) = self.running_engine(&row)?;
        // Everything that can be refused is checked before the database exists, so a
        // refusal never leaves a database behind.
        if engine.list_databases(&spec).await?.iter().any(|d| d.name == req.name) {
            return Err(ControlError::DbDuplicate(format!("The database {} already exists on instance {id}.", req.name)));
        }
        if let Some((account, _)) = &req.account {
            if !engine.list_accounts(&spec).await?.iter().any(|a| &a.name == account) {
                return Err(ControlError::AccountNotFound(format!("The account {account} does not exist on instance {id}.")));
            }
        }
        engine.create_database(&spec, &req.name, &charset).await.map_err(|e| match e.kind {
            ErrorKind::AlreadyExists => ControlError::DbDuplicate(format!("The database {} already exists on instance {id}.", req.name)),
            ErrorKind::InvalidCharset => ControlError::CharsetFormat(e.message),
            _ => e.into(),
        })?;
        if let Some((account, privilege)) = &req.account {
            if let Err(e) = engine.grant(&spec, account, &req.name, *privilege).await {
                // Undo: a half-made database (created but not granted) is not left behind.
                let _ = engine.drop_database(&spec, &req.name).await;
                return Err(e.into());
            }
        }
        if let Some(description) = req.description {
            self.store
                .put_database_note(&DatabaseNote { instance_id: row.id.clone(), db_name: req.name.clone(), description })
                .await?;
        }
        self.store
            .append_event(&format!("dbinstance/{}", row.id), "DatabaseCreated", &serde_json::json!({"DBName": req.name}).to_string())
            .await?;
        Ok(())
    }

    /// The name prefixes of the staging databases of the imports into `instance_id` that
    /// have not ended: those databases are an import's, not the user's, until published.
    /// Known by the tags recorded in the store, never by the look of a name alone.
    pub(crate) async fn live_staging_prefixes(&self, instance_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .unfinished_imports()
            .await?
            .into_iter()
            .filter(|t| t.dest_id == instance_id && !t.staging_tag.is_empty())
            .map(|t| mover::staging_prefix(&t.staging_tag))
            .collect())
    }

    pub async fn describe_databases(&self, caller: &Caller, id: &str, name: Option<&str>) -> Result<Vec<DatabaseView>> {
        let row = self.authorized_instance(caller, Action::DescribeDatabases, id).await?;
        let engine = self.engine_of(&row)?;
        let spec = self.spec(&row)?;
        let mut dbs = engine.list_databases(&spec).await?;
        // An import's staging databases are invisible until it publishes them.
        let staging = self.live_staging_prefixes(&row.id).await?;
        dbs.retain(|d| !staging.iter().any(|p| d.name.starts_with(p.as_str())));
        if let Some(n) = name {
            dbs.retain(|d| d.name == n);
        }
        let accounts = if dbs.is_empty() { Vec::new() } else { engine.list_accounts(&spec).await? };
        let notes = self.store.list_database_notes(&row.id).await?;
        dbs.sort_by(|a, b| a.name.cmp(&b.name));
        let view = |info: DatabaseInfo| {
            let note = notes.iter().find(|n| n.db_name == info.name);
            let accounts = privileges_on(&accounts, &info.name);
            DatabaseView { description: note.map(|n| n.description.clone()).unwrap_or_default(), info, accounts }
        };
        Ok(dbs.into_iter().map(view).collect())
    }

    /// CheckDBNameAvailable: a name CreateDatabase would accept on this instance now.
    pub async fn check_db_name_available(&self, caller: &Caller, id: &str, name: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::CheckDBNameAvailable, id).await?;
        names::check_db_name(self.engine_of(&row)?.catalogue(), name)?;
        let (engine, spec) = self.running_engine(&row)?;
        if engine.list_databases(&spec).await?.iter().any(|d| d.name == name) {
            return Err(ControlError::DbDuplicate(format!("The database {name} already exists on instance {id}.")));
        }
        Ok(())
    }

    /// ModifyDBDescription.
    pub async fn modify_database_description(&self, caller: &Caller, id: &str, name: &str, description: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::ModifyDBDescription, id).await?;
        crate::modify::check_description("DBDescription", description)?;
        let (engine, spec) = self.running_engine(&row)?;
        let staging = self.live_staging_prefixes(&row.id).await?;
        if staging.iter().any(|p| name.starts_with(p.as_str())) || !engine.list_databases(&spec).await?.iter().any(|d| d.name == name) {
            return Err(ControlError::DbNotFound(format!("The database {name} does not exist on instance {id}.")));
        }
        self.store.put_database_note(&DatabaseNote { instance_id: row.id.clone(), db_name: name.to_string(), description: description.to_string() }).await?;
        Ok(())
    }

    pub async fn delete_database(&self, caller: &Caller, id: &str, name: &str) -> Result<()> {
        let row = self.authorized_instance(caller, Action::DeleteDatabase, id).await?;
        let (engine, spec) = self.running_engine(&row)?;
        let staging = self.live_staging_prefixes(&row.id).await?;
        if staging.iter().any(|p| name.starts_with(p.as_str())) || !engine.list_databases(&spec).await?.iter().any(|d| d.name == name) {
            return Err(ControlError::DbNotFound(format!("The database {name} does not exist on instance {id}.")));
        }
        engine.drop_database(&spec, name).await.map_err(|e| match e.kind {
            ErrorKind::NotFound => ControlError::DbNotFound(format!("The database {name} does not exist on instance {id}.")),
            _ => e.into(),
        })?;
        self.store.delete_database_note(&row.id, name).await?;
        self.store
            .append_event(&format!("dbinstance/{}", row.id), "DatabaseDeleted", &serde_json::json!({"DBName": name}).to_string())
            .await?;
        Ok(())
    }
}

fn privileges_on(accounts: &[AccountInfo], db: &str) -> Vec<(String, Privilege, String)> {
    accounts
        .iter()
        .filter_map(|a| {
            let privilege = a.privileges.iter().find(|(d, _)| d == db)?.1;
            let detail = a.privilege_detail.iter().find(|(d, _)| d == db).map(|(_, s)| s.clone()).unwrap_or_default();
            Some((a.name.clone(), privilege, detail))
        })
        .collect()
}
