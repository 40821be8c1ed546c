//! RAM administration (API version 2015-05-01): users, their access keys, custom policies
//! and attachments. Every call is itself subject to RAM (`ram:<Action>`), so only the root
//! account or a user allowed `ram:*` manages identities.

use wire::Action;
use crate::{ids, ControlError, ControlPlane, Caller, Result};
use chrono::Utc;
use store::{AccessKey, AccessKeyStatus, Policy, PolicyAttachment, Principal, RamUser, StoreError};

/// A policy every account can attach without creating it.
pub struct SystemPolicy {
    pub name: &'static str,
    pub description: &'static str,
    pub document: &'static str,
}

pub const SYSTEM_POLICIES: &[SystemPolicy] = &[
    SystemPolicy {
        name: "AdministratorAccess",
        description: "Full access to every resource.",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "AliyunRDSFullAccess",
        description: "Full access to ApsaraDB RDS.",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}"#,
    },
    SystemPolicy {
        name: "AliyunRDSReadOnlyAccess",
        description: "Read-only access to ApsaraDB RDS.",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["rds:Describe*","rds:List*"],"Resource":"*"}]}"#,
    },
];

pub fn system_policy(name: &str) -> Option<&'static SystemPolicy> {
    SYSTEM_POLICIES.iter().find(|p| p.name == name)
}

/// A new access key, with the secret shown this once.
#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub key: AccessKey,
}

fn check_entity_name(param: &str, name: &str, max: usize) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ControlError::invalid(param, format!("{name:?} must be 1 to {max} characters of letters, digits, '.', '_', '-' or '@'")))
    }
}

fn not_found_user(name: &str) -> ControlError {
    ControlError::RamUserNotFound(format!("The user {name} does not exist."))
}

impl ControlPlane {
    async fn ram_authorize(&self, caller: &Caller, action: Action, relative: &str) -> Result<()> {
        let resource = format!("acs:ram:*:{}:{}", caller.account_uid(), relative);
        self.authorize(caller, action, &resource, &[]).await
    }

