//! Name, password and character-set rules of the API (shared/reference/rds-api.md §5.8,
//! §5.10; shared/API.md "Databases and accounts"). Pure checks, one message per rule so
//! the caller learns exactly what to change.

use crate::{ControlError, Result};
use engine::{CharsetSpec, EngineKind};

/// The names one engine keeps for itself: what no database or account of the API may be
/// called there. One value per engine, so an engine brings its own and no rule of one
/// engine is applied to another.
pub struct NameRules {
    /// System databases and schemas, and names of openrds's own on this engine.
    pub reserved_dbs: &'static [&'static str],
    pub reserved_db_prefixes: &'static [&'static str],
    pub reserved_accounts: &'static [&'static str],
    pub reserved_account_prefixes: &'static [&'static str],
    /// Longest account name (PostgreSQL's identifier limit, MariaDB's user name limit).
    pub account_max_len: usize,
}

/// Names an import builds under on every engine (`mover::is_staging_name`): a user's
/// database of that name would be taken for an import's staging and dropped by its
/// cleanup.
const STAGING_PREFIX: &str = "ors_stg_";

const POSTGRES_RULES: NameRules = NameRules {
    reserved_dbs: &["postgres", "template0", "template1", "information_schema", "pg_catalog", "pg_toast", "openrds_admin", "rds_superuser"],
    reserved_db_prefixes: &["pg_", STAGING_PREFIX],
    reserved_accounts: &["postgres", "openrds_admin", "rds_superuser", "public", "root", "admin"],
    reserved_account_prefixes: &["pg_", STAGING_PREFIX],
    account_max_len: 63,
};

const MARIADB_RULES: NameRules = NameRules {
    reserved_dbs: &["mysql", "sys", "performance_schema", "information_schema", "openrds_admin"],
    reserved_db_prefixes: &[STAGING_PREFIX],
    reserved_accounts: &["root", "mysql", "mariadb_sys", "openrds_admin", "public", "admin"],
    reserved_account_prefixes: &[STAGING_PREFIX],
    account_max_len: 32,
};

/// The name rules of `engine`.
pub fn rules(engine: EngineKind) -> &'static NameRules {
    match engine {
        EngineKind::PostgreSQL => &POSTGRES_RULES,
        EngineKind::MariaDB => &MARIADB_RULES,
    }
}

/// `DBName` (also each name of an import's DBInfo): 2–64 characters of `[a-z0-9_-]`,
/// starting with a lowercase letter and ending with a lowercase letter or digit, and not
/// a name `engine` keeps for itself.
pub fn check_db_name(engine: EngineKind, name: &str) -> Result<()> {
    check_db_name_format(name)?;
    let r = rules(engine);
    if r.reserved_dbs.contains(&name) || r.reserved_db_prefixes.iter().any(|p| name.starts_with(p)) {
        return Err(ControlError::DbNameFormat(format!(
            "The specified DBName {name:?} is not valid: the name is reserved by {} or by openrds.",
            engine.as_str()
        )));
    }
    Ok(())
}

/// The part of the `DBName` rule every engine shares (see [`check_db_name`]), for callers
/// that do not know the engine yet.
pub fn check_db_name_format(name: &str) -> Result<()> {
    let fail = |why: &str| Err(ControlError::DbNameFormat(format!("The specified DBName {name:?} is not valid: {why}.")));
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

/// `AccountName`: `[a-z0-9_]`, starting with a letter and ending with a letter or digit;
/// 2–63 characters on PostgreSQL (its identifier limit), 2–32 on MariaDB; not a name
/// `engine` keeps for itself.
pub fn check_account_name(engine: EngineKind, name: &str) -> Result<()> {
    let fail = |why: &str| Err(ControlError::AccountNameFormat(format!("The specified AccountName {name:?} is not valid: {why}.")));
    let r = rules(engine);
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
    if r.reserved_accounts.contains(&name) || r.reserved_account_prefixes.iter().any(|p| name.starts_with(p)) {
        return fail(&format!("the name is reserved by {} or by openrds", engine.as_str()));
    }
    Ok(())
}

const PASSWORD_SPECIALS: &str = "!@#$%^&*()_+-=";

/// `AccountPassword`: 8–32 characters from letters, digits and `!@#$%^&*()_+-=`, using at
/// least three of: uppercase, lowercase, digits, specials. The message never echoes it.
pub fn check_password(password: &str) -> Result<()> {
    let fail = |why: &str| Err(ControlError::PasswordMalformed(format!("The specified AccountPassword is not valid: {why}.")));
    let len = password.chars().count();
    if !(8..=32).contains(&len) {
        return fail("it must be 8 to 32 characters long");
    }
    if !password.chars().all(|c| c.is_ascii_alphanumeric() || PASSWORD_SPECIALS.contains(c)) {
        return fail("only letters, digits and the special characters !@#$%^&*()_+-= are allowed");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| PASSWORD_SPECIALS.contains(c)),
    ];
    if classes.iter().filter(|&&b| b).count() < 3 {
        return fail("it must contain at least three of: uppercase letters, lowercase letters, digits, special characters");
    }
    Ok(())
}

const PG_ENCODINGS: &[&str] = &[
    "UTF8", "SQL_ASCII", "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9",
    "LATIN10", "EUC_CN", "EUC_JP", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "ISO_8859_5", "ISO_8859_6", "ISO_8859_7",
    "ISO_8859_8", "KOI8R", "KOI8U", "WIN866", "WIN874", "WIN1250", "WIN1251", "WIN1252", "WIN1253", "WIN1254",
    "WIN1255", "WIN1256", "WIN1257", "WIN1258", "MULE_INTERNAL",
];
const MARIADB_CHARSETS: &[&str] = &["utf8mb4", "utf8", "latin1", "gbk"];

