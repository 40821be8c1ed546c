-- ModifyParameter's log (DescribeModifyParameterLog): one row per parameter changed. The
-- values themselves live where the engine reads them (a file in the instance's directory).
CREATE TABLE parameter_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    old_value    TEXT NOT NULL,
    new_value    TEXT NOT NULL,
    -- Applied (in effect when recorded) or Unapplied (waiting for a restart).
    status       TEXT NOT NULL CHECK (status IN ('Applied', 'Unapplied')),
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX parameter_changes_by_instance ON parameter_changes (instance_id, created_at);
