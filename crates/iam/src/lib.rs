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

use policy::{Effect, Patterns, Statement};

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
    let action = ctx.action.to_lowercase();
    let mut allowed = false;
    for statement in policies.iter().flat_map(|p| &p.statements) {
        if !statement.applies(&action, ctx) {
            continue;
        }
        match statement.effect {
            // Nothing can override an explicit Deny, so there is no need to look further.
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

impl Statement {
    /// `action` is the request's action, lower-cased.
    fn applies(&self, action: &str, ctx: &RequestContext) -> bool {
        self.action.matches(action)
            && self.resource.matches(&ctx.resource)
            && self.conditions.iter().all(|c| c.holds(ctx))
    }
}

impl Patterns {
    fn matches(&self, value: &str) -> bool {
        self.patterns.iter().any(|p| wildcard_match(p, value)) != self.negated
    }
}

/// Glob match where `*` is any run of characters (including none) and `?` exactly one.
/// Greedy with a single backtrack point, so it is linear-ish rather than exponential on
/// patterns such as `*a*a*a*b`.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Position of the last `*` seen and the text position it is currently absorbing up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The ARN of an RDS instance (`id` may be `*`).
pub fn rds_instance_arn(region: &str, account_uid: &str, id: &str) -> String {
    format!("acs:rds:{region}:{account_uid}:dbinstance/{id}")
}

/// The ARN of a RAM user (`acs:ram:*:<account>:user/<name>`).
pub fn ram_user_arn(account_uid: &str, user_name: &str) -> String {
    format!("acs:ram:*:{account_uid}:user/{user_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE: &str = "acs:rds:cn-hangzhou:1234567890123456:dbinstance/pgm-abc";

    fn ctx(action: &str, resource: &str) -> RequestContext {
        RequestContext {
            action: action.into(),
            resource: resource.into(),
            source_ip: Some("198.51.100.10".parse().unwrap()),
            secure_transport: true,
            current_time: DateTime::parse_from_rfc3339("2025-06-15T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            access_key_id: "LTAIkey".into(),
            resource_tags: vec![("env".into(), "prod".into())],
        }
    }

    fn doc(statements: &str) -> PolicyDocument {
        parse_policy(&format!(r#"{{"Version":"1","Statement":[{statements}]}}"#)).unwrap()
    }

    fn allow(action: &str, resource: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}"#
        ))
    }

    fn deny(action: &str, resource: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Effect":"Deny","Action":"{action}","Resource":"{resource}"}}"#
        ))
    }

    fn decide(policies: &[PolicyDocument], action: &str, resource: &str) -> Decision {
        evaluate(policies, &ctx(action, resource))
    }

    #[test]
    fn wildcard_basics() {
        let cases = [
            ("*", "", true), ("*", "anything", true), ("", "", true), ("", "a", false),
            ("a*", "a", true), ("a*c", "abbbc", true), ("a*c", "ac", true), ("a*c", "acb", false),
            ("a?c", "abc", true), ("a?c", "ac", false), ("a?c", "abbc", false),
            ("*a*a*b", "aaaaaaab", true), ("*a*a*b", "aaaaaaaa", false), ("**?", "x", true),
            ("ü?*", "üñé", true), ("abc", "ab", false), ("ab", "abc", false),
        ];
        for (pattern, text, matches) in cases {
            assert_eq!(wildcard_match(pattern, text), matches, "{pattern:?} on {text:?}");
        }
        // Long pathological input stays fast.
        let text = "a".repeat(10_000);
        assert!(!wildcard_match("*a*a*a*a*a*a*b", &text));
    }

    /// Each (action, resource) gets the decision given under these policies.
    fn assert_decisions(policies: &[PolicyDocument], cases: &[(&str, &str, Decision)]) {
        for (action, resource, expected) in cases {
            assert_eq!(decide(policies, action, resource), *expected, "{action} on {resource}");
        }
    }

    #[test]
    fn default_is_implicit_deny() {
        assert_decisions(&[], &[("rds:DescribeDBInstances", INSTANCE, Decision::ImplicitDeny)]);
        let p = [allow("rds:CreateDBInstance", "*")];
        assert_decisions(&p, &[("rds:DeleteDBInstance", INSTANCE, Decision::ImplicitDeny)]);
    }

    #[test]
    fn exact_and_wildcard_actions() {
        use Decision::*;
        assert_decisions(
            &[allow("rds:Describe*", "*")],
            &[
                ("rds:DescribeDBInstances", INSTANCE, Allow),
                ("rds:Describe", INSTANCE, Allow),
                ("rds:DeleteDBInstance", INSTANCE, ImplicitDeny),
                ("ecs:DescribeInstances", INSTANCE, ImplicitDeny),
            ],
        );
        assert_decisions(&[allow("rds:Describe?BInstances", "*")], &[("rds:DescribeDBInstances", INSTANCE, Allow)]);
        assert_decisions(&[allow("*", "*")], &[("ram:CreateUser", "acs:ram:*:1:user/bob", Allow)]);
        assert_decisions(&[allow("rds:*", "*")], &[("ram:CreateUser", "acs:ram:*:1:user/bob", ImplicitDeny)]);
    }

    #[test]
    fn actions_compare_case_insensitively() {
        use Decision::*;
        assert_decisions(&[allow("RDS:describedbinstances", "*")], &[("rds:DescribeDBInstances", INSTANCE, Allow)]);
        assert_decisions(&[allow("rds:DescribeDBInstances", "*")], &[("RDS:DESCRIBEDBINSTANCES", INSTANCE, Allow)]);
        assert_decisions(&[allow("rds:describe*", "*")], &[("rds:DescribeDatabases", INSTANCE, Allow)]);
        assert_decisions(&[deny("rds:DELETE*", "*"), allow("*", "*")], &[("rds:DeleteDBInstance", INSTANCE, ExplicitDeny)]);
    }

    #[test]
    fn resources_match_with_wildcards_case_sensitively() {
        use Decision::*;
        let other_account = rds_instance_arn("cn-hangzhou", "1", "pgm-abcd");
        let cases = [
            ("acs:rds:*:*:dbinstance/*", INSTANCE, Allow),
            ("acs:rds:*:*:*", INSTANCE, Allow),
            ("acs:rds:cn-hangzhou:1234567890123456:dbinstance/pgm-abc", INSTANCE, Allow),
            ("acs:rds:cn-beijing:*:dbinstance/*", INSTANCE, ImplicitDeny),
            ("acs:rds:*:*:dbinstance/pgm-ab?", INSTANCE, Allow),
            ("acs:rds:*:*:dbinstance/PGM-ABC", INSTANCE, ImplicitDeny),
            ("acs:rds:*:*:dbinstance/pgm-abc", other_account.as_str(), ImplicitDeny),
            ("acs:rds:*:9999:dbinstance/*", INSTANCE, ImplicitDeny),
        ];
        for (pattern, resource, expected) in cases {
            assert_decisions(&[allow("rds:*", pattern)], &[("rds:DeleteDBInstance", resource, expected)]);
        }
    }

    #[test]
    fn explicit_deny_wins_over_allow() {
        let p = [allow("rds:*", "*"), deny("rds:DeleteDBInstance", INSTANCE)];
        assert_eq!(decide(&p, "rds:DeleteDBInstance", INSTANCE), Decision::ExplicitDeny);
        assert_eq!(decide(&p, "rds:RestartDBInstance", INSTANCE), Decision::Allow);
        let other = rds_instance_arn("cn-hangzhou", "1234567890123456", "pgm-other");
        assert_eq!(decide(&p, "rds:DeleteDBInstance", &other), Decision::Allow);
        // Order within one document or across documents does not matter.
        let one = [doc(
            r#"{"Effect":"Deny","Action":"rds:*","Resource":"*"},{"Effect":"Allow","Action":"rds:*","Resource":"*"}"#,
        )];
        assert_eq!(
            decide(&one, "rds:DescribeDBInstances", INSTANCE),
            Decision::ExplicitDeny
        );
        let p = [deny("rds:*", "*"), allow("rds:*", "*")];
        assert_eq!(decide(&p, "rds:DescribeDBInstances", INSTANCE), Decision::ExplicitDeny);
    }

    #[test]
    fn deny_alone_is_explicit() {
        assert_decisions(
            &[deny("rds:DeleteDBInstance", "*")],
            &[("rds:DeleteDBInstance", INSTANCE, Decision::ExplicitDeny), ("rds:CreateDatabase", INSTANCE, Decision::ImplicitDeny)],
        );
    }

    #[test]
    fn not_action_inverts() {
        let p = [doc(
            r#"{"Effect":"Allow","NotAction":["rds:Delete*","ram:*"],"Resource":"*"}"#,
        )];
        assert_eq!(decide(&p, "rds:DescribeDBInstances", INSTANCE), Decision::Allow);
        assert_eq!(decide(&p, "rds:DeleteDBInstance", INSTANCE), Decision::ImplicitDeny);
        assert_eq!(decide(&p, "RAM:CreateUser", INSTANCE), Decision::ImplicitDeny);
        // Deny everything except reads.
        let p = [
            allow("*", "*"),
            doc(r#"{"Effect":"Deny","NotAction":"rds:describe*","Resource":"*"}"#),
        ];
        assert_eq!(decide(&p, "rds:DescribeDBInstances", INSTANCE), Decision::Allow);
        assert_eq!(decide(&p, "rds:CreateDBInstance", INSTANCE), Decision::ExplicitDeny);
    }

    #[test]
    fn not_resource_inverts() {
        let p = [doc(
            r#"{"Effect":"Allow","Action":"rds:*","NotResource":"acs:rds:*:*:dbinstance/pgm-abc"}"#,
        )];
        assert_eq!(decide(&p, "rds:DeleteDBInstance", INSTANCE), Decision::ImplicitDeny);
        let other = rds_instance_arn("cn-hangzhou", "1234567890123456", "pgm-other");
        assert_eq!(decide(&p, "rds:DeleteDBInstance", &other), Decision::Allow);
    }

    #[test]
    fn conditions_gate_statements() {
        let p = [doc(
            r#"{"Effect":"Allow","Action":"rds:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"198.51.100.0/24"},"Bool":{"acs:SecureTransport":"true"}}}"#,
        )];
        assert_eq!(decide(&p, "rds:DescribeDBInstances", INSTANCE), Decision::Allow);
        let mut c = ctx("rds:DescribeDBInstances", INSTANCE);
        c.source_ip = Some("192.0.2.1".parse().unwrap());
        assert_eq!(evaluate(&p, &c), Decision::ImplicitDeny);
        let mut c = ctx("rds:DescribeDBInstances", INSTANCE);
        c.secure_transport = false;
        assert_eq!(evaluate(&p, &c), Decision::ImplicitDeny);
    }

    #[test]
    fn deny_outside_network_and_by_tag() {
        let p = [
            allow("rds:*", "*"),
            doc(
                r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"acs:SourceIp":["10.0.0.0/8","198.51.100.0/24"]}}}"#,
            ),
            doc(
                r#"{"Effect":"Deny","Action":"rds:Delete*","Resource":"*","Condition":{"StringEquals":{"rds:ResourceTag/env":"prod"}}}"#,
            ),
        ];
        assert_eq!(decide(&p, "rds:DescribeDBInstances", INSTANCE), Decision::Allow);
        assert_eq!(decide(&p, "rds:DeleteDBInstance", INSTANCE), Decision::ExplicitDeny);
        let mut c = ctx("rds:DeleteDBInstance", INSTANCE);
        c.resource_tags = vec![("env".into(), "dev".into())];
        assert_eq!(evaluate(&p, &c), Decision::Allow);
        c.resource_tags.clear();
        assert_eq!(evaluate(&p, &c), Decision::Allow);
        c.source_ip = Some("192.0.2.1".parse().unwrap());
        assert_eq!(evaluate(&p, &c), Decision::ExplicitDeny);
        // No known source address: NotIpAddress holds, so the Deny applies.
        c.source_ip = None;
        assert_eq!(evaluate(&p, &c), Decision::ExplicitDeny);
    }

    #[test]
    fn allow_by_resource_tag() {
        let p = [doc(
            r#"{"Effect":"Allow","Action":"rds:*","Resource":"acs:rds:*:*:dbinstance/*","Condition":{"StringEquals":{"acs:ResourceTag/env":["dev","prod"]}}}"#,
        )];
        assert_eq!(decide(&p, "rds:RestartDBInstance", INSTANCE), Decision::Allow);
        let mut c = ctx("rds:RestartDBInstance", INSTANCE);
        c.resource_tags = vec![("env".into(), "staging".into())];
        assert_eq!(evaluate(&p, &c), Decision::ImplicitDeny);
    }

    #[test]
    fn time_window() {
        let p = [doc(
            r#"{"Effect":"Allow","Action":"rds:*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"2025-07-01T00:00:00Z"}}}"#,
        )];
        assert_eq!(decide(&p, "rds:DescribeDBInstances", INSTANCE), Decision::Allow);
        let mut c = ctx("rds:DescribeDBInstances", INSTANCE);
        c.current_time = DateTime::parse_from_rfc3339("2025-07-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(evaluate(&p, &c), Decision::ImplicitDeny);
    }

    #[test]
    fn arns() {
        assert_eq!(
            rds_instance_arn("cn-hangzhou", "123", "pgm-x"),
            "acs:rds:cn-hangzhou:123:dbinstance/pgm-x"
        );
        assert_eq!(
            rds_instance_arn("cn-hangzhou", "123", "*"),
            "acs:rds:cn-hangzhou:123:dbinstance/*"
        );
        assert_eq!(ram_user_arn("123", "alice"), "acs:ram:*:123:user/alice");
        let p = [allow("rds:CreateDBInstance", "acs:rds:*:*:dbinstance/*")];
        assert_eq!(
            decide(&p, "rds:CreateDBInstance", &rds_instance_arn("cn-hangzhou", "123", "*")),
            Decision::Allow
        );
    }
}
