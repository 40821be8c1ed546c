//! Request parameters: the query string and a form body merged, values form-decoded.

use crate::error::WireError;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Merged request parameters. A name given twice keeps the last value (the body wins
/// over the query string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn new() -> Self {
        Params(BTreeMap::new())
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// The value, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The value, or `MissingParameter(name)`.
    pub fn required(&self, name: &str) -> Result<&str, WireError> {
        self.get(name).ok_or_else(|| WireError::MissingParameter(name.to_string()))
    }

    /// Parses an optional value (integers, enums with `FromStr`); a bad value is
    /// `InvalidParameter` naming the parameter.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, WireError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| WireError::InvalidParameter {
                name: name.to_string(),
                reason: format!("{v:?} is not a valid value"),
            }),
        }
    }

    pub fn parse_required<T: FromStr>(&self, name: &str) -> Result<T, WireError> {
        self.parse(name)?.ok_or_else(|| WireError::MissingParameter(name.to_string()))
    }

    /// `true`/`false` in any case.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, WireError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(WireError::InvalidParameter {
                name: name.to_string(),
                reason: format!("{v:?} is not true or false"),
            }),
        }
    }

    /// Flattened lists such as `Tag.1.Key`, `Tag.1.Value`: returns, for prefix `Tag`, the
    /// maps of each index in index order.
    /// Flattened lists of values such as `ResourceId.1`, `ResourceId.2`: the values, in
    /// the order of their numbers.
    pub fn repeated(&self, prefix: &str) -> Vec<String> {
        let lead = format!("{prefix}.");
        let mut by_index: BTreeMap<u32, String> = BTreeMap::new();
        for (k, v) in &self.0 {
            if let Some(i) = k.strip_prefix(&lead).and_then(|rest| rest.parse::<u32>().ok()) {
                by_index.insert(i, v.clone());
            }
        }
        by_index.into_values().collect()
    }

    pub fn indexed(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        let lead = format!("{prefix}.");
        for (k, v) in &self.0 {
            if let Some(rest) = k.strip_prefix(&lead) {
                let mut parts = rest.splitn(2, '.');
                if let (Some(idx), Some(field)) = (parts.next(), parts.next()) {
                    if let Ok(i) = idx.parse::<u32>() {
                        by_index.entry(i).or_default().insert(field.to_string(), v.clone());
                    }
                }
            }
        }
        by_index.into_values().collect()
    }
}

/// From `(name, value)` pairs, as tests and clients write them.
impl From<&[(&str, &str)]> for Params {
    fn from(pairs: &[(&str, &str)]) -> Self {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

impl FromIterator<(String, String)> for Params {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Params(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::from(pairs)
    }

    #[test]
    fn last_value_wins_and_empty_is_absent() {
        let mut params = p(&[("A", "1"), ("A", "2"), ("Empty", "")]);
        assert_eq!(params.get("A"), Some("2"));
        assert_eq!(params.get("Empty"), None);
        assert_eq!(params.get("Nope"), None);
        params.insert("B", "x");
        assert_eq!(params.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["A", "B", "Empty"]);
        assert_eq!(params.remove("B"), Some("x".into()));
        assert_eq!(params.remove("B"), None);
        assert_eq!(Params::new(), Params::default());
    }

    #[test]
    fn required() {
        let params = p(&[("DBInstanceId", "rm-1"), ("DBInfo", "")]);
        assert_eq!(params.required("DBInstanceId"), Ok("rm-1"));
        assert_eq!(params.required("DBInfo"), Err(WireError::MissingParameter("DBInfo".into())));
        assert_eq!(params.required("X"), Err(WireError::MissingParameter("X".into())));
    }

    #[test]
    fn parse_values() {
        let params = p(&[("PageSize", " 30 "), ("PageNumber", "x")]);
        assert_eq!(params.parse::<u32>("PageSize"), Ok(Some(30)));
        assert_eq!(params.parse::<u32>("Missing"), Ok(None));
        assert!(matches!(
            params.parse::<u32>("PageNumber"),
            Err(WireError::InvalidParameter { name, .. }) if name == "PageNumber"
        ));
        assert_eq!(params.parse_required::<u32>("PageSize"), Ok(30));
        assert_eq!(params.parse_required::<u32>("Missing"), Err(WireError::MissingParameter("Missing".into())));
    }

    #[test]
    fn bools() {
        let params = p(&[("A", "TRUE"), ("B", "false"), ("C", "yes")]);
        assert_eq!(params.bool("A"), Ok(Some(true)));
        assert_eq!(params.bool("B"), Ok(Some(false)));
        assert_eq!(params.bool("D"), Ok(None));
        assert!(matches!(params.bool("C"), Err(WireError::InvalidParameter { name, .. }) if name == "C"));
    }

    #[test]
    fn repeated_values_in_numeric_order() {
        let params = p(&[("ResourceId.10", "c"), ("ResourceId.2", "b"), ("ResourceId.1", "a"), ("ResourceId.x", "ignored"), ("ResourceIds.1", "other")]);
        assert_eq!(params.repeated("ResourceId"), vec!["a", "b", "c"]);
    }

    #[test]
    fn indexed_lists_in_numeric_order() {
        let params = p(&[
            ("Tag.10.Key", "k10"),
            ("Tag.2.Key", "k2"),
            ("Tag.2.Value", "v2"),
            ("Tag.x.Key", "ignored"),
            ("Tag.3", "ignored"),
            ("Tags.1.Key", "other prefix"),
        ]);
        let tags = params.indexed("Tag");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("Key").map(String::as_str), Some("k2"));
        assert_eq!(tags[0].get("Value").map(String::as_str), Some("v2"));
        assert_eq!(tags[1].get("Key").map(String::as_str), Some("k10"));
        assert!(params.indexed("None").is_empty());
    }
}
