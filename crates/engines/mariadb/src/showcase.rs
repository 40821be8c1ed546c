//! The demo's MariaDB sample: every object kind a complete copy must carry, loaded by an
//! account granted ReadWrite (its definer too), and the copy checked with `SHOW CREATE` of
//! every object and row digests computed in SQL.

use anyhow::Context;
use engine::Login;
use mysql_async::prelude::Queryable;

pub struct MariaDbShowcase;

#[async_trait::async_trait]
impl engine::Showcase for MariaDbShowcase {
    fn charset(&self) -> &'static str {
        "utf8mb4"
    }

    fn owner_privilege(&self) -> &'static str {
        "ReadWrite"
    }

    /// Grants are per database name.
    fn copy_grant(&self) -> Option<&'static str> {
        Some("ReadWrite")
    }

    async fn load(&self, owner: &Login, reader: &Login, db: &str) -> anyhow::Result<String> {
        let mut owner_session = crate::testing::try_connect(owner, Some(db)).await?;
        let definer = format!("`{}`@`%`", owner.user);
        for statement in crate::testing::every_kind(&definer) {
            owner_session
                .query_drop(&statement)
                .await
                .with_context(|| format!("load the sample database: {}", statement.lines().next().unwrap_or("")))?;
        }
        let mut reader_session = crate::testing::try_connect(reader, Some(db)).await?;
        let n: Option<u64> = reader_session.query_first("SELECT COUNT(*) FROM big").await?;
        let refused = reader_session.query_drop("DELETE FROM big").await.is_err();
        let n = n.unwrap_or(0);
        anyhow::ensure!(n > 0 && refused, "privileges do not hold: {} read {n} rows, its DELETE refused: {refused}", reader.user);
        Ok(format!(
            "tables in utf8mb4, latin1 and gbk, generated, spatial, JSON, ENUM/SET and BIT columns,\n   \
             DECIMAL(65,30), zero dates, a table without a key, foreign keys, CHECK constraints, partitions, views, a procedure, a function,\n   \
             triggers and events; awkward values (NULLs, emoji, tabs, newlines, backslashes, binary bytes). {} reads {n} rows of `big`\n   \
             and its DELETE is refused",
            reader.user
        ))
    }

    async fn compare(&self, source: &Login, copy: &Login, source_db: &str, copy_db: &str) -> anyhow::Result<String> {
        let (source, copy) = (source.clone(), copy.clone());
        let source_schema = crate::testing::try_schema_dump(&source, source_db, source_db, "DB").await?;
        let copy_schema = crate::testing::try_schema_dump(&copy, copy_db, copy_db, "DB").await?;
        anyhow::ensure!(source_schema == copy_schema, "SHOW CREATE of the copy's objects differs from the source's");
        let (source_data, copy_data) =
            (crate::testing::try_digests(&source, source_db).await?, crate::testing::try_digests(&copy, copy_db).await?);
        anyhow::ensure!(source_data == copy_data, "the copy's data differs from the source's");
        Ok(format!(
            "SHOW CREATE of every table, view, routine, trigger and event identical ({} lines, the name aside);\n   \
             {} tables identical by row count and a digest of every row",
            copy_schema.lines().count(),
            copy_data.len()
        ))
    }
}
