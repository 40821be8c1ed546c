//! What a finished copy reports: per database, every table with its verification, the
//! sequences and large objects, and the roles that had to be created. Serialised as is
//! into the task result (PascalCase, like the rest of the RDS API).

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CopyReport {
    pub databases: Vec<DatabaseReport>,
    /// Roles that owned or were granted on copied objects and were missing on the
    /// destination; created there without a login or password.
    pub roles_created: Vec<String>,
    pub elapsed_ms: u64,
    pub rows: u64,
    /// Bytes of COPY stream moved.
    pub bytes: u64,
    /// How tables were verified: `stream` or `full` (see [`crate::Verification`]).
    pub verification: String,
    /// How long writes on the source were blocked to take the snapshot, by engines whose
    /// snapshot needs a brief global read lock; absent where copies never block them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_write_block_ms: Option<u64>,
    /// Accounts that hold privileges on a source database and that the
    /// destination could not be given; their privileges were not carried over.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts_missing: Vec<String>,
    /// Accounts (and roles) that hold privileges on a source database and were
    /// missing on the destination: made there locked, without a password, holding the
    /// privileges; CreateAccount or ResetAccountPassword gives them a login.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts_created: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseReport {
    /// The database's name on the source instance, and the name it was published under.
    pub source: String,
    pub destination: String,
    /// The name it was built under before publication.
    pub staging: String,
    /// An existing, empty destination database was replaced.
    pub replaced_existing: bool,
    /// Each table and sequence with what was copied and how it was verified.
    pub tables: Vec<TableReport>,
    pub sequences: Vec<SequenceReport>,
    pub large_objects: LargeObjectReport,
    /// Indexes and key constraints built as soon as their table was loaded.
    pub indexes_built_early: usize,
    /// Database-level settings applied under the destination name (`name=value`, with
    /// `role:` in front for per-role settings).
    pub settings_applied: Vec<String>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableReport {
    pub schema: String,
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    /// Ranges it was copied in (1 when not split).
    pub parts: u64,
    /// `binary` or `text` COPY.
    pub format: String,
    /// `<rows>:<digest>` of the rows read in the source snapshot.
    pub source_checksum: String,
    /// What the destination showed: the same over the rows read back from it, or (where
    /// only the rows are counted there) `<rows>`.
    pub destination_checksum: String,
    pub verified: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SequenceReport {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
    pub verified: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LargeObjectReport {
    pub count: u64,
    pub bytes: u64,
    pub source_checksum: String,
    pub destination_checksum: String,
    pub verified: bool,
}

/// What a copy would move, read from the source without copying anything (for
/// prechecks: sizes, roles the destination will need).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CopyPlan {
    pub databases: Vec<DatabasePlan>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DatabasePlan {
    pub name: String,
    /// What the copy will roughly occupy on the destination, as the source measures it.
    pub size_bytes: u64,
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    /// Tables with data (leaf partitions, not their parents).
    pub tables: usize,
    /// Heap bytes of those tables.
    pub table_bytes: u64,
    /// Planner estimate.
    pub rows_estimate: u64,
    pub indexes: usize,
    pub sequences: usize,
    pub large_objects: u64,
    /// Roles owning, granted on, or configured in the database.
    pub roles: Vec<String>,
}
