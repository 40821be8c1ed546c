//! Parsing and validation of RAM policy documents.
//!
//! Validation is strict on purpose: an element the evaluator would silently ignore (a
//! misspelt `Condition`, a lower-case `effect`, a duplicated key) would widen or narrow a
//! grant without anyone noticing, so every such mistake is refused with a message that
//! names the offending element.

use crate::condition::{self, Condition};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub(crate) statements: Vec<crate::policy::Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// The patterns of `Action`/`NotAction` or `Resource`/`NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patterns {
    /// `true` for the `Not...` form: the statement applies to everything the patterns miss.
    pub(crate) negated: bool,
    /// Action patterns are stored lower-cased, since actions compare case-insensitively.
    pub(crate) patterns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    pub(crate) action: Patterns,
    pub(crate) resource: Patterns,
    /// All must hold (keys and operators are ANDed).
    pub(crate) conditions: Vec<Condition>,
}

/// Why a policy document is refused by CreatePolicy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

pub(crate) fn err<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(message.into()))
}

const TOP_LEVEL: &[&str] = &["Version", "Statement"];
const STATEMENT: &[&str] = &["Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"];

/// Parses and validates a policy document (JSON text).
pub fn parse_policy(json: &str) -> Result<PolicyDocument, PolicyError> {
    let StrictValue(root) =
        serde_json::from_str(json).map_err(|e| PolicyError(format!("the policy document is not valid JSON: {e}")))?;
    let Value::Object(root) = root else {
        return err("the policy document must be a JSON object with Version and Statement");
    };
    check_element_names(&root, TOP_LEVEL, "the policy document")?;

    match root.get("Version") {
        Some(Value::String(v)) if v == "1" => {}
        Some(other) => return err(format!("Version must be the string \"1\", got {other}")),
        None => return err("Version is missing; it must be the string \"1\""),
    }

    let statements = match root.get("Statement") {
        Some(Value::Array(items)) if items.is_empty() => {
            return err("Statement is empty; it needs at least one statement")
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| parse_statement(s, &format!("Statement[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(single @ Value::Object(_)) => vec![parse_statement(single, "Statement")?],
        Some(other) => {
            return err(format!(
                "Statement must be an array of statement objects (or one object), got {other}"
            ))
        }
        None => return err("Statement is missing"),
    };
    Ok(PolicyDocument { statements })
}

/// Refuses elements outside `allowed`, suggesting the right spelling when only the case
/// differs, because an unrecognised element would otherwise be ignored.
fn check_element_names(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), PolicyError> {
    for key in obj.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        if key == "Principal" {
            return err(format!(
                "{what} has a Principal element, which only resource-based and trust policies may have"
            ));
        }
        return match allowed.iter().find(|a| a.eq_ignore_ascii_case(key)) {
            Some(right) => err(format!(
                "{what} has an element \"{key}\"; element names are case-sensitive, did you mean \"{right}\"?"
            )),
            None => err(format!(
                "{what} has an unsupported element \"{key}\"; allowed: {}",
                allowed.join(", ")
            )),
        };
    }
    Ok(())
}

fn parse_statement(value: &Value, path: &str) -> Result<Statement, PolicyError> {
    let Value::Object(obj) = value else {
        return err(format!("{path} must be a JSON object, got {value}"));
    };
    check_element_names(obj, STATEMENT, path)?;

    let effect = match obj.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => return err(format!("{path}.Effect must be \"Allow\" or \"Deny\", got {other}")),
        None => return err(format!("{path}.Effect is missing; it must be \"Allow\" or \"Deny\"")),
    };

    let (negated, name, raw) = exactly_one(obj, "Action", "NotAction", path)?;
    let patterns = string_list(raw, &format!("{path}.{name}"))?
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            check_action(&a, &format!("{path}.{name}[{i}]"))?;
            Ok(a.to_lowercase())
        })
        .collect::<Result<Vec<_>, PolicyError>>()?;
    let action = Patterns { negated, patterns };

    let (negated, name, raw) = exactly_one(obj, "Resource", "NotResource", path)?;
    let patterns = string_list(raw, &format!("{path}.{name}"))?;
    for (i, r) in patterns.iter().enumerate() {
        check_resource(r, &format!("{path}.{name}[{i}]"))?;
    }
    let resource = Patterns { negated, patterns };

    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => condition::parse_block(c, &format!("{path}.Condition"))?,
    };

    Ok(Statement {
        effect,
        action,
        resource,
        conditions,
    })
}

