-- RecoveryDBInstance: an instance made to restore databases from a backup says what for.
-- `{"Staging":{"target":"<id>"}}` marks a private server from which databases are copied
-- into an existing instance (no caller sees it; it is deleted once the copy ends);
-- `{"KeepOnly":{"databases":[...]}}` a new instance that keeps only those databases.
-- NULL for every other instance.
ALTER TABLE instances ADD COLUMN recovery TEXT;
