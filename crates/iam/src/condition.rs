//! The `Condition` element: operators, typed values, and their evaluation against a request.

use crate::policy::{err, PolicyError};
use crate::{wildcard_match, RequestContext};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ipnet::IpNet;
use serde_json::Value;
use std::borrow::Cow;
use std::net::IpAddr;

/// What an operator tests; the negated operators are the positive test inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Compare),
    Date(Compare),
    Bool,
    IpAddress,
}

/// How a number or date from the request must compare with the policy's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compare {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

impl Compare {
    const ALL: [Compare; 5] = [Compare::Equals, Compare::LessThan, Compare::LessThanEquals, Compare::GreaterThan, Compare::GreaterThanEquals];

    fn accepts(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Compare::Equals => o == Equal,
            Compare::LessThan => o == Less,
            Compare::LessThanEquals => o != Greater,
            Compare::GreaterThan => o == Greater,
            Compare::GreaterThanEquals => o != Less,
        }
    }
}

/// Operators other than the comparisons of numbers and dates: (name, test, negated).
const STRING_OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    ("StringEqualsIgnoreCase", Test::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Test::StringEqualsIgnoreCase, true),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
];
const OTHER_OPERATORS: &[(&str, Test, bool)] = &[
    ("Bool", Test::Bool, false),
    ("IpAddress", Test::IpAddress, false),
    ("NotIpAddress", Test::IpAddress, true),
];

/// Every operator: (name, test, negated).
static OPERATORS: std::sync::LazyLock<Vec<(String, Test, bool)>> = std::sync::LazyLock::new(|| {
    let named = |&(name, test, negated): &(&str, Test, bool)| (name.to_string(), test, negated);
    let mut all: Vec<(String, Test, bool)> = STRING_OPERATORS.iter().map(named).collect();
    // `NumericLessThan`, `DateNotEquals`, ...: the comparisons are named as their variants.
    for (prefix, test) in [("Numeric", Test::Numeric as fn(Compare) -> Test), ("Date", Test::Date)] {
        all.extend(Compare::ALL.iter().map(|&compare| (format!("{prefix}{compare:?}"), test(compare), false)));
        all.push((format!("{prefix}NotEquals"), test(Compare::Equals), true));
    }
    all.extend(OTHER_OPERATORS.iter().map(named));
    all
});

/// The policy's values, converted once at parse time so that a value the operator cannot
/// use is refused by CreatePolicy rather than silently never matching.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Dates(Vec<DateTime<Utc>>),
    Bools(Vec<bool>),
    Nets(Vec<IpNet>),
}

/// One operator applied to one key, with its ORed values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) test: Test,
    pub(crate) negated: bool,
    /// As written in the policy; looked up case-insensitively.
    pub(crate) key: String,
    pub(crate) values: Values,
}

