//! What an engine offers through the API, declared by the engine itself: its name, the
//! prefix of its instance ids, its instance classes, the names it keeps for itself and how
//! it reads `CharacterSetName`. The control plane and the server read an engine's
//! [`Catalogue`] and hold no engine's name or rule of their own, so a new engine brings
//! its catalogue and nothing else changes.

use crate::{CharsetSpec, ServerSettings};
use std::fmt;

/// An engine, as the API's `Engine` parameter names it. Values come from
/// the engines' catalogues; the control plane finds the engine of a name through the
/// engines it was given, ignoring case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EngineKind(&'static str);

impl EngineKind {
    pub const fn new(api_name: &'static str) -> EngineKind {
        EngineKind(api_name)
    }

    /// The canonical spelling the API answers with.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether `name` denotes this engine, in any case.
    pub fn matches(self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name.trim())
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `DBInstanceClassType`: `x` general-purpose, `d` dedicated, `h` dedicated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassFamily {
    GeneralPurpose,
    Dedicated,
    DedicatedHost,
}

impl ClassFamily {
    pub fn code(self) -> &'static str {
        match self {
            ClassFamily::GeneralPurpose => "x",
            ClassFamily::Dedicated => "d",
            ClassFamily::DedicatedHost => "h",
        }
    }

    /// Families that may take part in ImportDatabaseBetweenInstances.
    pub fn allows_import(self) -> bool {
        matches!(self, ClassFamily::Dedicated | ClassFamily::DedicatedHost)
    }
}

/// One instance class. Lookups are by code in a table, never by parsing codes
/// (shared/reference/rds-api.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceClass {
    pub code: &'static str,
    pub family: ClassFamily,
    pub cpu: u32,
    /// What the class promises; buffers are sized from it, so a small host can still run
    /// several large classes (pages are touched lazily).
    pub memory_mb: u64,
    pub max_connections: u32,
    pub max_iops: u32,
}

impl InstanceClass {
    pub const fn new(code: &'static str, family: ClassFamily, cpu: u32, memory_mb: u64, max_connections: u32, max_iops: u32) -> Self {
        InstanceClass { code, family, cpu, memory_mb, max_connections, max_iops }
    }

    pub fn settings(&self) -> ServerSettings {
        ServerSettings { memory_mb: self.memory_mb, cpu: self.cpu, max_connections: self.max_connections }
    }
}

/// The names one engine keeps for itself: what no database or account of the API may be
/// called there. Every engine brings its own, so no rule of one engine is applied to
/// another. (The prefix of an import's staging databases is reserved on every engine by
/// the control plane.)
#[derive(Debug)]
pub struct NameRules {
    /// System databases and schemas, and names of openrds's own on this engine.
    pub reserved_dbs: &'static [&'static str],
    pub reserved_db_prefixes: &'static [&'static str],
    pub reserved_accounts: &'static [&'static str],
    pub reserved_account_prefixes: &'static [&'static str],
    /// Longest account name the engine accepts.
    pub account_max_len: usize,
}

/// Everything the API needs to know about an engine before it has an instance of it.
#[derive(Debug)]
pub struct Catalogue {
    pub kind: EngineKind,
    /// Instance ids are `<prefix>-<random>` (`pgm-…`), as on Alibaba Cloud.
    pub id_prefix: &'static str,
    pub classes: &'static [InstanceClass],
    pub names: NameRules,
    /// The `CharacterSetName` most databases are made with (`UTF8`, `utf8mb4`).
    pub default_charset: &'static str,
    /// Reads a `CharacterSetName` value into what the engine creates; `Err` says what is
    /// wrong with it, in a sentence fragment the caller wraps.
    pub parse_charset: fn(&str) -> Result<CharsetSpec, String>,
    /// Every `CharacterSetName` (the encoding or character set alone) `parse_charset`
    /// accepts, as DescribeCharacterSetName lists them.
    pub charsets: &'static [&'static str],
    /// The keys DescribeDBInstancePerformance answers for instances of the engine.
    pub performance_keys: &'static [crate::PerformanceKey],
}

