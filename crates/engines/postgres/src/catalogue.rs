//! What PostgreSQL offers through the API: its name, instance ids, classes, reserved names
//! and the encodings `CharacterSetName` may ask for.

use engine::performance::Metric::*;
use engine::{Catalogue, CharsetSpec, ClassFamily::*, EngineKind, InstanceClass, NameRules, PerformanceKey};

pub const KIND: EngineKind = EngineKind::new("PostgreSQL");

pub static CATALOGUE: Catalogue = Catalogue {
    kind: KIND,
    id_prefix: "pgm",
    classes: &[
        InstanceClass::new("pg.n2.small.1", GeneralPurpose, 1, 1024, 100, 1000),
        InstanceClass::new("pg.n2.medium.1", GeneralPurpose, 1, 2048, 200, 2000),
        InstanceClass::new("pg.n4.medium.1", GeneralPurpose, 2, 4096, 400, 4000),
        InstanceClass::new("pg.x4.large.2c", Dedicated, 4, 16384, 1600, 10000),
        InstanceClass::new("pg.x8.xlarge.4c", Dedicated, 8, 65536, 3200, 20000),
        InstanceClass::new("pg.x4.2xlarge.2h", DedicatedHost, 8, 32768, 3200, 20000),
    ],
    names: NameRules {
        reserved_dbs: &["postgres", "template0", "template1", "information_schema", "pg_catalog", "pg_toast", "openrds_admin", "rds_superuser"],
        reserved_db_prefixes: &["pg_"],
        reserved_accounts: &["postgres", "openrds_admin", "rds_superuser", "public", "root", "admin"],
        reserved_account_prefixes: &["pg_"],
        // The identifier limit.
        account_max_len: 63,
    },
    default_charset: "UTF8",
    parse_charset,
    charsets: ENCODINGS,
    performance_keys: PERFORMANCE_KEYS,
};

/// The keys RDS PostgreSQL answers for. Alibaba's table for PostgreSQL could not be read
/// here: the key names are those Alibaba's own RDS client (aliyun/alibabacloud-rds-openapi-mcp-server,
/// `utils.py` PERF_KEYS) asks PostgreSQL instances for, and the PolarDB keys' figures
/// those of PolarDB's documented metrics (`mean_qps`, `mean_tps`, `mean_active_session`);
/// the other figure names and PgSQL_SpaceUsage's unit (bytes) are unconfirmed. Not
/// served: PgSQL_COMDML (PostgreSQL counts no statements by kind without
/// pg_stat_statements) and PolarDBRowDML (its figures are undocumented).
const PERFORMANCE_KEYS: &[PerformanceKey] = &[
    PerformanceKey { name: "CpuUsage", unit: "%", figures: &[("cpuusage", CpuPercent)] },
    PerformanceKey { name: "MemoryUsage", unit: "%", figures: &[("memusage", MemoryPercent)] },
    PerformanceKey { name: "PgSQL_SpaceUsage", unit: "Byte", figures: &[("ins_size", TotalBytes)] },
    PerformanceKey { name: "PgSQL_IOPS", unit: "Count/s", figures: &[("io", Iops)] },
    PerformanceKey { name: "PgSQL_Session", unit: "Count", figures: &[("active_session", ActiveSessions), ("total_session", TotalSessions)] },
    PerformanceKey { name: "PolarDBConnections", unit: "Count", figures: &[("mean_active_session", ActiveSessions), ("mean_total_session", TotalSessions)] },
    // PostgreSQL counts transactions, not statements: its QPS is its TPS.
    PerformanceKey { name: "PolarDBQPSTPS", unit: "Count/s", figures: &[("mean_qps", QueriesPerSecond), ("mean_tps", TransactionsPerSecond)] },
];

const ENCODINGS: &[&str] = &[
    "UTF8", "SQL_ASCII", "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9",
    "LATIN10", "EUC_CN", "EUC_JP", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "ISO_8859_5", "ISO_8859_6", "ISO_8859_7",
    "ISO_8859_8", "KOI8R", "KOI8U", "WIN866", "WIN874", "WIN1250", "WIN1251", "WIN1252", "WIN1253", "WIN1254",
    "WIN1255", "WIN1256", "WIN1257", "WIN1258", "MULE_INTERNAL",
];

/// An encoding alone (`UTF8`, any case, `UTF-8` too) or `encoding,collate,ctype`.
fn parse_charset(value: &str) -> Result<CharsetSpec, String> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    let encoding = parts[0].to_ascii_uppercase().replace('-', "");
    let encoding = if encoding == "UTF8" || encoding == "UTF_8" { "UTF8".to_string() } else { encoding };
    if !ENCODINGS.contains(&encoding.as_str()) {
        return Err(format!("{:?} is not a PostgreSQL encoding; use e.g. UTF8, LATIN1, SQL_ASCII, or UTF8,C,C.UTF-8", parts[0]));
    }
    let locale_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    match parts.len() {
        1 => Ok(CharsetSpec { charset: encoding, collate: None, ctype: None }),
        3 if locale_ok(parts[1]) && locale_ok(parts[2]) => {
            Ok(CharsetSpec { charset: encoding, collate: Some(parts[1].to_string()), ctype: Some(parts[2].to_string()) })
        }
        3 => Err("the collate and ctype must be locale names such as C or en_US.utf8".into()),
        _ => Err("expected an encoding alone or encoding,collate,ctype".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_and_locales() {
        assert_eq!(parse_charset("utf8").unwrap().charset, "UTF8");
        assert_eq!(parse_charset("UTF-8").unwrap().charset, "UTF8");
        let full = parse_charset("UTF8,C,en_US.utf8").unwrap();
        assert_eq!((full.collate.as_deref(), full.ctype.as_deref()), (Some("C"), Some("en_US.utf8")));
        assert!(parse_charset("KLINGON").is_err());
        assert!(parse_charset("UTF8,C").is_err());
        assert!(parse_charset("UTF8,C;drop,C").is_err());
    }

    #[test]
    fn classes_are_found_by_code() {
        assert_eq!(CATALOGUE.class("pg.x4.large.2c").unwrap().family, Dedicated);
        assert!(CATALOGUE.class("mariadb.x4.large.2c").is_none());
    }

    #[test]
    fn reserved_names() {
        for name in ["postgres", "template0", "template1", "pg_catalog", "pg_anything", "openrds_admin", "rds_superuser", "information_schema"] {
            assert!(CATALOGUE.check_db_name(name).is_err(), "{name}");
        }
        for name in ["mysql", "sys", "performance_schema"] {
            CATALOGUE.check_db_name(name).unwrap();
        }
        for bad in ["pg_x", "openrds_admin", "rds_superuser", "postgres", "ors_stg_x1", &"a".repeat(64)] {
            assert!(CATALOGUE.check_account_name(bad).is_err(), "{bad}");
        }
        CATALOGUE.check_account_name(&"a".repeat(63)).unwrap();
    }
}