/// Parses a `Condition` block: `{ operator: { key: value | [values] } }`.
pub(crate) fn parse_block(block: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = block else {
        return err(format!(
            "{path} must be an object of operator -> {{key -> values}}, got {block}"
        ));
    };
    let mut conditions = Vec::new();
    for (op_name, keys) in operators {
        let &(_, test, negated) = match OPERATORS.iter().find(|(name, _, _)| name == op_name) {
            Some(entry) => entry,
            None => return unknown_operator(op_name, path),
        };
        let op_path = format!("{path}.{op_name}");
        let Value::Object(keys) = keys else {
            return err(format!(
                "{op_path} must be an object of condition key -> values, got {keys}"
            ));
        };
        if keys.is_empty() {
            return err(format!("{op_path} has no condition keys"));
        }
        for (key, raw) in keys {
            let key_path = format!("{op_path}.\"{key}\"");
            check_key(key, &key_path)?;
            let values = parse_values(test, raw, &key_path)?;
            conditions.push(Condition {
                test,
                negated,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(conditions)
}

fn unknown_operator<T>(name: &str, path: &str) -> Result<T, PolicyError> {
    if let Some((right, _, _)) = OPERATORS.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
        return err(format!(
            "{path} has operator \"{name}\"; operator names are case-sensitive, did you mean \"{right}\"?"
        ));
    }
    let names: Vec<&str> = OPERATORS.iter().map(|(n, _, _)| n.as_str()).collect();
    err(format!(
        "{path} has unsupported operator \"{name}\"; supported: {}",
        names.join(", ")
    ))
}

/// Keys are `<service>:<name>`. A bare name such as `SourceIp` could never be present in a
/// request, which would make a negated operator always true: refused rather than risk that.
fn check_key(key: &str, path: &str) -> Result<(), PolicyError> {
    match key.split_once(':') {
        Some((service, name)) if !service.is_empty() && !name.is_empty() => Ok(()),
        _ => err(format!(
            "{path}: condition key must be \"<service>:<name>\", e.g. \"acs:SourceIp\""
        )),
    }
}

fn parse_values(test: Test, raw: &Value, path: &str) -> Result<Values, PolicyError> {
    let items: Vec<&Value> = match raw {
        Value::Array(a) if a.is_empty() => return err(format!("{path} is an empty array; give at least one value")),
        Value::Array(a) => a.iter().collect(),
        single => vec![single],
    };
    let mut scalars = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => scalars.push((format!("{path}[{i}]"), item)),
            other => return err(format!("{path}[{i}] must be a string, number or boolean, got {other}")),
        }
    }
    fn each<T>(
        scalars: &[(String, &Value)],
        convert: impl Fn(&str, &Value) -> Result<T, PolicyError>,
    ) -> Result<Vec<T>, PolicyError> {
        scalars.iter().map(|(p, v)| convert(p, v)).collect()
    }
    Ok(match test {
        Test::StringEquals | Test::StringEqualsIgnoreCase | Test::StringLike => {
            Values::Strings(each(&scalars, |_, v| Ok(scalar_text(v).into_owned()))?)
        }
        Test::Numeric(_) => Values::Numbers(each(&scalars, |p, v| {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => parse_number(s),
                _ => None,
            };
            n.map_or_else(|| err(format!("{p}: {v} is not a number")), Ok)
        })?),
        Test::Date(_) => Values::Dates(each(&scalars, |p, v| {
            let t = match v {
                // Epoch seconds, as AWS-style policies sometimes carry them.
                Value::Number(n) => n.as_i64().and_then(|s| DateTime::from_timestamp(s, 0)),
                Value::String(s) => parse_time(s),
                _ => None,
            };
            t.map_or_else(
                || {
                    err(format!(
                        "{p}: {v} is not a date and time; use ISO 8601, e.g. \"2025-01-31T23:59:59Z\""
                    ))
                },
                Ok,
            )
        })?),
        Test::Bool => Values::Bools(each(&scalars, |p, v| {
            let b = match v {
                Value::Bool(b) => Some(*b),
                Value::String(s) => parse_bool(s),
                _ => None,
            };
            b.map_or_else(|| err(format!("{p}: {v} is not a boolean; use true or false")), Ok)
        })?),
        Test::IpAddress => Values::Nets(each(&scalars, |p, v| {
            let net = match v {
                Value::String(s) => parse_net(s),
                _ => None,
            };
            net.map_or_else(
                || {
                    err(format!(
                        "{p}: {v} is not an IP address or CIDR block, e.g. \"203.0.113.0/24\" or \"2001:db8::/32\""
                    ))
                },
                Ok,
            )
        })?),
    })
}