/// Returns (is the `Not` form, the element's name, its value).
fn exactly_one<'a>(
    obj: &'a Map<String, Value>,
    positive: &'static str,
    negative: &'static str,
    path: &str,
) -> Result<(bool, &'static str, &'a Value), PolicyError> {
    match (obj.get(positive), obj.get(negative)) {
        (Some(v), None) => Ok((false, positive, v)),
        (None, Some(v)) => Ok((true, negative, v)),
        (Some(_), Some(_)) => err(format!("{path} has both {positive} and {negative}; use exactly one")),
        (None, None) => err(format!("{path} needs {positive} or {negative}")),
    }
}

/// A string or a non-empty array of non-empty strings.
fn string_list(value: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    let items: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(a) if a.is_empty() => return err(format!("{path} is an empty array; give at least one value")),
        Value::Array(a) => a.iter().collect(),
        other => return err(format!("{path} must be a string or an array of strings, got {other}")),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if s.is_empty() => err(format!("{path}[{i}] is an empty string")),
            Value::String(s) => Ok(s.clone()),
            other => err(format!("{path}[{i}] must be a string, got {other}")),
        })
        .collect()
}

/// Actions are `*` or `<ram-code>:<action>`; anything else could never match a request, and
/// a Deny that can never match is a hole the author did not intend.
fn check_action(action: &str, path: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    if action.chars().any(char::is_whitespace) {
        return err(format!("{path} \"{action}\" contains whitespace"));
    }
    match action.split_once(':') {
        Some((service, name)) if !service.is_empty() && !name.is_empty() => Ok(()),
        _ => err(format!(
            "{path} \"{action}\" must be \"*\" or \"<service>:<action>\", e.g. \"rds:DescribeDBInstances\""
        )),
    }
}

/// Resources are `*` or an ARN (`acs:<service>:<region>:<account>:<relative-id>`).
fn check_resource(resource: &str, path: &str) -> Result<(), PolicyError> {
    if resource.trim() != resource {
        return err(format!("{path} \"{resource}\" has leading or trailing whitespace"));
    }
    if resource == "*" || resource.starts_with("acs:") {
        return Ok(());
    }
    err(format!(
        "{path} \"{resource}\" must be \"*\" or an ARN starting with \"acs:\", e.g. \"acs:rds:*:*:dbinstance/*\""
    ))
}

