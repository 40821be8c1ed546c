//! Identifier and secret generation.

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn lower_alnum(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n).map(|_| LOWER_ALNUM[rng.gen_range(0..LOWER_ALNUM.len())] as char).collect()
}

/// Instance ids in Alibaba's shapes: the engine's prefix (`pgm`, `rm`), a hyphen and 20
/// lowercase letters and digits.
pub fn instance_id(catalogue: &engine::Catalogue) -> String {
    format!("{}-{}", catalogue.id_prefix, lower_alnum(20))
}

/// Access key ids look like Alibaba's: `LTAI` + 20 alphanumerics.
pub fn access_key_id() -> String {
    format!("LTAI{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 20))
}

pub fn access_key_secret() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 30)
}

/// A 16-digit numeric id (account uid, RAM user id).
pub fn numeric_id() -> String {
    let mut rng = rand::thread_rng();
    let first: u8 = rng.gen_range(1..10);
    let rest: String = (0..15).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
    format!("{first}{rest}")
}

/// Alibaba's order ids are numbers (digit strings in the SDK models); a pay-as-you-go
/// instance here has no order, so each creation gets a fresh one of that shape.
pub fn order_id() -> String {
    rand::thread_rng().gen_range(100_000_000_000_000u64..1_000_000_000_000_000).to_string()
}

/// The tag an import attempt builds its staging databases under: the task and attempt,
/// and a random part. It is written to the task's row before any staging database
/// exists, and the cleanup drops only databases that carry it, so a database someone
/// names like staging (through SQL; the API refuses the prefix) is never taken for an
/// import's: its name cannot carry a tag nobody has seen.
pub fn staging_tag(import_id: i64, attempt: i64) -> String {
    format!("i{import_id}a{attempt}r{}", lower_alnum(6))
}