fn scalar_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn parse_number(s: &str) -> Option<f64> {
    // `f64::from_str` also takes "NaN" and "inf", which are not numbers a policy can mean.
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// RFC 3339 (which covers `yyyy-MM-ddTHH:mm:ssZ`), plus the ISO 8601 shapes people write by
/// hand: no seconds, no zone (taken as UTC, the zone Alibaba's examples use), or a date alone
/// (its midnight, UTC).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A request's value for a condition key.
#[derive(Debug, Clone)]
enum Fact<'a> {
    Text(&'a str),
    Ip(IpAddr),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl Fact<'_> {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Fact::Text(s) => Cow::Borrowed(s),
            Fact::Ip(ip) => Cow::Owned(ip.to_string()),
            Fact::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Fact::Time(t) => Cow::Owned(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Fact::Text(s) => parse_number(s),
            _ => None,
        }
    }

    fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Fact::Time(t) => Some(*t),
            Fact::Text(s) => parse_time(s),
            _ => None,
        }
    }

    fn bool(&self) -> Option<bool> {
        match self {
            Fact::Bool(b) => Some(*b),
            Fact::Text(s) => parse_bool(s),
            _ => None,
        }
    }

    fn ip(&self) -> Option<IpAddr> {
        match self {
            Fact::Ip(ip) => Some(*ip),
            Fact::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

const TAG_PREFIXES: [&str; 2] = ["rds:ResourceTag/", "acs:ResourceTag/"];

fn lookup<'a>(key: &str, ctx: &'a RequestContext) -> Option<Fact<'a>> {
    if key.eq_ignore_ascii_case("acs:SourceIp") {
        return ctx.source_ip.map(Fact::Ip);
    }
    if key.eq_ignore_ascii_case("acs:SecureTransport") {
        return Some(Fact::Bool(ctx.secure_transport));
    }
    if key.eq_ignore_ascii_case("acs:CurrentTime") {
        return Some(Fact::Time(ctx.current_time));
    }
    if key.eq_ignore_ascii_case("acs:AccessId") {
        return Some(Fact::Text(&ctx.access_key_id));
    }
    let tag = TAG_PREFIXES.iter().find_map(|prefix| {
        let head = key.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix).then(|| &key[prefix.len()..])
    })?;
    // Tag keys are case-sensitive on the resource, but condition keys are not: an exact
    // match wins so that `Env` and `env` on one resource stay distinguishable.
    let lower = tag.to_lowercase();
    ctx.resource_tags
        .iter()
        .find(|(k, _)| k == tag)
        .or_else(|| ctx.resource_tags.iter().find(|(k, _)| k.to_lowercase() == lower))
        .map(|(_, v)| Fact::Text(v))
}

fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 addresses; policies
    // written with IPv4 CIDRs must still match them (and the other way round).
    let alternate = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
    };
    net.contains(&ip) || alternate.is_some_and(|alt| net.contains(&alt))
}

