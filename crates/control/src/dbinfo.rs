//! `DBInfo` of ImportDatabaseBetweenInstances: `{"DBNames":{"src":"dst",...}}` (renames),
//! `{"DBNames":["db",...]}` (same names), or an unwrapped `{"src":"dst"}` map.

use crate::{ControlError, Result};

/// Why a DBInfo is refused, each with its own wire code.
#[derive(Debug)]
pub enum DbInfoError {
    Malformed(String),
    NameFormat(String),
    Duplicate(String),
}

impl From<DbInfoError> for ControlError {
    fn from(e: DbInfoError) -> Self {
        match e {
            DbInfoError::Malformed(m) => ControlError::DbInfoMalformed(m),
            DbInfoError::NameFormat(m) => ControlError::DbNameFormat(m),
            DbInfoError::Duplicate(m) => ControlError::DbDuplicate(m),
        }
    }
}

/// A name any supported engine accepts as a database name: 1 to 63 bytes (PostgreSQL's
/// identifier limit; MariaDB allows 64), no control characters, and none of the
/// characters MariaDB forbids in file-backed names.
fn check_engine_db_name(role: &str, name: &str) -> std::result::Result<(), DbInfoError> {
    let bad = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 63 {
        Some("it is longer than 63 bytes")
    } else if name.chars().any(|c| c.is_control()) {
        Some("it contains a control character")
    } else if name.contains(['/', '\\', '.']) || name.ends_with(' ') {
        Some("it contains '/', '\\' or '.', or ends with a space")
    } else {
        None
    };
    match bad {
        Some(why) => Err(DbInfoError::NameFormat(format!("The {role} database name {name:?} in DBInfo is not valid: {why}."))),
        None => Ok(()),
    }
}

/// Parses DBInfo into (source, destination) pairs in the order given.
pub fn parse_db_info(text: &str) -> std::result::Result<Vec<(String, String)>, DbInfoError> {
    let malformed = |why: &str| {
        DbInfoError::Malformed(format!(
            "DBInfo is not valid: {why}. Expected {{\"DBNames\":{{\"src\":\"dst\"}}}} or {{\"DBNames\":[\"db\"]}}."
        ))
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| malformed(&format!("it is not JSON ({e})")))?;
    let obj = value.as_object().ok_or_else(|| malformed("it is not a JSON object"))?;
    let names = match obj.get("DBNames") {
        Some(inner) if obj.len() == 1 => inner.clone(),
        Some(_) => return Err(malformed("it has keys besides DBNames")),
        None => value.clone(),
    };
    let pairs: Vec<(String, String)> = match &names {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(|s| (s.to_string(), s.to_string())).ok_or_else(|| malformed("the DBNames list holds a non-string")))
            .collect::<std::result::Result<_, _>>()?,
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())).ok_or_else(|| malformed("a DBNames value is not a string")))
            .collect::<std::result::Result<_, _>>()?,
        _ => return Err(malformed("DBNames is neither a map nor a list")),
    };
    if pairs.is_empty() {
        return Err(malformed("it names no database"));
    }
    for (src, dst) in &pairs {
        check_engine_db_name("source", src)?;
        check_engine_db_name("destination", dst)?;
    }
    let mut seen_src = std::collections::HashSet::new();
    let mut seen_dst = std::collections::HashSet::new();
    for (src, dst) in &pairs {
        if !seen_src.insert(src.as_str()) {
            return Err(DbInfoError::Duplicate(format!("The source database {src} appears twice in DBInfo.")));
        }
        if !seen_dst.insert(dst.as_str()) {
            return Err(DbInfoError::Duplicate(format!("The destination database {dst} appears twice in DBInfo.")));
        }
    }
    Ok(pairs)
}

/// For callers that want a ControlError directly.
pub fn parse(text: &str) -> Result<Vec<(String, String)>> {
    Ok(parse_db_info(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_read() {
        assert_eq!(parse_db_info(r#"{"DBNames":{"a":"b"}}"#).unwrap(), vec![("a".into(), "b".into())]);
        assert_eq!(parse_db_info(r#"{"DBNames":["a","c"]}"#).unwrap(), vec![("a".into(), "a".into()), ("c".into(), "c".into())]);
        assert_eq!(parse_db_info(r#"{"a":"b"}"#).unwrap(), vec![("a".into(), "b".into())]);
    }

    #[test]
    fn bad_forms_are_refused_with_their_kind() {
        for bad in ["", "nope", "[]", r#"{"DBNames":[]}"#, r#"{"DBNames":{}}"#, r#"{"DBNames":5}"#, r#"{"DBNames":[1]}"#, r#"{"DBNames":["a"],"x":1}"#] {
            assert!(matches!(parse_db_info(bad), Err(DbInfoError::Malformed(_))), "{bad}");
        }
        assert!(matches!(parse_db_info(r#"{"DBNames":{"a":""}}"#), Err(DbInfoError::NameFormat(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":["a/b"]}"#), Err(DbInfoError::NameFormat(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":["a","a"]}"#), Err(DbInfoError::Duplicate(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":{"a":"x","b":"x"}}"#), Err(DbInfoError::Duplicate(_))));
    }
}
