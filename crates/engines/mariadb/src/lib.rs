//! The MariaDB engine, everything about it in one crate: its catalogue (what the API offers
//! of it), its adapter (a server per instance: provision, supervise, databases, accounts,
//! access) and its import copier. The registry (`crates/registry`) lists it.

mod catalogue;
pub mod copier;
pub mod server;

pub use catalogue::{CATALOGUE, KIND};
pub use copier::MariaDbCopier;
pub use server::{MariaDbConfig, MariaDbEngine};
