//! Who is calling, and may they: the root account and its key, access-key lookup for
//! signature checks, nonce replay protection, and RAM authorisation of every call.

use wire::Action;
use crate::{config::ControlConfig, ids, ControlError, ControlPlane, Result};
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use store::{AccessKey, AccessKeyStatus, Account, MetadataStore, Principal, StoreError};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub access_key_id: String,
    pub source_ip: Option<IpAddr>,
    pub secure_transport: bool,
}

impl Caller {
    pub fn account_uid(&self) -> &str {
        self.principal.account_uid()
    }

    fn describe(&self) -> String {
        match &self.principal {
            Principal::Root { account_uid } => format!("account {account_uid}"),
            Principal::User { user_name, .. } => format!("RAM user {user_name}"),
        }
    }
}

/// The root key as written to `<data-dir>/credentials`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl RootCredentials {
    /// The file's text: an INI profile the CLI and the SDK tests read.
    pub fn to_file_text(&self, endpoint: &str) -> String {
        format!(
            "[default]\naccess_key_id = {}\naccess_key_secret = {}\nendpoint = {}\n",
            self.access_key_id, self.access_key_secret, endpoint
        )
    }

    pub fn parse(text: &str) -> Option<RootCredentials> {
        let value = |key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        Some(RootCredentials { access_key_id: value("access_key_id")?, access_key_secret: value("access_key_secret")? })
    }
}

/// Ensures the node's root account exists and holds the root key: the operator's key when
/// given, else the one in the credentials file, else a new one written there (0600).
pub(crate) async fn bootstrap_root(store: &dyn MetadataStore, config: &ControlConfig) -> Result<Account> {
    let accounts = store.list_accounts().await?;
    let root = match accounts.into_iter().min_by_key(|a| a.created_at) {
        Some(a) => a,
        None => {
            let account = Account { uid: ids::numeric_id(), name: "openrds".into(), created_at: Utc::now() };
            store.create_account(&account).await?;
            account
        }
    };
    let path = config.credentials_path();
    let creds = match &config.root_key {
        Some((id, secret)) => RootCredentials { access_key_id: id.clone(), access_key_secret: secret.clone() },
        None => match std::fs::read_to_string(&path).ok().and_then(|t| RootCredentials::parse(&t)) {
            Some(c) => c,
            None => {
                let c = RootCredentials { access_key_id: ids::access_key_id(), access_key_secret: ids::access_key_secret() };
                write_private(&path, &c.to_file_text(&config.advertised_endpoint))?;
                tracing::info!(path = %path.display(), "generated the root access key");
                c
            }
        },
    };
    let principal = Principal::Root { account_uid: root.uid.clone() };
    match store.get_access_key(&creds.access_key_id).await {
        Ok(k) if k.secret == creds.access_key_secret && k.principal == principal => {
            if k.status != AccessKeyStatus::Active {
                store.set_access_key_status(&k.id, AccessKeyStatus::Active).await?;
            }
        }
        Ok(_) => {
            // The operator changed the secret behind an existing id: the operator wins.
            store.delete_access_key(&creds.access_key_id).await?;
            insert_root_key(store, &creds, principal).await?;
        }
        Err(StoreError::NotFound(_)) => insert_root_key(store, &creds, principal).await?,
        Err(e) => return Err(e.into()),
    }
    Ok(root)
}

async fn insert_root_key(store: &dyn MetadataStore, creds: &RootCredentials, principal: Principal) -> Result<()> {
    store
        .insert_access_key(&AccessKey {
            id: creds.access_key_id.clone(),
            secret: creds.access_key_secret.clone(),
            principal,
            status: AccessKeyStatus::Active,
            created_at: Utc::now(),
        })
        .await?;
    Ok(())
}

pub(crate) fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| ControlError::Internal(format!("write {}: {e}", tmp.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ControlError::Internal(format!("write {}: {e}", path.display())))
}

/// Creates another tenant account with its own root key (operator tooling; not an API
/// call). Returns the account and its key.
pub async fn create_tenant(store: &dyn MetadataStore, name: &str) -> Result<(Account, RootCredentials)> {
    let account = Account { uid: ids::numeric_id(), name: name.to_string(), created_at: Utc::now() };
    store.create_account(&account).await?;
    let creds = RootCredentials { access_key_id: ids::access_key_id(), access_key_secret: ids::access_key_secret() };
    insert_root_key(store, &creds, Principal::Root { account_uid: account.uid.clone() }).await?;
    Ok((account, creds))
}

impl ControlPlane {
    /// The key a request claims to be signed with, if it exists and is active.
    pub async fn access_key(&self, id: &str) -> Result<AccessKey> {
        match self.store.get_access_key(id).await {
            Ok(k) if k.status == AccessKeyStatus::Active => Ok(k),
            Ok(_) => Err(ControlError::AccessKeyInactive),
            Err(StoreError::NotFound(_)) => Err(ControlError::AccessKeyUnknown),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a nonce; `false` if it was seen within its lifetime (a replay).
    pub async fn remember_nonce(&self, key_id: &str, nonce: &str, expires_at: DateTime<Utc>) -> Result<bool> {
        Ok(self.store.remember_nonce(key_id, nonce, expires_at).await?)
    }

    /// RAM check: the root account may do anything with what it owns; a RAM user needs an
    /// Allow and no Deny among its policies for `action` on `resource`.
    pub async fn authorize(&self, caller: &Caller, action: Action, resource: &str, tags: &[(String, String)]) -> Result<()> {
        let Principal::User { account_uid, user_name } = &caller.principal else {
            return Ok(());
        };
        let mut documents = Vec::new();
        for (_, policy) in self.store.policies_for_user(account_uid, user_name).await? {
            match iam::parse_policy(&policy.document) {
                Ok(doc) => documents.push(doc),
                // Stored documents were validated on the way in; a broken one grants nothing.
                Err(e) => tracing::warn!(policy = %policy.policy_name, error = %e, "skipping unparseable policy"),
            }
        }
        let ctx = iam::RequestContext {
            action: action.ram_action(),
            resource: resource.to_string(),
            source_ip: caller.source_ip,
            secure_transport: caller.secure_transport,
            current_time: Utc::now(),
            access_key_id: caller.access_key_id.clone(),
            resource_tags: tags.to_vec(),
        };
        match iam::evaluate(&documents, &ctx) {
            iam::Decision::Allow => Ok(()),
            iam::Decision::ExplicitDeny | iam::Decision::ImplicitDeny => Err(ControlError::Forbidden {
                action: action.ram_action(),
                resource: resource.to_string(),
                principal: caller.describe(),
            }),
        }
    }
}
