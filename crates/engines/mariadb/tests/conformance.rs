//! The engine contract (`engine::conformance`) against real MariaDB servers.

fn engine() -> std::sync::Arc<dyn engine::Engine> {
    let config = engine_mariadb::MariaDbConfig::detect().expect("MariaDB server binaries are required for these tests (install mariadb-server)");
    std::sync::Arc::new(engine_mariadb::MariaDbEngine::new(config))
}

engine::conformance_suite!(engine, with_processes);
