//! Identity and access: the RAM policy language and its evaluation. Pure: policies come in
//! as JSON text, requests as a [`RequestContext`], and a [`Decision`] comes out.
//!
//! Semantics (shared/reference/rds-api.md §7): a statement has `Effect` `Allow`/`Deny`,
//! `Action` or `NotAction`, `Resource` (or `NotResource`), optional `Condition`. Action and
//! resource patterns use `*` and `?` wildcards; actions compare case-insensitively.
//! Explicit Deny wins over Allow; no matching Allow is an implicit deny.

mod condition;
mod policy;

pub use policy::{parse_policy, PolicyDocument, PolicyError};

use chrono::{DateTime, Utc};
use std::net::IpAddr;

/// The facts about one request that policies are evaluated against.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `rds:CreateDBInstance`, `ram:CreateUser`, ...
    pub action: String,
    /// ARN of the resource, e.g. `acs:rds:cn-hangzhou:1234567890123456:dbinstance/pgm-x`.
    pub resource: String,
    /// `acs:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `acs:SecureTransport`.
    pub secure_transport: bool,
    /// `acs:CurrentTime`.
    pub current_time: DateTime<Utc>,
    /// `acs:AccessId`.
    pub access_key_id: String,
    /// Tags of the resource: `rds:ResourceTag/<key>` and `acs:ResourceTag/<key>`.
    pub resource_tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement with `Effect: Deny` matched.
    ExplicitDeny,
    /// No statement allowed it.
    ImplicitDeny,
}

/// Evaluates `ctx` against every policy the caller holds.
pub fn evaluate(policies: &[PolicyDocument], ctx: &RequestContext) -> Decision {
    let _ = (policies, ctx);
    todo!("iam::evaluate")
}

/// The ARN of an RDS instance (`id` may be `*`).
pub fn rds_instance_arn(region: &str, account_uid: &str, id: &str) -> String {
    format!("acs:rds:{region}:{account_uid}:dbinstance/{id}")
}

/// The ARN of a RAM user (`acs:ram:*:<account>:user/<name>`).
pub fn ram_user_arn(account_uid: &str, user_name: &str) -> String {
    format!("acs:ram:*:{account_uid}:user/{user_name}")
}
