//! Engine parameters callers may change (DescribeParameters, ModifyParameter): each engine
//! offers a curated list, with types and ranges, and whether the server must restart for
//! a new value. Values set through the API live in a file of the instance's own that the
//! server reads at every start (so they survive restarts and go with a backup), and are
//! applied at once where the server can reload them. Settings an instance class implies
//! (memory, connections) are not among them: ModifyDBInstanceSpec changes those.

use crate::{EngineError, InstanceSpec};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    /// An integer in `min..=max`, in the unit the description names.
    Integer { min: i64, max: i64 },
    /// One of these words (any case on input; stored as written here).
    Choice(&'static [&'static str]),
}

/// One parameter of an engine's curated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterDef {
    pub name: &'static str,
    pub kind: ParameterKind,
    /// The engine's own default, as the API shows values.
    pub default: &'static str,
    /// A new value takes effect only after the server restarts.
    pub restart: bool,
    pub description: &'static str,
}

impl ParameterDef {
    /// The value as it is stored and applied, or why it is refused.
    pub fn check(&self, value: &str) -> Result<String, String> {
        let value = value.trim();
        match self.kind {
            ParameterKind::Integer { min, max } => match value.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                _ => Err(format!("{value:?} is not an integer in {}", self.range())),
            },
            ParameterKind::Choice(words) => {
                words.iter().find(|w| w.eq_ignore_ascii_case(value)).map(|w| w.to_string()).ok_or_else(|| format!("{value:?} is not one of {}", self.range()))
            }
        }
    }

    /// The values it takes, as Alibaba's `CheckingCode`/`ParameterValueRange` write them.
    pub fn range(&self) -> String {
        match self.kind {
            ParameterKind::Integer { min, max } => format!("[{min}-{max}]"),
            ParameterKind::Choice(words) => format!("[{}]", words.join("|")),
        }
    }
}

/// The parameters of one engine's servers (part of an engine that offers them, through
/// [`crate::Engine::parameters`]).
#[async_trait]
pub trait Parameters: Send + Sync {
    /// The curated list, in the order shown.
    fn definitions(&self) -> &'static [ParameterDef];

    /// The value of each definition the server runs with now (in the definitions' units).
    async fn running(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError>;

    /// The values set through the API so far (those the server reads at its start).
    fn configured(&self, spec: &InstanceSpec) -> Result<BTreeMap<String, String>, EngineError>;

    /// Sets `values` (already checked against the definitions) on top of those set
    /// before: written where the server reads them at every start, then reloaded so
    /// those that need no restart take effect now.
    async fn configure(&self, spec: &InstanceSpec, values: &BTreeMap<String, String>) -> Result<(), EngineError>;
}

/// What every engine's list must be: names unique, each default a value of its own
/// definition (for the engines' unit tests).
pub fn check_list(definitions: &[ParameterDef]) -> Result<(), String> {
    for (i, d) in definitions.iter().enumerate() {
        if definitions[..i].iter().any(|e| e.name == d.name) {
            return Err(format!("{} is listed twice", d.name));
        }
        match d.check(d.default) {
            Ok(v) if v == d.default => {}
            _ => return Err(format!("the default of {} ({:?}) is not a value of its own definition {}", d.name, d.default, d.range())),
        }
    }
    Ok(())
}

/// The definition named `name` (case as given), if the list has it.
pub fn find(definitions: &'static [ParameterDef], name: &str) -> Option<&'static ParameterDef> {
    definitions.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORK_MEM: ParameterDef = ParameterDef { name: "work_mem", kind: ParameterKind::Integer { min: 64, max: 2097151 }, default: "4096", restart: false, description: "kB" };
    const JIT: ParameterDef = ParameterDef { name: "jit", kind: ParameterKind::Choice(&["on", "off"]), default: "on", restart: false, description: "" };

    #[test]
    fn values_are_checked_and_normalized() {
        assert_eq!(WORK_MEM.check(" 8192 "), Ok("8192".into()));
        assert!(WORK_MEM.check("63").is_err() && WORK_MEM.check("8MB").is_err());
        assert_eq!(JIT.check("OFF"), Ok("off".into()));
        assert!(JIT.check("maybe").is_err());
        assert_eq!((WORK_MEM.range(), JIT.range()), ("[64-2097151]".to_string(), "[on|off]".to_string()));
    }
}
