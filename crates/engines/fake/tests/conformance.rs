//! The in-memory engine keeps the same contract as the real ones (`engine::conformance`),
//! so that what the in-process API tests show holds for them.

/// One engine for the whole file: its servers live in its memory, so an adapter "after a
/// restart" must be the same one to find them.
fn engine() -> std::sync::Arc<dyn engine::Engine> {
    static ENGINE: std::sync::OnceLock<std::sync::Arc<engine_fake::FakeEngine>> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| std::sync::Arc::new(engine_fake::FakeEngine::new(&engine_fake::TOY))).clone()
}

engine::conformance_suite!(engine);
