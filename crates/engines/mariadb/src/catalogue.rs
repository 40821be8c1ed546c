//! What MariaDB offers through the API: its name, instance ids, classes, reserved names
//! and the character sets `CharacterSetName` may ask for.

use engine::performance::{Counter::*, Metric::*};
use engine::{Catalogue, CharsetSpec, ClassFamily::*, EngineKind, InstanceClass, NameRules, PerformanceKey};

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
    charsets: CHARSETS,
    performance_keys: PERFORMANCE_KEYS,
};

/// Alibaba's keys for MySQL and MariaDB (the same on both: "Performance parameters",
/// alibabacloud.com/help/doc-detail/26316), those with a counterpart in MariaDB's
/// `SHOW GLOBAL STATUS`, the instance's processes and its directory. The key names and
/// what each holds are documented; the names of the figures (`ValueFormat`) are
/// documented for MySQL_COMDML only and follow the same style elsewhere (unconfirmed).
/// Not served: MySQL_InnoDBBufferRatio, MySQL_InnoDBLogRequests, MySQL_InnoDBLogWrites,
/// MySQL_TempDiskTableCreates, MySQL_MyISAMKey*, MySQL_MBPS, slavestat and the
/// replication keys (no replicas here).
const PERFORMANCE_KEYS: &[PerformanceKey] = &[
    PerformanceKey { name: "MySQL_NetworkTraffic", unit: "KB/s", figures: &[("recv_k", ReceivedKBPerSecond), ("sent_k", SentKBPerSecond)] },
    PerformanceKey { name: "MySQL_QPSTPS", unit: "Count/s", figures: &[("QPS", QueriesPerSecond), ("TPS", TransactionsPerSecond)] },
    PerformanceKey { name: "MySQL_Sessions", unit: "Count", figures: &[("active_session", ActiveSessions), ("total_session", TotalSessions)] },
    PerformanceKey { name: "MySQL_ThreadStatus", unit: "Count", figures: &[("threads_running", ActiveSessions), ("threads_connected", TotalSessions)] },
    PerformanceKey { name: "MySQL_MemCpuUsage", unit: "%", figures: &[("cpuusage", CpuPercent), ("memusage", MemoryPercent)] },
    PerformanceKey { name: "MySQL_IOPS", unit: "Count/s", figures: &[("io", Iops)] },
    PerformanceKey {
        name: "MySQL_DetailedSpaceUsage",
        unit: "MB",
        // The instance's directory holds temporary and system files with the rest.
        figures: &[("ins_size", TotalMB), ("data_size", DataMB), ("log_size", OtherMB), ("tmp_size", Zero), ("other_size", Zero)],
    },
    PerformanceKey {
        name: "MySQL_COMDML",
        unit: "Count/s",
        figures: &[
            ("com_delete", Rate(ComDelete)),
            ("com_insert", Rate(ComInsert)),
            ("com_insert_select", Rate(ComInsertSelect)),
            ("com_replace", Rate(ComReplace)),
            ("com_replace_select", Rate(ComReplaceSelect)),
            ("com_select", Rate(ComSelect)),
            ("com_update", Rate(ComUpdate)),
        ],
    },
    PerformanceKey {
        name: "MySQL_RowDML",
        unit: "Count/s",
        figures: &[("inno_row_readed", Rate(RowsRead)), ("inno_row_update", Rate(RowsUpdated)), ("inno_row_delete", Rate(RowsDeleted)), ("inno_row_insert", Rate(RowsInserted))],
    },
];

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
