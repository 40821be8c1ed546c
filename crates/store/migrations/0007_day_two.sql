-- Day-two settings of an instance (ModifyDBInstanceDeletionProtection,
-- ModifyDBInstanceMaintainTime). Rows of earlier versions get the defaults new instances get.
ALTER TABLE instances ADD COLUMN deletion_protection INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN maintain_time TEXT NOT NULL DEFAULT '02:00Z-06:00Z';
