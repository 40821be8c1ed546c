//! What MariaDB offers through the API: its name, instance ids, classes, reserved names
//! and the character sets `CharacterSetName` may ask for.

use engine::{Catalogue, CharsetSpec, ClassFamily::*, EngineKind, InstanceClass, NameRules};

pub const KIND: EngineKind = EngineKind::new("MariaDB");

pub static CATALOGUE: Catalogue = Catalogue {
    kind: KIND,
    id_prefix: "rm",
    classes: &[
        InstanceClass::new("mariadb.n2.medium.1", GeneralPurpose, 1, 2048, 600, 2000),
        InstanceClass::new("mariadb.x4.large.2c", Dedicated, 4, 16384, 2500, 10000),
        InstanceClass::new("mariadb.x8.xlarge.4c", Dedicated, 8, 65536, 5000, 20000),
        InstanceClass::new("mariadb.x4.2xlarge.2h", DedicatedHost, 8, 32768, 5000, 20000),
    ],
    names: NameRules {
        reserved_dbs: &["mysql", "sys", "performance_schema", "information_schema", "openrds_admin"],
        reserved_db_prefixes: &[],
        reserved_accounts: &["root", "mysql", "mariadb_sys", "openrds_admin", "public", "admin"],
        reserved_account_prefixes: &[],
        // The user name limit.
        account_max_len: 32,
    },
    default_charset: "utf8mb4",
    parse_charset,
};

const CHARSETS: &[&str] = &["utf8mb4", "utf8", "latin1", "gbk"];

/// One of `utf8mb4`, `utf8`, `latin1`, `gbk`, any case.
fn parse_charset(value: &str) -> Result<CharsetSpec, String> {
    let lower = value.trim().to_ascii_lowercase();
    if CHARSETS.contains(&lower.as_str()) {
        Ok(CharsetSpec { charset: lower, collate: None, ctype: None })
    } else {
        Err(format!("use one of {}", CHARSETS.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_sets() {
        assert_eq!(parse_charset("UTF8MB4").unwrap().charset, "utf8mb4");
        assert!(parse_charset("UTF8,C,C").is_err());
    }

    #[test]
    fn reserved_names_are_mariadbs_own() {
        for name in ["mysql", "sys", "performance_schema", "information_schema", "openrds_admin"] {
            assert!(CATALOGUE.check_db_name(name).is_err(), "{name}");
        }
        // PostgreSQL's reserved prefix and databases mean nothing here.
        for name in ["pg_stats", "postgres", "template1"] {
            CATALOGUE.check_db_name(name).unwrap();
        }
        CATALOGUE.check_account_name("pg_reader").unwrap();
        for bad in ["root", "mysql", "openrds_admin", &"a".repeat(33)] {
            assert!(CATALOGUE.check_account_name(bad).is_err(), "{bad}");
        }
    }
}
