//! The demo's PostgreSQL sample: every object kind a complete copy must carry, loaded by
//! the database's owner, and the copy checked with `pg_dump --schema-only` and row digests.

use anyhow::Context;
use crate::testing::PgConnect;
use engine::Login;

pub struct PostgresShowcase;

#[async_trait::async_trait]
impl engine::Showcase for PostgresShowcase {
    fn charset(&self) -> &'static str {
        "UTF8"
    }

    fn owner_privilege(&self) -> &'static str {
        "DBOwner"
    }

    /// The copy keeps its owner (a DBOwner grant would also take over what others own).
    fn copy_grant(&self) -> Option<&'static str> {
        None
    }

    async fn load(&self, owner: &Login, reader: &Login, db: &str) -> anyhow::Result<String> {
        let owner_session = owner.try_connect(db).await?;
        owner_session.batch_execute(&crate::testing::every_kind(db, &owner.user, &reader.user)).await.context("load the sample database")?;
        let reader_session = reader.try_connect(db).await?;
        let n: i64 = reader_session.query_one("SELECT count(*) FROM big", &[]).await?.get(0);
        let refused = reader_session.batch_execute("DELETE FROM big").await.is_err();
        anyhow::ensure!(n == 60000 && refused, "privileges do not hold: {} read {n} rows, its DELETE refused: {refused}", reader.user);
        Ok(format!(
            "schemas, enum/domain/composite types, identity, generated and array columns,\n   \
             partitioned tables, views, materialized views, functions, a procedure, a trigger, a rule, row-level security,\n   \
             extensions, sequences, large objects, comments, grants and database settings; awkward values (NaN, infinity,\n   \
             tabs, newlines, backslashes, unicode). {} reads {n} rows of `big` and its DELETE is refused",
            reader.user
        ))
    }

    async fn compare(&self, source: &Login, copy: &Login, source_db: &str, copy_db: &str) -> anyhow::Result<String> {
        let (source, copy) = (source.clone(), copy.clone());
        let source_schema = crate::testing::try_schema_dump(&source, source_db, source_db, copy_db)?;
        let copy_schema = crate::testing::try_schema_dump(&copy, copy_db, copy_db, copy_db)?;
        anyhow::ensure!(source_schema == copy_schema, "pg_dump --schema-only of the copy differs from the source's");
        let (source_data, copy_data) = (crate::testing::try_digests(&source, source_db).await?, crate::testing::try_digests(&copy, copy_db).await?);
        anyhow::ensure!(source_data == copy_data, "the copy's data differs from the source's");
        Ok(format!(
            "pg_dump --schema-only identical ({} lines, the name aside); {} relations, sequences and large objects\n   \
             identical by row count and md5 of every row",
            copy_schema.lines().count(),
            copy_data.len()
        ))
    }
}
