//! The engine contract (`engine::conformance`) against real PostgreSQL servers.

fn engine() -> std::sync::Arc<dyn engine::Engine> {
    let config = engine_postgres::PostgresConfig::detect().expect("PostgreSQL server binaries are required for these tests (install postgresql)");
    std::sync::Arc::new(engine_postgres::PostgresEngine::new(config))
}

engine::conformance_suite!(engine, with_processes);
