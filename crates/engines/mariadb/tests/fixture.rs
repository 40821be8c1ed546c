//! The MariaDB fixture loads, two loads compare equal under a rename, and the comparisons
//! see small changes. Needs the MariaDB on 127.0.0.1:3306 (root, empty password): it fails,
//! never skips, when that is unreachable.

use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use engine::Login;
use engine_mariadb::testing as mariadb;

fn login() -> Login {
    Login { host: "127.0.0.1".into(), port: 3306, user: "root".into(), password: String::new() }
}

const DEFINER: &str = "testkit_definer";

#[test]
fn statements_split_on_the_marker() {
    let s = mariadb::every_kind("'x'@'%'");
    assert!(s.len() > 50, "only {} statements", s.len());
    for s in &s {
        assert!(!s.contains("@definer@") && !s.ends_with(';') && !s.lines().any(|l| l.trim_end() == mariadb::MARKER), "{s}");
    }
    // A body keeps its inner semicolons: it is one statement.
    let f = s.iter().find(|s| s.contains("FUNCTION label")).unwrap();
    assert!(f.matches(';').count() > 3 && f.trim_end().ends_with("END"), "{f}");
    assert!(s.iter().filter(|s| s.contains("DEFINER='x'@'%'")).count() >= 4);
}

/// Lines of `a` and `b` around their first difference, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (al, bl): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let i = al.iter().zip(&bl).position(|(x, y)| x != y).unwrap_or(al.len().min(bl.len()));
    let lo = i.saturating_sub(5);
    format!("line {i}:\n--- a\n{}\n--- b\n{}", al[lo..(i + 3).min(al.len())].join("\n"), bl[lo..(i + 3).min(bl.len())].join("\n"))
}

fn changed(before: &BTreeMap<String, (u64, String)>, after: &BTreeMap<String, (u64, String)>) -> Vec<String> {
    before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect()
}

