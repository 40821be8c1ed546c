-- Backup sets and the jobs that make them (CreateBackup, the automatic schedule). One row
-- is both: its id is the BackupJobId and, once the set exists, the BackupId. The row comes
-- before the work, so a restart finds and finishes (or fails) what was interrupted. The
-- instance's engine, version, class and storage are copied in: a backup outlives its
-- instance and a clone made from it needs them.
CREATE TABLE backups (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_uid     TEXT NOT NULL REFERENCES accounts (uid),
    instance_id     TEXT NOT NULL,
    region_id       TEXT NOT NULL,
    engine          TEXT NOT NULL,
    engine_version  TEXT NOT NULL,
    class_code      TEXT NOT NULL,
    storage_gb      INTEGER NOT NULL,
    mode            TEXT NOT NULL CHECK (mode IN ('Automated', 'Manual')),
    status          TEXT NOT NULL CHECK (status IN ('Pending', 'Running', 'Success', 'Failed')),
    attempts        INTEGER NOT NULL,
    error           TEXT NOT NULL,
    -- Where the backup's files are (the engine's backup layout).
    location        TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    -- Progress of a running job: bytes written so far, of about this many.
    bytes_done      INTEGER NOT NULL,
    bytes_expected  INTEGER NOT NULL,
    checksum        TEXT NOT NULL,
    consistent_at   TEXT,
    log_start       TEXT NOT NULL,
    log_end         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX backups_by_instance ON backups (instance_id, created_at);
-- At most one job per instance runs: begin_backup checks it in the same transaction.
CREATE INDEX backups_unfinished ON backups (status) WHERE status IN ('Pending', 'Running');

-- An instance made from a backup (CloneDBInstance) says which, so a creation interrupted
-- by a restart is finished from the same backup, not as an empty instance.
ALTER TABLE instances ADD COLUMN restored_from INTEGER;
-- ... and, for a point-in-time clone, the moment its log is replayed to.
ALTER TABLE instances ADD COLUMN restored_until TEXT;
