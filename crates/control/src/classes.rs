//! Instance classes. Each engine's catalogue declares its own (code, family, size); the
//! storage range every class accepts is the service's. Lookups are by table, never by
//! parsing codes (reference/rds-api.md §6).

/// Storage range every class accepts, in GB, and its step.
pub const STORAGE_MIN_GB: i64 = 5;
pub const STORAGE_MAX_GB: i64 = 32000;
pub const STORAGE_STEP_GB: i64 = 5;
