//! The MariaDB engine, everything about it in one crate: its catalogue (what the API offers
//! of it), its demo sample (`showcase`), its adapter (a server per instance: provision, supervise, databases, accounts,
//! access) and its import copier. The registry (`crates/registry`) lists it.

mod catalogue;
pub mod copier;
pub mod server;
mod showcase;
pub mod testing;

pub use catalogue::{CATALOGUE, KIND};
pub use showcase::MariaDbShowcase;
pub use copier::MariaDbCopier;
pub use server::{MariaDbConfig, MariaDbEngine};
