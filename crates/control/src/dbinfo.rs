//! `DBInfo` of ImportDatabaseBetweenInstances: `{"DBNames":{"src":"dst",...}}` (renames),
//! `{"DBNames":["db",...]}` (same names), or an unwrapped `{"src":"dst"}` map.

use crate::{names, ControlError, Result};

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

/// A JSON value read with every key of every object kept, in order: serde_json's map
/// keeps only the last of two equal keys, and `{"DBNames":{"a":"x","a":"y"}}` must be
/// refused, not read as one pair.
enum Json {
    Text(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
    /// Numbers, booleans, null: never valid in DBInfo.
    Other,
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Json, E> {
                Ok(Json::Text(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Json, E> {
                Ok(Json::Other)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Json, E> {
                Ok(Json::Other)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Json, E> {
                Ok(Json::Other)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Json, E> {
                Ok(Json::Other)
            }
            fn visit_unit<E>(self) -> std::result::Result<Json, E> {
                Ok(Json::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::List(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Json::Object(entries))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Parses DBInfo into (source, destination) pairs in the order given. Names are checked
/// for the form every engine shares; the engine's own reserved names are checked by the
/// caller once it knows the engine.
pub fn parse_db_info(text: &str) -> std::result::Result<Vec<(String, String)>, DbInfoError> {
    let malformed = |why: &str| {
        DbInfoError::Malformed(format!(
            "DBInfo is not valid: {why}. Expected {{\"DBNames\":{{\"src\":\"dst\"}}}} or {{\"DBNames\":[\"db\"]}}."
        ))
    };
    let value: Json = serde_json::from_str(text).map_err(|e| malformed(&format!("it is not JSON ({e})")))?;
    let Json::Object(top) = value else { return Err(malformed("it is not a JSON object")) };
    let names = match top.iter().position(|(k, _)| k == "DBNames") {
        Some(_) if top.len() > 1 => return Err(malformed("it has keys besides DBNames, or DBNames twice")),
        Some(_) => top.into_iter().next().map(|(_, v)| v).unwrap_or(Json::Other),
        None => Json::Object(top),
    };
    let pairs: Vec<(String, String)> = match names {
        Json::List(items) => items
            .into_iter()
            .map(|v| match v {
                Json::Text(s) => Ok((s.clone(), s)),
                _ => Err(malformed("the DBNames list holds a non-string")),
            })
            .collect::<std::result::Result<_, _>>()?,
        Json::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Json::Text(s) => Ok((k, s)),
                _ => Err(malformed("a DBNames value is not a string")),
            })
            .collect::<std::result::Result<_, _>>()?,
        _ => return Err(malformed("DBNames is neither a map nor a list")),
    };
    if pairs.is_empty() {
        return Err(malformed("it names no database"));
    }
    for (src, dst) in &pairs {
        for (role, name) in [("source", src), ("destination", dst)] {
            names::check_db_name_format(name)
                .map_err(|e| DbInfoError::NameFormat(format!("The {role} database name {name:?} in DBInfo is not valid: {}", reason(&e))))?;
        }
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

/// What follows "is not valid: " in a name error's message.
fn reason(e: &ControlError) -> String {
    let text = e.to_string();
    text.split_once("is not valid: ").map(|(_, r)| r.to_string()).unwrap_or(text)
}

/// Checks every name of a parsed DBInfo against `engine`'s own rules (reserved and
/// system names), before anything is copied.
pub fn check_names(engine: &engine::Catalogue, pairs: &[(String, String)]) -> Result<()> {
    for (src, dst) in pairs {
        for (role, name) in [("source", src), ("destination", dst)] {
            names::check_db_name(engine, name).map_err(|e| {
                ControlError::DbNameFormat(format!("The {role} database name {name:?} in DBInfo is not valid: {}", reason(&e)))
            })?;
        }
    }
    Ok(())
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
        assert_eq!(parse_db_info(r#"{"DBNames":{"ab":"cd"}}"#).unwrap(), vec![("ab".into(), "cd".into())]);
        assert_eq!(parse_db_info(r#"{"DBNames":["ab","cd"]}"#).unwrap(), vec![("ab".into(), "ab".into()), ("cd".into(), "cd".into())]);
        assert_eq!(parse_db_info(r#"{"ab":"cd"}"#).unwrap(), vec![("ab".into(), "cd".into())]);
    }

    #[test]
    fn bad_forms_are_refused_with_their_kind() {
        for bad in ["", "nope", "[]", r#"{"DBNames":[]}"#, r#"{"DBNames":{}}"#, r#"{"DBNames":5}"#, r#"{"DBNames":[1]}"#, r#"{"DBNames":["a"],"x":1}"#] {
            assert!(matches!(parse_db_info(bad), Err(DbInfoError::Malformed(_))), "{bad}");
        }
        assert!(matches!(parse_db_info(r#"{"DBNames":{"ab":""}}"#), Err(DbInfoError::NameFormat(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":["ab/cd"]}"#), Err(DbInfoError::NameFormat(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":{"shop":"Bad Name;drop"}}"#), Err(DbInfoError::NameFormat(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":["ab","ab"]}"#), Err(DbInfoError::Duplicate(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":{"ab":"xy","cd":"xy"}}"#), Err(DbInfoError::Duplicate(_))));
        // serde_json would keep only the last of two equal keys.
        assert!(matches!(parse_db_info(r#"{"DBNames":{"ab":"xy","ab":"zw"}}"#), Err(DbInfoError::Duplicate(_))));
        assert!(matches!(parse_db_info(r#"{"ab":"xy","ab":"zw"}"#), Err(DbInfoError::Duplicate(_))));
        assert!(matches!(parse_db_info(r#"{"DBNames":["ab"],"DBNames":["cd"]}"#), Err(DbInfoError::Malformed(_))));
    }
}
