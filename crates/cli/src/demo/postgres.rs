//! The PostgreSQL part of the demo: the sample database loaded by its owner, and the
//! copy checked with pg_dump and row digests.

use super::Api;
use anyhow::Context;

async fn connect(addr: &(String, u16), user: &str, password: &str, db: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::Config::new()
        .host(&addr.0)
        .port(addr.1)
        .user(user)
        .password(password)
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connect to {}:{} as {user}", addr.0, addr.1))?;
    tokio::spawn(conn);
    Ok(client)
}

pub(super) async fn populate(api: &Api, a: &str) -> anyhow::Result<()> {
    api.call(
        "CreateDatabase",
        &[("DBInstanceId", a), ("DBName", "shop"), ("CharacterSetName", "UTF8"), ("AccountName", "app_owner"), ("AccountPrivilege", "DBOwner")],
    )
    .await?;
    api.call("GrantAccountPrivilege", &[("DBInstanceId", a), ("AccountName", "reporter"), ("DBName", "shop"), ("AccountPrivilege", "ReadOnly")]).await?;
    println!("2. database shop on {a} (owner app_owner, read-only reporter)");

    let addr = api.address(a).await?;
    let owner = connect(&addr, "app_owner", "Demo_pass1", "shop").await?;
    // Every object kind a complete copy must carry, created by the database's owner.
    owner.batch_execute(&testkit::every_kind("shop", "app_owner", "reporter")).await.context("load the sample database")?;
    let reporter = connect(&addr, "reporter", "Demo_pass2", "shop").await?;
    let n: i64 = reporter.query_one("SELECT count(*) FROM big", &[]).await?.get(0);
    let refused = reporter.batch_execute("DELETE FROM big").await.is_err();
    println!(
        "3. sample database loaded as app_owner: schemas, enum/domain/composite types, identity, generated and array columns,\n   \
         partitioned tables, views, materialized views, functions, a procedure, a trigger, a rule, row-level security,\n   \
         extensions, sequences, large objects, comments, grants and database settings; awkward values (NaN, infinity,\n   \
         tabs, newlines, backslashes, unicode). reporter reads {n} rows of `big` and its DELETE is refused: {refused}"
    );
    anyhow::ensure!(n == 60000 && refused, "privileges do not hold");
    Ok(())
}

/// Checked again without the mover's code: schema by pg_dump, data by digests.
pub(super) async fn check(api: &Api, a: &str, b: &str) -> anyhow::Result<()> {
    let login = |addr: (String, u16)| testkit::Login { host: addr.0, port: addr.1, user: "app_owner".into(), password: "Demo_pass1".into() };
    let (source, copy) = (login(api.address(a).await?), login(api.address(b).await?));
    let (source_schema, copy_schema) =
        (testkit::schema_dump(&source, "shop", "shop", "shop_copy"), testkit::schema_dump(&copy, "shop_copy", "shop_copy", "shop_copy"));
    anyhow::ensure!(source_schema == copy_schema, "pg_dump --schema-only of the copy differs from the source's");
    let (source_data, copy_data) = (testkit::digests(&source, "shop").await, testkit::digests(&copy, "shop_copy").await);
    anyhow::ensure!(source_data == copy_data, "the copy's data differs from the source's");
    println!(
        "6. checked independently: pg_dump --schema-only identical ({} lines, the name aside); {} relations, sequences and large objects\n   \
         identical by row count and md5 of every row",
        copy_schema.lines().count(),
        copy_data.len()
    );
    Ok(())
}