/// `CharacterSetName`: on PostgreSQL an encoding alone or `encoding,collate,ctype`; on
/// MariaDB one of `utf8mb4`, `utf8`, `latin1`, `gbk`.
pub fn parse_charset(engine: EngineKind, value: &str) -> Result<CharsetSpec> {
    let fail = |why: String| Err(ControlError::CharsetFormat(format!("The specified CharacterSetName {value:?} is not valid: {why}.")));
    match engine {
        EngineKind::PostgreSQL => {
            let parts: Vec<&str> = value.split(',').map(str::trim).collect();
            let encoding = parts[0].to_ascii_uppercase().replace('-', "");
            let encoding = if encoding == "UTF8" || encoding == "UTF_8" { "UTF8".to_string() } else { encoding };
            if !PG_ENCODINGS.contains(&encoding.as_str()) {
                return fail(format!("{:?} is not a PostgreSQL encoding; use e.g. UTF8, LATIN1, SQL_ASCII, or UTF8,C,C.UTF-8", parts[0]));
            }
            let locale_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
            match parts.len() {
                1 => Ok(CharsetSpec { charset: encoding, collate: None, ctype: None }),
                3 if locale_ok(parts[1]) && locale_ok(parts[2]) => Ok(CharsetSpec {
                    charset: encoding,
                    collate: Some(parts[1].to_string()),
                    ctype: Some(parts[2].to_string()),
                }),
                3 => fail("the collate and ctype must be locale names such as C or en_US.utf8".into()),
                _ => fail("expected an encoding alone or encoding,collate,ctype".into()),
            }
        }
        EngineKind::MariaDB => {
            let lower = value.trim().to_ascii_lowercase();
            if MARIADB_CHARSETS.contains(&lower.as_str()) {
                Ok(CharsetSpec { charset: lower, collate: None, ctype: None })
            } else {
                fail(format!("use one of {}", MARIADB_CHARSETS.join(", ")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names_follow_the_documented_rule() {
        for engine in [EngineKind::PostgreSQL, EngineKind::MariaDB] {
            for ok in ["ab", "db1", "my-db_2", "a0"] {
                check_db_name(engine, ok).unwrap();
            }
            for bad in ["a", "1db", "Db", "db-", "db_", "d b", "dé", "Bad Name;drop", "ors_stg_i1a1_x", "information_schema", &"a".repeat(65)] {
                assert!(matches!(check_db_name(engine, bad), Err(ControlError::DbNameFormat(_))), "{engine:?} {bad}");
            }
        }
    }

    #[test]
    fn each_engine_reserves_its_own_names_only() {
        for pg in ["postgres", "template0", "template1", "pg_catalog", "pg_anything", "openrds_admin", "rds_superuser"] {
            assert!(check_db_name(EngineKind::PostgreSQL, pg).is_err(), "{pg}");
        }
        for maria in ["mysql", "sys", "performance_schema"] {
            assert!(check_db_name(EngineKind::MariaDB, maria).is_err(), "{maria}");
            check_db_name(EngineKind::PostgreSQL, maria).unwrap();
        }
        // PostgreSQL's reserved prefix and databases mean nothing to MariaDB.
        for name in ["pg_stats", "postgres", "template1"] {
            check_db_name(EngineKind::MariaDB, name).unwrap();
        }
        check_account_name(EngineKind::MariaDB, "pg_reader").unwrap();
        assert!(check_account_name(EngineKind::PostgreSQL, "pg_reader").is_err());
    }

    #[test]
    fn account_names_follow_the_documented_rule() {
        check_account_name(EngineKind::PostgreSQL, "app_user1").unwrap();
        for bad in ["a", "1a", "a-b", "Ab", "ab_", "pg_x", "openrds_admin", "rds_superuser", "ors_stg_x1"] {
            assert!(check_account_name(EngineKind::PostgreSQL, bad).is_err(), "{bad}");
        }
        for bad in ["root", "mysql", "openrds_admin", &"a".repeat(33)] {
            assert!(check_account_name(EngineKind::MariaDB, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_three_classes_and_the_right_length() {
        check_password("Passw0rd").unwrap();
        check_password("pass_w0rd").unwrap();
        for bad in ["short1A", "alllowercase", "ALLUPPER123", "Passw0rd space", "Pässw0rd!", &"Aa1".repeat(11)] {
            let err = check_password(bad).unwrap_err();
            assert!(!err.to_string().contains(bad), "message must not echo the password");
        }
    }

    #[test]
    fn charsets_per_engine() {
        assert_eq!(parse_charset(EngineKind::PostgreSQL, "utf8").unwrap().charset, "UTF8");
        let full = parse_charset(EngineKind::PostgreSQL, "UTF8,C,en_US.utf8").unwrap();
        assert_eq!(full.collate.as_deref(), Some("C"));
        assert_eq!(full.ctype.as_deref(), Some("en_US.utf8"));
        assert!(parse_charset(EngineKind::PostgreSQL, "KLINGON").is_err());
        assert!(parse_charset(EngineKind::PostgreSQL, "UTF8,C").is_err());
        assert_eq!(parse_charset(EngineKind::MariaDB, "utf8mb4").unwrap().charset, "utf8mb4");
        assert!(parse_charset(EngineKind::MariaDB, "UTF8,C,C").is_err());
    }
}
