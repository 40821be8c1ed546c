-- The backup policy of an instance (ModifyBackupPolicy); an instance without a row has the
-- default policy. Kept after the instance is deleted: it still governs how long the
-- instance's backup sets and logs are retained.
CREATE TABLE backup_policies (
    instance_id         TEXT PRIMARY KEY,
    account_uid         TEXT NOT NULL REFERENCES accounts (uid),
    -- HH:mmZ-HH:mmZ (UTC): the window in which automatic backups start.
    preferred_time      TEXT NOT NULL,
    -- Comma-separated weekdays (Monday..Sunday) on which they run.
    preferred_period    TEXT NOT NULL,
    retention_days      INTEGER NOT NULL,
    log_backup          INTEGER NOT NULL CHECK (log_backup IN (0, 1)),
    log_retention_days  INTEGER NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;
