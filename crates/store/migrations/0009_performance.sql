-- DescribeDBInstancePerformance: the counters of each running instance, sampled by the
-- control plane every minute (by default) and kept for a retention (7 days by default).
-- Counters are cumulative as the engine reports them; rates are computed between
-- consecutive samples when asked. Gauges (memory, sessions, disk) are the value then.
CREATE TABLE performance_samples (
    instance_id         TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    sampled_at          TEXT NOT NULL,
    cpu_usec            INTEGER NOT NULL,
    memory_bytes        INTEGER NOT NULL,
    total_sessions      INTEGER NOT NULL,
    active_sessions     INTEGER NOT NULL,
    queries             INTEGER NOT NULL,
    transactions        INTEGER NOT NULL,
    io_reads            INTEGER NOT NULL,
    io_writes           INTEGER NOT NULL,
    bytes_received      INTEGER NOT NULL,
    bytes_sent          INTEGER NOT NULL,
    rows_read           INTEGER NOT NULL,
    rows_inserted       INTEGER NOT NULL,
    rows_updated        INTEGER NOT NULL,
    rows_deleted        INTEGER NOT NULL,
    com_select          INTEGER NOT NULL,
    com_insert          INTEGER NOT NULL,
    com_insert_select   INTEGER NOT NULL,
    com_update          INTEGER NOT NULL,
    com_delete          INTEGER NOT NULL,
    com_replace         INTEGER NOT NULL,
    com_replace_select  INTEGER NOT NULL,
    data_bytes          INTEGER NOT NULL,
    other_bytes         INTEGER NOT NULL,
    PRIMARY KEY (instance_id, sampled_at)
) STRICT;
-- Retention deletes by time across instances.
CREATE INDEX performance_samples_by_time ON performance_samples (sampled_at);
