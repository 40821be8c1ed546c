//! The registry of engines: the one place that names them. An engine is a plugin crate
//! under `crates/engines/` (its adapter, catalogue and copier); adding one is that crate
//! plus a line in [`PLUGINS`]. Everything else (control plane, server, CLI) sees engines
//! only through the [`engine::Engine`] trait and their [`engine::Catalogue`]s.

use engine::{Catalogue, Engine, EngineError, Showcase};
use std::sync::Arc;

/// One engine: what it offers, and how to find it on this host.
pub struct Plugin {
    pub catalogue: &'static Catalogue,
    /// Finds the engine's binaries on this host (`Err` says what is missing).
    pub detect: fn() -> Result<Arc<dyn Engine>, EngineError>,
    /// What `openrds demo --engine <name>` loads and checks.
    pub showcase: &'static dyn Showcase,
}

/// Every engine openrds knows, in the order the API lists them.
pub static PLUGINS: &[Plugin] = &[
    Plugin {
        catalogue: &engine_postgres::CATALOGUE,
        detect: || Ok(Arc::new(engine_postgres::PostgresEngine::new(engine_postgres::PostgresConfig::detect()?))),
        showcase: &engine_postgres::PostgresShowcase,
    },
    Plugin {
        catalogue: &engine_mariadb::CATALOGUE,
        detect: || Ok(Arc::new(engine_mariadb::MariaDbEngine::new(engine_mariadb::MariaDbConfig::detect()?))),
        showcase: &engine_mariadb::MariaDbShowcase,
    },
];

/// Log targets of the engines' drivers that are noisy at `info` (server notices): shown
/// from `warn` up unless `RUST_LOG` says otherwise.
pub const QUIET_LOG_TARGETS: &[&str] = &["tokio_postgres", "mysql_async"];

/// Engines of the registry this host cannot run, each with why.
pub type Missing = Vec<(&'static Catalogue, EngineError)>;

/// The engines this host can run, and why each other one cannot run here.
pub fn detect() -> (Vec<Arc<dyn Engine>>, Missing) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for plugin in PLUGINS {
        match (plugin.detect)() {
            Ok(engine) => found.push(engine),
            Err(e) => missing.push((plugin.catalogue, e)),
        }
    }
    (found, missing)
}

/// The engine of the API's `Engine` value (any case), whether or not this host runs it.
pub fn find(name: &str) -> Option<&'static Plugin> {
    PLUGINS.iter().find(|p| p.catalogue.kind.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_found_by_name_in_any_case_and_prefixes_differ() {
        for plugin in PLUGINS {
            let name = plugin.catalogue.kind.as_str();
            assert!(std::ptr::eq(find(&name.to_lowercase()).unwrap(), plugin));
        }
        let mut prefixes: Vec<_> = PLUGINS.iter().map(|p| p.catalogue.id_prefix).collect();
        prefixes.sort();
        prefixes.dedup();
        assert_eq!(prefixes.len(), PLUGINS.len());
        assert!(find("SQLServer").is_none());
    }
}