    async fn ram_user(&self, caller: &Caller, name: &str) -> Result<RamUser> {
        match self.store.get_ram_user(caller.account_uid(), name).await {
            Ok(u) => Ok(u),
            Err(StoreError::NotFound(_)) => Err(not_found_user(name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_ram_user(
        &self,
        caller: &Caller,
        user_name: &str,
        display_name: Option<&str>,
        comments: Option<&str>,
    ) -> Result<RamUser> {
        check_entity_name("UserName", user_name, 64)?;
        self.ram_authorize(caller, Action::CreateUser, &format!("user/{user_name}")).await?;
        let now = Utc::now();
        let user = RamUser {
            account_uid: caller.account_uid().to_string(),
            user_name: user_name.to_string(),
            user_id: ids::numeric_id(),
            display_name: display_name.unwrap_or(user_name).to_string(),
            comments: comments.unwrap_or_default().to_string(),
            created_at: now,
            updated_at: now,
        };
        match self.store.create_ram_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::AlreadyExists(_)) => {
                Err(ControlError::RamUserExists(format!("The user {user_name} already exists.")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_ram_user(&self, caller: &Caller, user_name: &str) -> Result<RamUser> {
        self.ram_authorize(caller, Action::GetUser, &format!("user/{user_name}")).await?;
        self.ram_user(caller, user_name).await
    }

    pub async fn list_ram_users(&self, caller: &Caller) -> Result<Vec<RamUser>> {
        self.ram_authorize(caller, Action::ListUsers, "user/*").await?;
        Ok(self.store.list_ram_users(caller.account_uid()).await?)
    }

    /// Refused while the user still has access keys or policies, as Alibaba does, so that
    /// nothing is revoked by accident.
    pub async fn delete_ram_user(&self, caller: &Caller, user_name: &str) -> Result<()> {
        self.ram_authorize(caller, Action::DeleteUser, &format!("user/{user_name}")).await?;
        self.ram_user(caller, user_name).await?;
        let principal = Principal::User { account_uid: caller.account_uid().into(), user_name: user_name.into() };
        if !self.store.list_access_keys(&principal).await?.is_empty() {
            return Err(ControlError::DeleteConflict {
                code: "DeleteConflict.User.AccessKey",
                message: format!("The user {user_name} still has access keys; delete them first."),
            });
        }
        if !self.store.policies_for_user(caller.account_uid(), user_name).await?.is_empty() {
            return Err(ControlError::DeleteConflict {
                code: "DeleteConflict.User.Policy",
                message: format!("The user {user_name} still has policies attached; detach them first."),
            });
        }
        // Checked again in the deleting transaction: a key created since the checks above
        // must refuse the deletion, not be deleted with the user.
        match self.store.delete_unused_ram_user(caller.account_uid(), user_name).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { expected, .. }) => Err(ControlError::DeleteConflict {
                code: if expected == "no policies" { "DeleteConflict.User.Policy" } else { "DeleteConflict.User.AccessKey" },
                message: format!("The user {user_name} still has {}; remove them first.", if expected == "no policies" { "policies attached" } else { "access keys" }),
            }),
            Err(StoreError::NotFound(_)) => Err(ControlError::RamUserNotFound(format!("The user {user_name} does not exist."))),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a key for a RAM user, or for the caller's own root account when `user_name`
    /// is absent and the caller is root.
    pub async fn create_access_key(&self, caller: &Caller, user_name: Option<&str>) -> Result<NewAccessKey> {
        let principal = match user_name {
            Some(name) => {
                self.ram_authorize(caller, Action::CreateAccessKey, &format!("user/{name}")).await?;
                self.ram_user(caller, name).await?;
                Principal::User { account_uid: caller.account_uid().into(), user_name: name.into() }
            }
            None => {
                self.ram_authorize(caller, Action::CreateAccessKey, "user/*").await?;
                caller.principal.clone()
            }
        };
        let existing = self.store.list_access_keys(&principal).await?;
        if existing.len() >= 2 {
            return Err(ControlError::LimitExceeded(
                "A user may hold at most 2 access keys; delete one before creating another.".into(),
            ));
        }
        let key = AccessKey {
            id: ids::access_key_id(),
            secret: ids::access_key_secret(),
            principal,
            status: AccessKeyStatus::Active,
            created_at: Utc::now(),
        };
        // The store checks in the same transaction that the user still exists: a user
        // deleted meanwhile gets no key.
        match self.store.insert_access_key(&key).await {
            Ok(()) => Ok(NewAccessKey { key }),
            Err(StoreError::NotFound(_)) => Err(ControlError::RamUserNotFound(format!(
                "The user {} does not exist.",
                user_name.unwrap_or_default()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn owned_access_key(&self, caller: &Caller, key_id: &str, user_name: Option<&str>) -> Result<AccessKey> {
        let not_found = || ControlError::AccessKeyNotFound(format!("The access key {key_id} does not exist."));
        let key = match self.store.get_access_key(key_id).await {
            Ok(k) => k,
            Err(StoreError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        // A key of another account, or of another user than the one named, is not there.
        let matches = match (&key.principal, user_name) {
            (Principal::User { account_uid, user_name: owner }, Some(name)) => {
                account_uid == caller.account_uid() && owner == name
            }
            (p, None) => p.account_uid() == caller.account_uid(),
            _ => false,
        };
        if matches {
            Ok(key)
        } else {
            Err(not_found())
        }
    }

    pub async fn update_access_key(
        &self,
        caller: &Caller,
        key_id: &str,
        status: AccessKeyStatus,
        user_name: Option<&str>,
    ) -> Result<()> {
        let target = user_name.map(|n| format!("user/{n}")).unwrap_or_else(|| "user/*".into());
        self.ram_authorize(caller, Action::UpdateAccessKey, &target).await?;
        if let Some(name) = user_name {
            self.ram_user(caller, name).await?;
        }
        self.owned_access_key(caller, key_id, user_name).await?;
        // A key that disables itself locks its holder out, and a root key has no way back.
        if key_id == caller.access_key_id && status == AccessKeyStatus::Inactive {
            return Err(ControlError::invalid("UserAccessKeyId", "a key cannot disable itself; sign the call with another key"));
        }
        self.store.set_access_key_status(key_id, status).await?;
        Ok(())
    }

    pub async fn delete_access_key(&self, caller: &Caller, key_id: &str, user_name: Option<&str>) -> Result<()> {
        let target = user_name.map(|n| format!("user/{n}")).unwrap_or_else(|| "user/*".into());
        self.ram_authorize(caller, Action::DeleteAccessKey, &target).await?;
        if let Some(name) = user_name {
            self.ram_user(caller, name).await?;
        }
        self.owned_access_key(caller, key_id, user_name).await?;
        if key_id == caller.access_key_id {
            return Err(ControlError::invalid("UserAccessKeyId", "a key cannot delete itself; sign the call with another key"));
        }
        self.store.delete_access_key(key_id).await?;
        Ok(())
    }

    pub async fn list_access_keys(&self, caller: &Caller, user_name: Option<&str>) -> Result<Vec<AccessKey>> {
        let principal = match user_name {
            Some(name) => {
                self.ram_authorize(caller, Action::ListAccessKeys, &format!("user/{name}")).await?;
                self.ram_user(caller, name).await?;
                Principal::User { account_uid: caller.account_uid().into(), user_name: name.into() }
            }
            None => caller.principal.clone(),
        };
        Ok(self.store.list_access_keys(&principal).await?)
    }

    pub async fn create_policy(
        &self,
        caller: &Caller,
        policy_name: &str,
        document: &str,
        description: Option<&str>,
    ) -> Result<Policy> {
        check_entity_name("PolicyName", policy_name, 128)?;
        iam::parse_policy(document)
            .map_err(|e| ControlError::PolicyMalformed(format!("The policy document is malformed: {e}")))?;
        self.ram_authorize(caller, Action::CreatePolicy, &format!("policy/{policy_name}")).await?;
        let exists = || ControlError::PolicyExists(format!("The policy {policy_name} already exists."));
        if system_policy(policy_name).is_some() {
            return Err(exists());
        }
        let policy = Policy {
            account_uid: caller.account_uid().to_string(),
            policy_name: policy_name.to_string(),
            policy_type: "Custom".into(),
            document: document.to_string(),
            description: description.unwrap_or_default().to_string(),
            created_at: Utc::now(),
        };
        match self.store.create_policy(&policy).await {
            Ok(()) => Ok(policy),
            Err(StoreError::AlreadyExists(_)) => Err(exists()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_policy(&self, caller: &Caller, policy_name: &str) -> Result<()> {
        self.ram_authorize(caller, Action::DeletePolicy, &format!("policy/{policy_name}")).await?;
        let policy = self.custom_policy(caller, policy_name).await?;
        if self.store.count_policy_attachments(caller.account_uid(), &policy.policy_name).await? > 0 {
            return Err(ControlError::DeleteConflict {
                code: "DeleteConflict.Policy.User",
                message: format!("The policy {policy_name} is attached to users; detach it first."),
            });
        }
        self.store.delete_policy(caller.account_uid(), policy_name).await?;
        Ok(())
    }

    async fn custom_policy(&self, caller: &Caller, policy_name: &str) -> Result<Policy> {
        match self.store.get_policy(caller.account_uid(), policy_name).await {
            Ok(p) if p.policy_type == "Custom" => Ok(p),
            Ok(_) | Err(StoreError::NotFound(_)) => {
                Err(ControlError::PolicyNotFound(format!("The policy {policy_name} (Custom) does not exist.")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_policies(&self, caller: &Caller) -> Result<Vec<Policy>> {
        self.ram_authorize(caller, Action::ListPolicies, "policy/*").await?;
        let mut out: Vec<Policy> = SYSTEM_POLICIES
            .iter()
            .map(|p| Policy {
                account_uid: caller.account_uid().into(),
                policy_name: p.name.into(),
                policy_type: "System".into(),
                document: p.document.into(),
                description: p.description.into(),
                created_at: self.root.created_at,
            })
            .collect();
        out.extend(self.store.list_policies(caller.account_uid()).await?.into_iter().filter(|p| p.policy_type == "Custom"));
        Ok(out)
    }

    /// Attaches a Custom policy of the account or a System policy. A System policy is kept
    /// as a row of the account the first time it is attached, so evaluation reads every
    /// attached document the same way.
    pub async fn attach_policy(&self, caller: &Caller, policy_type: &str, policy_name: &str, user_name: &str) -> Result<()> {
        self.ram_authorize(caller, Action::AttachPolicyToUser, &format!("user/{user_name}")).await?;
        self.ram_user(caller, user_name).await?;
        match policy_type {
            "Custom" => {
                self.custom_policy(caller, policy_name).await?;
            }
            "System" => {
                let sys = system_policy(policy_name).ok_or_else(|| {
                    ControlError::PolicyNotFound(format!("The policy {policy_name} (System) does not exist."))
                })?;
                let row = Policy {
                    account_uid: caller.account_uid().into(),
                    policy_name: sys.name.into(),
                    policy_type: "System".into(),
                    document: sys.document.into(),
                    description: sys.description.into(),
                    created_at: Utc::now(),
                };
                match self.store.create_policy(&row).await {
                    Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            other => return Err(ControlError::invalid("PolicyType", format!("{other:?} must be Custom or System"))),
        }
        let attachment = PolicyAttachment {
            account_uid: caller.account_uid().into(),
            user_name: user_name.into(),
            policy_name: policy_name.into(),
            policy_type: policy_type.into(),
            attached_at: Utc::now(),
        };
        match self.store.attach_policy(&attachment).await {
            Ok(()) => Ok(()),
            Err(StoreError::AlreadyExists(_)) => Err(ControlError::AttachmentExists(format!(
                "The policy {policy_name} is already attached to the user {user_name}."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn detach_policy(&self, caller: &Caller, policy_type: &str, policy_name: &str, user_name: &str) -> Result<()> {
        self.ram_authorize(caller, Action::DetachPolicyFromUser, &format!("user/{user_name}")).await?;
        self.ram_user(caller, user_name).await?;
        if !matches!(policy_type, "Custom" | "System") {
            return Err(ControlError::invalid("PolicyType", format!("{policy_type:?} must be Custom or System")));
        }
        let attached = self.store.policies_for_user(caller.account_uid(), user_name).await?;
        if !attached.iter().any(|(a, _)| a.policy_name == policy_name && a.policy_type == policy_type) {
            return Err(ControlError::AttachmentNotFound(format!(
                "The policy {policy_name} ({policy_type}) is not attached to the user {user_name}."
            )));
        }
        self.store.detach_policy(caller.account_uid(), user_name, policy_name).await?;
        Ok(())
    }

    pub async fn list_policies_for_user(&self, caller: &Caller, user_name: &str) -> Result<Vec<(PolicyAttachment, Policy)>> {
        self.ram_authorize(caller, Action::ListPoliciesForUser, &format!("user/{user_name}")).await?;
        self.ram_user(caller, user_name).await?;
        Ok(self.store.policies_for_user(caller.account_uid(), user_name).await?)
    }
}
