//! What the demo shows of an engine: a sample database holding every object kind an import
//! must carry, loaded by an account of the API, and a check of the copy that uses nothing
//! of the copier. Each engine brings its own; the demo itself names no engine.

use async_trait::async_trait;

/// Where a server is and who logs in: an account's login on an instance (the demo, the
/// engines' test helpers).
#[derive(Debug, Clone)]
pub struct Login {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

#[async_trait]
pub trait Showcase: Send + Sync {
    /// The `CharacterSetName` the sample database is created with.
    fn charset(&self) -> &'static str;

    /// The `AccountPrivilege` the loading account is granted on the sample database.
    fn owner_privilege(&self) -> &'static str;

    /// What the loading account must be granted on the copy before the copy can be read
    /// as it (where grants are per database name and the copy's name is new); `None`
    /// where the copy carries them.
    fn copy_grant(&self) -> Option<&'static str>;

    /// Loads the sample into `db` as `owner`, and shows that `reader` (granted ReadOnly)
    /// reads it and cannot write. Returns what was loaded, to print.
    async fn load(&self, owner: &Login, reader: &Login, db: &str) -> anyhow::Result<String>;

    /// Compares the copy `copy_db` with the source `source_db` (schema and every row),
    /// independently of the copier. Returns what was compared, to print.
    async fn compare(&self, source: &Login, copy: &Login, source_db: &str, copy_db: &str) -> anyhow::Result<String>;
}
