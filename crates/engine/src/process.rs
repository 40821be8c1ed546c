//! Child processes: running as the engine system user, relaying output into spans.