impl Condition {
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        let Some(fact) = lookup(&self.key, ctx) else {
            // Absent key: no value can match, so only the negated operators hold.
            return self.negated;
        };
        match self.any_value_matches(&fact) {
            Some(matched) => matched != self.negated,
            // The request's value is of a type the operator cannot compare (a tag value
            // that is not a number under Numeric*, say): the condition does not hold
            // either way, so a negated operator cannot turn a type error into a grant.
            None => false,
        }
    }

    /// `None` if the request's value cannot be read as the operator's type.
    fn any_value_matches(&self, fact: &Fact) -> Option<bool> {
        Some(match (&self.values, self.test) {
            (Values::Strings(values), test) => {
                let actual = fact.text();
                match test {
                    Test::StringEquals => values.iter().any(|v| *v == actual),
                    Test::StringEqualsIgnoreCase => {
                        let actual = actual.to_lowercase();
                        values.iter().any(|v| v.to_lowercase() == actual)
                    }
                    _ => values.iter().any(|v| wildcard_match(v, &actual)),
                }
            }
            (Values::Numbers(values), Test::Numeric(compare)) => {
                let actual = fact.number()?;
                values.iter().any(|v| actual.partial_cmp(v).is_some_and(|o| compare.accepts(o)))
            }
            (Values::Dates(values), Test::Date(compare)) => {
                let actual = fact.time()?;
                values.iter().any(|v| compare.accepts(actual.cmp(v)))
            }
            (Values::Bools(values), _) => {
                let actual = fact.bool()?;
                values.contains(&actual)
            }
            (Values::Nets(values), _) => {
                let actual = fact.ip()?;
                values.iter().any(|net| net_contains(net, actual))
            }
            // Values are parsed for their test (`parse_values`), so this never happens.
            (Values::Numbers(_) | Values::Dates(_), _) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_alibaba_documents_is_known_and_only_those() {
        let documented = "StringEquals StringNotEquals StringEqualsIgnoreCase StringNotEqualsIgnoreCase StringLike \
            StringNotLike NumericEquals NumericNotEquals NumericLessThan NumericLessThanEquals NumericGreaterThan \
            NumericGreaterThanEquals DateEquals DateNotEquals DateLessThan DateLessThanEquals DateGreaterThan \
            DateGreaterThanEquals Bool IpAddress NotIpAddress";
        let mut known: Vec<&str> = OPERATORS.iter().map(|(name, _, negated)| {
            assert_eq!(*negated, name.contains("Not"), "{name}");
            name.as_str()
        }).collect();
        let mut expected: Vec<&str> = documented.split_whitespace().collect();
        known.sort_unstable();
        expected.sort_unstable();
        assert_eq!(known, expected);
    }

    fn ctx() -> RequestContext {
        RequestContext {
            action: "rds:DescribeDBInstances".into(),
            resource: "acs:rds:cn-hangzhou:1234567890123456:dbinstance/pgm-1".into(),
            source_ip: Some("203.0.113.7".parse().unwrap()),
            secure_transport: true,
            current_time: parse_time("2025-06-15T12:00:00Z").unwrap(),
            access_key_id: "LTAIabc123".into(),
            resource_tags: vec![("env".into(), "prod".into()), ("Cost".into(), "42".into())],
        }
    }

    /// Parses `{op: {key: values}}` and evaluates it against `ctx`.
    fn check_with(ctx: &RequestContext, block: &str) -> bool {
        let value: Value = serde_json::from_str(block).unwrap();
        let conditions = parse_block(&value, "Condition").unwrap_or_else(|e| panic!("{block}: {e}"));
        conditions.iter().all(|c| c.holds(ctx))
    }

    fn check(block: &str) -> bool {
        check_with(&ctx(), block)
    }

    fn refused(block: &str) -> String {
        let value: Value = serde_json::from_str(block).unwrap();
        match parse_block(&value, "Condition") {
            Ok(c) => panic!("accepted {block}: {c:?}"),
            Err(PolicyError(m)) => m,
        }
    }

    #[test]
    fn string_equals_is_case_sensitive_and_ors_values() {
        assert!(check(r#"{"StringEquals":{"acs:AccessId":"LTAIabc123"}}"#));
        assert!(!check(r#"{"StringEquals":{"acs:AccessId":"ltaiabc123"}}"#));
        assert!(check(r#"{"StringEquals":{"acs:AccessId":["x","LTAIabc123"]}}"#));
        assert!(!check(r#"{"StringNotEquals":{"acs:AccessId":["x","LTAIabc123"]}}"#));
        assert!(check(r#"{"StringNotEquals":{"acs:AccessId":["x","y"]}}"#));
    }

    #[test]
    fn condition_keys_are_case_insensitive() {
        assert!(check(r#"{"StringEquals":{"ACS:ACCESSID":"LTAIabc123"}}"#));
        assert!(check(r#"{"IpAddress":{"acs:sourceip":"203.0.113.0/24"}}"#));
        assert!(check(r#"{"Bool":{"Acs:SecureTransport":true}}"#));
        assert!(check(r#"{"StringEquals":{"RDS:resourcetag/env":"prod"}}"#));
    }

    #[test]
    fn string_ignore_case() {
        assert!(check(r#"{"StringEqualsIgnoreCase":{"acs:AccessId":"ltaiABC123"}}"#));
        assert!(!check(r#"{"StringNotEqualsIgnoreCase":{"acs:AccessId":"ltaiABC123"}}"#));
        assert!(check(r#"{"StringNotEqualsIgnoreCase":{"acs:AccessId":"other"}}"#));
    }

    #[test]
    fn string_like_wildcards() {
        assert!(check(r#"{"StringLike":{"acs:AccessId":"LTAI*"}}"#));
        assert!(check(r#"{"StringLike":{"acs:AccessId":"LTAIabc12?"}}"#));
        assert!(!check(r#"{"StringLike":{"acs:AccessId":"ltai*"}}"#));
        assert!(!check(r#"{"StringLike":{"acs:AccessId":"LTAIabc12"}}"#));
        assert!(check(r#"{"StringNotLike":{"acs:AccessId":["x*","*y"]}}"#));
        assert!(!check(r#"{"StringNotLike":{"acs:AccessId":["x*","*3"]}}"#));
    }

    #[test]
    fn string_values_may_be_numbers_or_booleans() {
        assert!(check(r#"{"StringEquals":{"rds:ResourceTag/Cost":42}}"#));
        assert!(check(r#"{"StringEquals":{"acs:SecureTransport":true}}"#));
        assert!(check(r#"{"StringLike":{"acs:SourceIp":"203.0.113.*"}}"#));
    }

    #[test]
    fn keys_and_operators_are_anded() {
        assert!(check(
            r#"{"StringEquals":{"acs:AccessId":"LTAIabc123","rds:ResourceTag/env":"prod"},"Bool":{"acs:SecureTransport":"true"}}"#
        ));
        assert!(!check(
            r#"{"StringEquals":{"acs:AccessId":"LTAIabc123","rds:ResourceTag/env":"dev"}}"#
        ));
        assert!(!check(
            r#"{"StringEquals":{"acs:AccessId":"LTAIabc123"},"Bool":{"acs:SecureTransport":false}}"#
        ));
    }

    #[test]
    fn missing_keys_fail_positive_and_pass_negated_operators() {
        for op in ["StringEquals", "StringEqualsIgnoreCase", "StringLike"] {
            assert!(
                !check(&format!(r#"{{"{op}":{{"rds:ResourceTag/absent":"x"}}}}"#)),
                "{op}"
            );
        }
        for op in ["StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike"] {
            assert!(
                check(&format!(r#"{{"{op}":{{"rds:ResourceTag/absent":"x"}}}}"#)),
                "{op}"
            );
        }
        for op in [
            "NumericEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
        ] {
            assert!(!check(&format!(r#"{{"{op}":{{"acs:Unknown":1}}}}"#)), "{op}");
        }
        assert!(check(r#"{"NumericNotEquals":{"acs:Unknown":1}}"#));
        for op in [
            "DateEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
        ] {
            assert!(
                !check(&format!(r#"{{"{op}":{{"acs:Unknown":"2025-01-01T00:00:00Z"}}}}"#)),
                "{op}"
            );
        }
        assert!(check(r#"{"DateNotEquals":{"acs:Unknown":"2025-01-01T00:00:00Z"}}"#));
        assert!(!check(r#"{"Bool":{"acs:MFAPresent":true}}"#));
        let mut no_ip = ctx();
        no_ip.source_ip = None;
        assert!(!check_with(&no_ip, r#"{"IpAddress":{"acs:SourceIp":"0.0.0.0/0"}}"#));
        assert!(check_with(&no_ip, r#"{"NotIpAddress":{"acs:SourceIp":"0.0.0.0/0"}}"#));
    }

    #[test]
    fn numeric_operators() {
        let c = |op: &str, v: &str| check(&format!(r#"{{"{op}":{{"rds:ResourceTag/Cost":{v}}}}}"#));
        assert!(c("NumericEquals", "42") && c("NumericEquals", "\"42.0\"") && !c("NumericEquals", "41"));
        assert!(c("NumericNotEquals", "41") && !c("NumericNotEquals", "[41,42]"));
        assert!(c("NumericLessThan", "43") && !c("NumericLessThan", "42"));
        assert!(c("NumericLessThanEquals", "42") && !c("NumericLessThanEquals", "41.5"));
        assert!(c("NumericGreaterThan", "41") && !c("NumericGreaterThan", "42"));
        assert!(c("NumericGreaterThanEquals", "42") && !c("NumericGreaterThanEquals", "43"));
        assert!(c("NumericGreaterThan", "[100, 1]"));
    }

    #[test]
    fn type_mismatch_holds_for_neither_polarity() {
        // `env` is "prod", not a number.
        assert!(!check(r#"{"NumericEquals":{"rds:ResourceTag/env":1}}"#));
        assert!(!check(r#"{"NumericNotEquals":{"rds:ResourceTag/env":1}}"#));
        assert!(!check(r#"{"NotIpAddress":{"acs:AccessId":"10.0.0.0/8"}}"#));
        assert!(!check(r#"{"DateNotEquals":{"acs:SecureTransport":"2025-01-01"}}"#));
    }

    #[test]
    fn date_operators_on_current_time() {
        let c = |op: &str, v: &str| check(&format!(r#"{{"{op}":{{"acs:CurrentTime":"{v}"}}}}"#));
        let equality = [
            ("DateEquals", "2025-06-15T12:00:00Z", true),
            ("DateEquals", "2025-06-15T20:00:00+08:00", true),
            ("DateEquals", "2025-06-15T12:00:00.000Z", true),
            ("DateEquals", "2025-06-15T12:00:01Z", false),
            ("DateNotEquals", "2025-06-15T12:00:01Z", true),
            ("DateNotEquals", "2025-06-15T12:00:00Z", false),
        ];
        for (op, value, holds) in equality {
            assert_eq!(c(op, value), holds, "{op} {value}");
        }
        assert!(c("DateLessThan", "2025-06-15T12:00:01Z") && !c("DateLessThan", "2025-06-15T12:00:00Z"));
        assert!(c("DateLessThanEquals", "2025-06-15T12:00:00Z") && !c("DateLessThanEquals", "2025-06-15T11:59:59Z"));
        assert!(c("DateGreaterThan", "2025-06-15") && !c("DateGreaterThan", "2025-06-16"));
        assert!(c("DateGreaterThanEquals", "2025-06-15T12:00") && !c("DateGreaterThanEquals", "2025-06-15T12:01"));
        assert!(c("DateLessThan", "2025-06-15T12:00:01"));
        // Epoch seconds for 2025-06-15T12:00:00Z.
        assert!(check(r#"{"DateEquals":{"acs:CurrentTime":1749988800}}"#));
        // A window: both bounds must hold.
        assert!(check(
            r#"{"DateGreaterThan":{"acs:CurrentTime":"2025-01-01T00:00:00Z"},"DateLessThan":{"acs:CurrentTime":"2026-01-01T00:00:00Z"}}"#
        ));
        assert!(!check(
            r#"{"DateGreaterThan":{"acs:CurrentTime":"2025-07-01T00:00:00Z"},"DateLessThan":{"acs:CurrentTime":"2026-01-01T00:00:00Z"}}"#
        ));
    }

    #[test]
    fn date_operators_on_tag_values() {
        assert!(check_with(
            &RequestContext {
                resource_tags: vec![("expires".into(), "2030-01-01T00:00:00Z".into())],
                ..ctx()
            },
            r#"{"DateGreaterThan":{"acs:ResourceTag/expires":"2029-12-31T23:59:59Z"}}"#
        ));
    }

    #[test]
    fn bool_operator() {
        assert!(check(r#"{"Bool":{"acs:SecureTransport":true}}"#));
        assert!(check(r#"{"Bool":{"acs:SecureTransport":"TRUE"}}"#));
        assert!(!check(r#"{"Bool":{"acs:SecureTransport":"false"}}"#));
        let plain = RequestContext {
            secure_transport: false,
            ..ctx()
        };
        assert!(check_with(&plain, r#"{"Bool":{"acs:SecureTransport":false}}"#));
        assert!(!check_with(&plain, r#"{"Bool":{"acs:SecureTransport":true}}"#));
    }

    #[test]
    fn ipv4_addresses_and_cidrs() {
        assert!(check(r#"{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"}}"#));
        assert!(check(r#"{"IpAddress":{"acs:SourceIp":"203.0.113.7"}}"#));
        assert!(check(r#"{"IpAddress":{"acs:SourceIp":"203.0.113.7/32"}}"#));
        assert!(!check(r#"{"IpAddress":{"acs:SourceIp":"203.0.113.8"}}"#));
        assert!(!check(r#"{"IpAddress":{"acs:SourceIp":"203.0.112.0/24"}}"#));
        assert!(check(r#"{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","203.0.0.0/16"]}}"#));
        // Host bits set in the CIDR: the network is what counts.
        assert!(check(r#"{"IpAddress":{"acs:SourceIp":"203.0.113.99/24"}}"#));
        assert!(check(
            r#"{"NotIpAddress":{"acs:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}"#
        ));
        assert!(!check(
            r#"{"NotIpAddress":{"acs:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}"#
        ));
        // An IPv4 client never matches an IPv6 network that does not map it.
        assert!(!check(r#"{"IpAddress":{"acs:SourceIp":"2001:db8::/32"}}"#));
    }

    #[test]
    fn ipv6_addresses_and_cidrs() {
        let v6 = RequestContext {
            source_ip: Some("2001:db8:1::5".parse().unwrap()),
            ..ctx()
        };
        assert!(check_with(&v6, r#"{"IpAddress":{"acs:SourceIp":"2001:db8::/32"}}"#));
        assert!(check_with(&v6, r#"{"IpAddress":{"acs:SourceIp":"2001:db8:1::5"}}"#));
        assert!(!check_with(&v6, r#"{"IpAddress":{"acs:SourceIp":"2001:db8:2::/48"}}"#));
        assert!(!check_with(&v6, r#"{"IpAddress":{"acs:SourceIp":"0.0.0.0/0"}}"#));
        assert!(check_with(
            &v6,
            r#"{"NotIpAddress":{"acs:SourceIp":"2001:db8:2::/48"}}"#
        ));
        assert!(check_with(&v6, r#"{"IpAddress":{"acs:SourceIp":"::/0"}}"#));
    }

    #[test]
    fn ipv4_mapped_ipv6_clients_match_ipv4_cidrs() {
        let mapped = RequestContext {
            source_ip: Some("::ffff:203.0.113.7".parse().unwrap()),
            ..ctx()
        };
        assert!(check_with(
            &mapped,
            r#"{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"}}"#
        ));
        assert!(!check_with(
            &mapped,
            r#"{"NotIpAddress":{"acs:SourceIp":"203.0.113.0/24"}}"#
        ));
        assert!(check(r#"{"IpAddress":{"acs:SourceIp":"::ffff:203.0.113.0/120"}}"#));
    }

    #[test]
    fn resource_tags_under_both_prefixes() {
        assert!(check(r#"{"StringEquals":{"rds:ResourceTag/env":"prod"}}"#));
        assert!(check(r#"{"StringEquals":{"acs:ResourceTag/env":"prod"}}"#));
        assert!(!check(r#"{"StringEquals":{"acs:ResourceTag/env":"Prod"}}"#));
        assert!(check(r#"{"StringEqualsIgnoreCase":{"acs:ResourceTag/env":"Prod"}}"#));
        assert!(check(r#"{"StringLike":{"rds:ResourceTag/env":"pr*"}}"#));
        assert!(!check(r#"{"StringEquals":{"rds:ResourceTag/team":"prod"}}"#));
        assert!(check(r#"{"StringNotEquals":{"rds:ResourceTag/team":"prod"}}"#));
        // Without a tag key there is nothing to compare.
        assert!(!check(r#"{"StringEquals":{"rds:ResourceTag":"prod"}}"#));
    }

    #[test]
    fn resource_tag_keys_prefer_exact_case() {
        let tags = RequestContext {
            resource_tags: vec![("Env".into(), "upper".into()), ("env".into(), "lower".into())],
            ..ctx()
        };
        assert!(check_with(&tags, r#"{"StringEquals":{"rds:ResourceTag/env":"lower"}}"#));
        assert!(check_with(&tags, r#"{"StringEquals":{"rds:ResourceTag/Env":"upper"}}"#));
        assert!(check_with(&tags, r#"{"StringEquals":{"rds:ResourceTag/ENV":"upper"}}"#));
    }

    #[test]
    fn current_time_compares_as_text_under_string_operators() {
        assert!(check(r#"{"StringLike":{"acs:CurrentTime":"2025-06-15T*"}}"#));
    }

    #[test]
    fn refuses_unknown_operators() {
        let m = refused(r#"{"StringEqualsIfExists":{"acs:AccessId":"x"}}"#);
        assert!(
            m.contains("unsupported operator \"StringEqualsIfExists\"") && m.contains("NotIpAddress"),
            "{m}"
        );
        let m = refused(r#"{"ForAnyValue:StringEquals":{"acs:AccessId":"x"}}"#);
        assert!(m.contains("unsupported operator"), "{m}");
        let m = refused(r#"{"stringequals":{"acs:AccessId":"x"}}"#);
        assert!(m.contains("did you mean \"StringEquals\""), "{m}");
    }

    #[test]
    fn refuses_malformed_blocks() {
        let value: Value = serde_json::from_str("[]").unwrap();
        assert!(parse_block(&value, "Condition")
            .unwrap_err()
            .0
            .contains("Condition must be an object"));
        assert!(refused(r#"{"Bool":true}"#).contains("Condition.Bool must be an object"));
        assert!(refused(r#"{"Bool":{}}"#).contains("Condition.Bool has no condition keys"));
        let m = refused(r#"{"StringEquals":{"SourceIp":"x"}}"#);
        assert!(m.contains("\"SourceIp\"") && m.contains("<service>:<name>"), "{m}");
        assert!(refused(r#"{"StringEquals":{"acs:":"x"}}"#).contains("<service>:<name>"));
        let m = refused(r#"{"StringEquals":{"acs:AccessId":[]}}"#);
        assert!(
            m.contains("Condition.StringEquals.\"acs:AccessId\" is an empty array"),
            "{m}"
        );
        let m = refused(r#"{"StringEquals":{"acs:AccessId":null}}"#);
        assert!(m.contains("[0] must be a string, number or boolean, got null"), "{m}");
        let m = refused(r#"{"StringEquals":{"acs:AccessId":["a",{"b":1}]}}"#);
        assert!(
            m.contains("\"acs:AccessId\"[1] must be a string, number or boolean"),
            "{m}"
        );
        assert!(refused(r#"{"StringEquals":{"acs:AccessId":[["a"]]}}"#).contains("must be a string, number or boolean"));
    }

    #[test]
    fn refuses_values_the_operator_cannot_use() {
        let m = refused(r#"{"NumericLessThan":{"acs:X":"ten"}}"#);
        assert!(m.contains("\"ten\" is not a number"), "{m}");
        assert!(refused(r#"{"NumericEquals":{"acs:X":"NaN"}}"#).contains("not a number"));
        assert!(refused(r#"{"NumericEquals":{"acs:X":true}}"#).contains("not a number"));
        let m = refused(r#"{"DateLessThan":{"acs:CurrentTime":"next tuesday"}}"#);
        assert!(m.contains("not a date and time") && m.contains("ISO 8601"), "{m}");
        assert!(refused(r#"{"DateLessThan":{"acs:CurrentTime":"2025-13-01T00:00:00Z"}}"#).contains("not a date"));
        assert!(refused(r#"{"DateLessThan":{"acs:CurrentTime":true}}"#).contains("not a date"));
        let m = refused(r#"{"Bool":{"acs:SecureTransport":"yes"}}"#);
        assert!(m.contains("\"yes\" is not a boolean"), "{m}");
        assert!(refused(r#"{"Bool":{"acs:SecureTransport":1}}"#).contains("not a boolean"));
        let m = refused(r#"{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","300.1.1.1"]}}"#);
        assert!(
            m.contains("\"acs:SourceIp\"[1]: \"300.1.1.1\" is not an IP address or CIDR block"),
            "{m}"
        );
        assert!(refused(r#"{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/33"}}"#).contains("not an IP address"));
        assert!(refused(r#"{"IpAddress":{"acs:SourceIp":"2001:db8::/129"}}"#).contains("not an IP address"));
        assert!(refused(r#"{"IpAddress":{"acs:SourceIp":167772160}}"#).contains("not an IP address"));
    }

    #[test]
    fn time_formats() {
        let t = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(t("2025-01-31T23:59:59Z").as_deref(), Some("2025-01-31T23:59:59+00:00"));
        assert_eq!(
            t("2025-01-31T23:59:59+08:00").as_deref(),
            Some("2025-01-31T15:59:59+00:00")
        );
        assert_eq!(t("2025-01-31T23:59Z").as_deref(), Some("2025-01-31T23:59:00+00:00"));
        assert_eq!(t("2025-01-31").as_deref(), Some("2025-01-31T00:00:00+00:00"));
        assert_eq!(
            t("2025-01-31T23:59:59.5").as_deref(),
            Some("2025-01-31T23:59:59.500+00:00")
        );
        assert_eq!(t("31/01/2025"), None);
        assert_eq!(t(""), None);
    }
}