impl Catalogue {
    pub fn class(&self, code: &str) -> Option<&'static InstanceClass> {
        self.classes.iter().find(|c| c.code == code)
    }

    /// `DBName` (also each name of an import's DBInfo): the rule every engine shares
    /// ([`check_db_name_format`]), and not a name this engine or openrds keeps for itself.
    /// `Err` is the message for the caller.
    pub fn check_db_name(&self, name: &str) -> Result<(), String> {
        check_db_name_format(name)?;
        let r = &self.names;
        if r.reserved_dbs.contains(&name) || r.reserved_db_prefixes.iter().any(|p| name.starts_with(p)) || mover::is_staging_name(name) {
            return Err(format!("The specified DBName {name:?} is not valid: the name is reserved by {} or by openrds.", self.kind));
        }
        Ok(())
    }

    /// `AccountName`: `[a-z0-9_]`, starting with a letter and ending with a letter or
    /// digit, 2 to the engine's limit long, not a name the engine or openrds keeps.
    pub fn check_account_name(&self, name: &str) -> Result<(), String> {
        let fail = |why: &str| Err(format!("The specified AccountName {name:?} is not valid: {why}."));
        let r = &self.names;
        let max = r.account_max_len;
        let len = name.chars().count();
        if len < 2 || len > max {
            return fail(&format!("it must be 2 to {max} characters long"));
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return fail("only lowercase letters, digits and underscores are allowed");
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return fail("it must start with a lowercase letter");
        }
        if !name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return fail("it must end with a lowercase letter or a digit");
        }
        if r.reserved_accounts.contains(&name) || r.reserved_account_prefixes.iter().any(|p| name.starts_with(p)) || mover::is_staging_name(name) {
            return fail(&format!("the name is reserved by {} or by openrds", self.kind));
        }
        Ok(())
    }
}

/// The part of the `DBName` rule every engine shares: 2–64 characters of `[a-z0-9_-]`,
/// starting with a lowercase letter and ending with a lowercase letter or digit (for
/// callers that do not know the engine yet).
pub fn check_db_name_format(name: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("The specified DBName {name:?} is not valid: {why}."));
    let len = name.chars().count();
    if !(2..=64).contains(&len) {
        return fail("it must be 2 to 64 characters long");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return fail("only lowercase letters, digits, underscores and hyphens are allowed");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return fail("it must start with a lowercase letter");
    }
    if !name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return fail("it must end with a lowercase letter or a digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    static TOY: Catalogue = Catalogue {
        kind: EngineKind::new("Toy"),
        id_prefix: "toy",
        classes: &[InstanceClass::new("toy.x4.large.2c", ClassFamily::Dedicated, 4, 16384, 100, 1000)],
        names: NameRules {
            reserved_dbs: &["system"],
            reserved_db_prefixes: &["sys_"],
            reserved_accounts: &["root"],
            reserved_account_prefixes: &["sys_"],
            account_max_len: 16,
        },
        default_charset: "toy8",
        parse_charset: |s| Ok(CharsetSpec { charset: s.into(), collate: None, ctype: None }),
        charsets: &["toy8"],
        performance_keys: &[],
    };

    #[test]
    fn db_names_follow_the_documented_rule() {
        for ok in ["ab", "db1", "my-db_2", "a0"] {
            TOY.check_db_name(ok).unwrap();
        }
        for bad in ["a", "1db", "Db", "db-", "db_", "d b", "dé", "Bad Name;drop", "ors_stg_i1a1_x", "system", "sys_x", &"a".repeat(65)] {
            assert!(TOY.check_db_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_names_follow_the_documented_rule() {
        TOY.check_account_name("app_user1").unwrap();
        for bad in ["a", "1a", "a-b", "Ab", "ab_", "sys_x", "root", "ors_stg_x1", &"a".repeat(17)] {
            assert!(TOY.check_account_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn engine_names_match_in_any_case() {
        assert!(TOY.kind.matches("toy") && TOY.kind.matches(" TOY ") && !TOY.kind.matches("toys"));
        assert_eq!(TOY.class("toy.x4.large.2c").unwrap().family, ClassFamily::Dedicated);
    }
}
