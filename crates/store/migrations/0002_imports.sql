-- Import tasks (ImportDatabaseBetweenInstances). A task is a row before its work starts:
-- the row, not the running code, says what must be finished or undone after a crash.
-- ImportId is the rowid; AUTOINCREMENT so an id is never handed out twice.
CREATE TABLE import_tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_uid   TEXT NOT NULL REFERENCES accounts (uid),
    source_id     TEXT NOT NULL,
    dest_id       TEXT NOT NULL,
    engine        TEXT NOT NULL,
    -- JSON array of [source, destination] name pairs, in the caller's order.
    db_names      TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('Pending', 'Running', 'Success', 'Failed', 'Canceling', 'Canceled')),
    phase         TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    error         TEXT NOT NULL,
    -- Latest progress snapshot and the final report, JSON; empty until there is one.
    progress      TEXT NOT NULL,
    result        TEXT NOT NULL,
    staging_tag   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX import_tasks_by_source ON import_tasks (source_id, created_at);
CREATE INDEX import_tasks_by_dest ON import_tasks (dest_id, created_at);
CREATE INDEX import_tasks_unfinished ON import_tasks (status) WHERE status IN ('Pending', 'Running', 'Canceling');
