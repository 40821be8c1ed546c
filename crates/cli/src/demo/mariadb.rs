//! The MariaDB part of the demo: the sample database loaded by an account granted
//! ReadWrite on it, and the copy checked with `SHOW CREATE` of every object and row
//! digests computed in SQL.

use super::Api;
use anyhow::Context;
use mysql_async::prelude::Queryable;

fn login(addr: (String, u16)) -> testkit::Login {
    testkit::Login { host: addr.0, port: addr.1, user: "app_owner".into(), password: "Demo_pass1".into() }
}

pub(super) async fn populate(api: &Api, a: &str) -> anyhow::Result<()> {
    api.call(
        "CreateDatabase",
        &[("DBInstanceId", a), ("DBName", "shop"), ("CharacterSetName", "utf8mb4"), ("AccountName", "app_owner"), ("AccountPrivilege", "ReadWrite")],
    )
    .await?;
    api.call("GrantAccountPrivilege", &[("DBInstanceId", a), ("AccountName", "reporter"), ("DBName", "shop"), ("AccountPrivilege", "ReadOnly")]).await?;
    println!("2. database shop (utf8mb4) on {a} (app_owner read-write, reporter read-only)");

    let addr = api.address(a).await?;
    let mut owner = testkit::mariadb::connect(&login(addr.clone()), Some("shop")).await;
    // Every object kind a complete copy must carry, made by app_owner, who is also their definer.
    for statement in testkit::mariadb::every_kind("`app_owner`@`%`") {
        owner.query_drop(&statement).await.with_context(|| format!("load the sample database: {}", statement.lines().next().unwrap_or("")))?;
    }
    let reporter_login = testkit::Login { user: "reporter".into(), password: "Demo_pass2".into(), ..login(addr) };
    let mut reporter = testkit::mariadb::connect(&reporter_login, Some("shop")).await;
    let n: Option<u64> = reporter.query_first("SELECT COUNT(*) FROM big").await?;
    let refused = reporter.query_drop("DELETE FROM big").await.is_err();
    println!(
        "3. sample database loaded as app_owner: tables in utf8mb4, latin1 and gbk, generated, spatial, JSON, ENUM/SET and BIT columns,\n   \
         DECIMAL(65,30), zero dates, a table without a key, foreign keys, CHECK constraints, partitions, views, a procedure, a function,\n   \
         triggers and events; awkward values (NULLs, emoji, tabs, newlines, backslashes, binary bytes). reporter reads {} rows of `big`\n   \
         and its DELETE is refused: {refused}",
        n.unwrap_or(0)
    );
    anyhow::ensure!(n.unwrap_or(0) > 0 && refused, "privileges do not hold");
    Ok(())
}

/// Checked again without the mover's code: `SHOW CREATE` of every object (the database
/// name aside) and per-table row digests.
pub(super) async fn check(api: &Api, a: &str, b: &str) -> anyhow::Result<()> {
    // Grants are per database name: the copy is app_owner's once it is granted.
    api.call("GrantAccountPrivilege", &[("DBInstanceId", b), ("AccountName", "app_owner"), ("DBName", "shop_copy"), ("AccountPrivilege", "ReadWrite")]).await?;
    let (source, copy) = (login(api.address(a).await?), login(api.address(b).await?));
    let source_schema = testkit::mariadb::schema_dump(&source, "shop", "shop", "DB").await;
    let copy_schema = testkit::mariadb::schema_dump(&copy, "shop_copy", "shop_copy", "DB").await;
    anyhow::ensure!(source_schema == copy_schema, "SHOW CREATE of the copy's objects differs from the source's");
    let (source_data, copy_data) = (testkit::mariadb::digests(&source, "shop").await, testkit::mariadb::digests(&copy, "shop_copy").await);
    anyhow::ensure!(source_data == copy_data, "the copy's data differs from the source's");
    println!(
        "6. checked independently: SHOW CREATE of every table, view, routine, trigger and event identical ({} lines, the name aside);\n   \
         {} tables identical by row count and a digest of every row",
        copy_schema.lines().count(),
        copy_data.len()
    );
    Ok(())
}
