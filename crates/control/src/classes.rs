//! Instance classes. Each engine's catalogue declares its own (code, family, size); the
//! storage range every class accepts is the service's. Lookups are by table, never by
//! parsing codes (reference/rds-api.md §6).

/// Storage range every class accepts, in GB, and its step.
pub const STORAGE_MIN_GB: i64 = 5;
pub const STORAGE_MAX_GB: i64 = 32000;
pub const STORAGE_STEP_GB: i64 = 5;

/// `DBInstanceStorage` within the range and on a step.
pub fn check_storage(storage_gb: i64) -> crate::Result<()> {
    if (STORAGE_MIN_GB..=STORAGE_MAX_GB).contains(&storage_gb) && storage_gb % STORAGE_STEP_GB == 0 {
        return Ok(());
    }
    Err(crate::ControlError::StorageInvalid(format!(
        "DBInstanceStorage {storage_gb} GB is not valid: it must be {STORAGE_MIN_GB} to {STORAGE_MAX_GB} GB in steps of {STORAGE_STEP_GB} GB."
    )))
}

/// The class `code` of `catalogue`, or `ClassNotFound` listing the classes it offers.
pub fn offered(catalogue: &'static engine::Catalogue, code: &str) -> crate::Result<&'static engine::InstanceClass> {
    catalogue.class(code).ok_or_else(|| {
        let offered: Vec<_> = catalogue.classes.iter().map(|c| c.code).collect();
        crate::ControlError::ClassNotFound(format!("DBInstanceClass {code} is not offered for {}; available: {}.", catalogue.kind, offered.join(", ")))
    })
}
