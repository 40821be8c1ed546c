//! The PostgreSQL engine, everything about it in one crate: its catalogue (what the API
//! offers of it), its demo sample (`showcase`), its adapter (a cluster per instance: provision, supervise, databases,
//! accounts, access) and its import copier. The registry (`crates/registry`) lists it.

mod catalogue;
pub mod copier;
pub mod server;
mod showcase;
pub mod testing;

pub use catalogue::{CATALOGUE, KIND};
pub use showcase::PostgresShowcase;
pub use copier::PostgresCopier;
pub use server::{PostgresConfig, PostgresEngine, TENANT_ADMIN};