/// A JSON value whose objects are checked for duplicate keys, which `serde_json::Value`
/// would silently collapse to the last one (two `Condition`s would lose the first).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            let StrictValue(v) = map.next_value()?;
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(json: &str) -> String {
        match parse_policy(json) {
            Ok(doc) => panic!("accepted {json}: {doc:?}"),
            Err(PolicyError(m)) => m,
        }
    }

    fn stmt(body: &str) -> String {
        format!(r#"{{"Version":"1","Statement":[{body}]}}"#)
    }

    #[test]
    fn accepts_the_reference_example() {
        let doc = parse_policy(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["rds:Describe*","rds:ImportDatabaseBetweenInstances"],
              "Resource":["acs:rds:*:*:dbinstance/rm-xxx"],"Condition":{"IpAddress":{"acs:SourceIp":["203.0.113.0/24"]}}}]}"#,
        )
        .unwrap();
        assert_eq!(doc.statements.len(), 1);
        let s = &doc.statements[0];
        assert_eq!(s.effect, Effect::Allow);
        assert!(!s.action.negated);
        assert_eq!(
            s.action.patterns,
            ["rds:describe*", "rds:importdatabasebetweeninstances"]
        );
        assert_eq!(s.resource.patterns, ["acs:rds:*:*:dbinstance/rm-xxx"]);
        assert_eq!(s.conditions.len(), 1);
    }

    #[test]
    fn accepts_single_statement_object_and_single_strings() {
        let doc = parse_policy(
            r#"{"Version":"1","Statement":{"Effect":"Deny","NotAction":"rds:Describe*","NotResource":"*"}}"#,
        )
        .unwrap();
        let s = &doc.statements[0];
        assert_eq!(s.effect, Effect::Deny);
        assert!(s.action.negated && s.resource.negated);
        assert!(s.conditions.is_empty());
    }

    #[test]
    fn accepts_empty_condition_block() {
        let doc = parse_policy(&stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}"#,
        ))
        .unwrap();
        assert!(doc.statements[0].conditions.is_empty());
    }

    #[test]
    fn refuses_invalid_json_and_non_objects() {
        assert!(refused("{").contains("not valid JSON"));
        assert!(refused("").contains("not valid JSON"));
        assert!(refused("[]").contains("must be a JSON object"));
        assert!(refused(r#""x""#).contains("must be a JSON object"));
    }

    #[test]
    fn refuses_duplicate_keys() {
        let m = refused(r#"{"Version":"1","Version":"1","Statement":[]}"#);
        assert!(m.contains("duplicate key \"Version\""), "{m}");
        let m = refused(&stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":true}},"Condition":{}}"#,
        ));
        assert!(m.contains("duplicate key \"Condition\""), "{m}");
    }

    #[test]
    fn refuses_bad_version() {
        assert!(refused(r#"{"Statement":[]}"#).contains("Version is missing"));
        assert!(refused(r#"{"Version":1,"Statement":[]}"#).contains("Version must be the string \"1\", got 1"));
        assert!(refused(r#"{"Version":"2012-10-17","Statement":[]}"#).contains("got \"2012-10-17\""));
    }

    #[test]
    fn refuses_bad_statement_container() {
        assert!(refused(r#"{"Version":"1"}"#).contains("Statement is missing"));
        assert!(refused(r#"{"Version":"1","Statement":[]}"#).contains("Statement is empty"));
        assert!(refused(r#"{"Version":"1","Statement":"x"}"#).contains("Statement must be an array"));
        assert!(refused(r#"{"Version":"1","Statement":[1]}"#).contains("Statement[0] must be a JSON object"));
    }

    #[test]
    fn refuses_unknown_or_miscased_elements() {
        let m = refused(r#"{"Version":"1","Statement":[],"Id":"x"}"#);
        assert!(m.contains("unsupported element \"Id\""), "{m}");
        let m = refused(r#"{"version":"1","Statement":[]}"#);
        assert!(m.contains("did you mean \"Version\""), "{m}");
        let m = refused(&stmt(r#"{"effect":"Allow","Action":"*","Resource":"*"}"#));
        assert!(
            m.contains("Statement[0]") && m.contains("did you mean \"Effect\""),
            "{m}"
        );
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*","Conditon":{}}"#));
        assert!(m.contains("unsupported element \"Conditon\""), "{m}");
        let m = refused(&stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Principal":{"RAM":"*"}}"#,
        ));
        assert!(m.contains("Principal"), "{m}");
    }

    #[test]
    fn refuses_bad_effect() {
        let m = refused(&stmt(r#"{"Action":"*","Resource":"*"}"#));
        assert!(m.contains("Statement[0].Effect is missing"), "{m}");
        let m = refused(&stmt(r#"{"Effect":"allow","Action":"*","Resource":"*"}"#));
        assert!(m.contains("must be \"Allow\" or \"Deny\", got \"allow\""), "{m}");
        let m = refused(&stmt(r#"{"Effect":true,"Action":"*","Resource":"*"}"#));
        assert!(m.contains("Effect must be"), "{m}");
    }

    #[test]
    fn refuses_bad_action() {
        let m = refused(&stmt(r#"{"Effect":"Allow","Resource":"*"}"#));
        assert!(m.contains("needs Action or NotAction"), "{m}");
        let m = refused(&stmt(
            r#"{"Effect":"Allow","Action":"*","NotAction":"rds:X","Resource":"*"}"#,
        ));
        assert!(m.contains("both Action and NotAction"), "{m}");
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#));
        assert!(m.contains("Statement[0].Action is an empty array"), "{m}");
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":["rds:A",7],"Resource":"*"}"#));
        assert!(m.contains("Statement[0].Action[1] must be a string, got 7"), "{m}");
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":{"a":1},"Resource":"*"}"#));
        assert!(m.contains("must be a string or an array of strings"), "{m}");
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":"","Resource":"*"}"#));
        assert!(m.contains("empty string"), "{m}");
        for bad in ["DescribeDBInstances", "rds:", ":Describe*", "rds: Describe*"] {
            let m = refused(&stmt(&format!(
                r#"{{"Effect":"Allow","NotAction":"{bad}","Resource":"*"}}"#
            )));
            assert!(m.contains(&format!("Statement[0].NotAction[0] \"{bad}\"")), "{m}");
        }
    }

    #[test]
    fn refuses_bad_resource() {
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":"*"}"#));
        assert!(m.contains("needs Resource or NotResource"), "{m}");
        let m = refused(&stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}"#,
        ));
        assert!(m.contains("both Resource and NotResource"), "{m}");
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":null}"#));
        assert!(m.contains("Resource must be a string or an array"), "{m}");
        let m = refused(&stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":["*", "arn:aws:s3:::b"]}"#,
        ));
        assert!(
            m.contains("Resource[1] \"arn:aws:s3:::b\" must be \"*\" or an ARN"),
            "{m}"
        );
        let m = refused(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":" acs:rds:*:*:*"}"#));
        assert!(m.contains("whitespace"), "{m}");
    }

    #[test]
    fn error_paths_name_the_statement() {
        let m = refused(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*"}]}"#,
        );
        assert!(m.starts_with("Statement[1] "), "{m}");
        let m = refused(r#"{"Version":"1","Statement":{"Effect":"Allow","Action":"*"}}"#);
        assert!(m.starts_with("Statement needs Resource"), "{m}");
    }
}