#[tokio::test]
async fn two_loads_compare_equal_and_changes_show() {
    let l = login();
    let pid = std::process::id();
    let (a, b) = (format!("testkit_ek_a_{pid}"), format!("testkit_ek_b_{pid}"));
    let mut admin = mariadb::connect(&l, None).await;
    for db in [&a, &b] {
        admin.query_drop(format!("DROP DATABASE IF EXISTS {}", mariadb::ident(db))).await.unwrap();
        // The server's default charset: the fixture itself sets the database's own.
        admin.query_drop(format!("CREATE DATABASE {}", mariadb::ident(db))).await.unwrap();
    }
    mariadb::load_every_kind(&l, &a, DEFINER).await;
    mariadb::load_every_kind(&l, &b, DEFINER).await;

    let (sa, sb) = (mariadb::schema_dump(&l, &a, &a, "renamed_x").await, mariadb::schema_dump(&l, &b, &b, "renamed_x").await);
    let (da, db0) = (mariadb::digests(&l, &a).await, mariadb::digests(&l, &b).await);
    let (ca, cb) = (mariadb::checksums(&l, &a).await, mariadb::checksums(&l, &b).await);

    // Changes in b, one at a time; each must show in its own table only.
    let mut c = mariadb::connect(&l, Some(&b)).await;
    c.query_drop("UPDATE bytes SET bl = X'01' WHERE id = 1").await.unwrap(); // one byte: 0x00 -> 0x01
    let d1 = mariadb::digests(&l, &b).await;
    c.query_drop("UPDATE legacy SET u = '' WHERE id = 3").await.unwrap(); // NULL -> empty
    let d2 = mariadb::digests(&l, &b).await;
    c.query_drop("DELETE FROM loose WHERE a = 1 LIMIT 1").await.unwrap(); // three duplicates -> two
    c.query_drop("INSERT INTO loose VALUES (2, NULL, NULL)").await.unwrap(); // keeps the count
    let d3 = mariadb::digests(&l, &b).await;
    c.query_drop("UPDATE gen SET a = 3 WHERE id = 1").await.unwrap(); // also changes VIRTUAL prod
    let d4 = mariadb::digests(&l, &b).await;
    c.query_drop("UPDATE kinds SET ts6 = '2038-01-19 03:14:07.999998' WHERE id = 2").await.unwrap(); // one microsecond
    let d5 = mariadb::digests(&l, &b).await;
    c.query_drop("UPDATE kinds SET f = 0.1000001 WHERE id = 3").await.unwrap(); // a FLOAT's last bits
    let d6 = mariadb::digests(&l, &b).await;
    c.disconnect().await.unwrap();

    // The objects work where they were loaded (the function runs under its recorded
    // PIPES_AS_CONCAT; the definer's grant lets its trigger fire).
    let mut c = mariadb::connect(&l, Some(&a)).await;
    let label: Option<String> = c.query_first("SELECT label FROM busy_customers WHERE customer_id = 2").await.unwrap();
    c.query_drop("INSERT INTO order_lines (order_id, line_no, sku, qty, price) VALUES (1, 999, 'sku', 1, 1)").await.unwrap();
    let stamped: Option<(String, String)> = c.query_first("SELECT note, sku FROM order_lines WHERE line_no = 999").await.unwrap();
    c.disconnect().await.unwrap();

    for db in [&a, &b] {
        admin.query_drop(format!("DROP DATABASE {}", mariadb::ident(db))).await.unwrap();
        let revoke = format!("REVOKE ALL PRIVILEGES ON {}.* FROM {}", mariadb::grant_ident(db), mariadb::account(DEFINER));
        admin.query_drop(revoke).await.unwrap();
    }
    admin.disconnect().await.unwrap();

    assert!(sa == sb, "schema dumps differ, {}", first_difference(&sa, &sb));
    assert!(!sa.contains(&a), "the dump still names {a}");
    for want in [
        "CREATE DATABASE `renamed_x`",
        "COLLATE utf8mb4_unicode_520_ci */ COMMENT 'every kind;",
        "-- TABLE big\n",
        "AUTO_INCREMENT=1000000",
        "PARTITION BY RANGE",
        "SPATIAL KEY `pt`",
        "FULLTEXT KEY `ft_title_body`",
        "-- SEQUENCE invoice_no\n",
        "-- VIEW busy_customers\n",
        "WITH CASCADED CHECK OPTION",
        "SQL SECURITY INVOKER VIEW `invoker_lines`",
        "-- FUNCTION label\n",
        "sql_mode: PIPES_AS_CONCAT,",
        "-- PROCEDURE add_order\n",
        "order: BEFORE INSERT ON order_lines #2",
        "-- TRIGGER orders_audit\n",
        "-- EVENT purge_audit\n",
        "DISABLE DO BEGIN",
        "time_zone: +00:00",
        &format!("DEFINER=`{DEFINER}`@`%`"),
    ] {
        assert!(sa.contains(want), "the dump lacks {want:?}:\n{sa}");
    }
    assert!(!sa.contains("Created:"), "per-load trigger times must be removed");

    assert_eq!(da, db0, "digests of two loads differ in {:?}", changed(&da, &db0));
    assert_eq!(da.len(), 19, "tables with rows: {:?}", da.keys().collect::<Vec<_>>());
    for (t, (n, d)) in &da {
        assert!(!d.is_empty(), "{t}: empty digest");
        assert_eq!(*n == 0, t == "empty_one", "{t}: {n} rows");
    }
    assert_eq!(da["big"].0, 20000);
    assert_eq!(da["loose"].0, 8);
    assert_eq!(da["invoice_no"].0, 1);
    assert_eq!(ca, cb, "CHECKSUM TABLE of two loads differ");
    assert_eq!(ca.len(), 18);

    assert_eq!(changed(&db0, &d1), ["bytes"]);
    assert_eq!(changed(&d1, &d2), ["legacy"]);
    assert_eq!(changed(&d2, &d3), ["loose"]);
    assert_eq!(d3["loose"].0, d2["loose"].0, "same count, different multiset");
    assert_eq!(changed(&d3, &d4), ["gen"]);
    assert_eq!(changed(&d4, &d5), ["kinds"]);
    assert_eq!(changed(&d5, &d6), ["kinds"]);

    assert_eq!(label.as_deref(), Some("id 2: \"\"; it's ok"));
    assert_eq!(stamped, Some(("stamped; by 'trigger'".to_string(), "SKU".to_string())));
}
