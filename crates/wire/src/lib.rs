//! The Alibaba Cloud RPC wire format, pure (no I/O, no clock reads): parameter decoding,
//! signatures V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) for both signing and verifying,
//! and the error envelope. Shared by the server, the CLI client and the tests.
//!
//! Facts and test vectors: `shared/reference/rds-api.md` §1 and §2.

mod action;
pub mod client;
pub mod encode;
pub mod envelope;
pub mod error;
pub mod parameters;
pub mod params;
pub mod request;
#[cfg(test)]
mod test_vectors;
mod v1;
mod v3;

pub use action::{Action, Api};
pub use envelope::{ApiError, ErrorEnvelope, new_request_id};
pub use error::WireError;
pub use params::Params;
pub use request::{HttpParts, SignatureScheme, SignedRequest};

/// The RDS API version this server speaks.
pub const RDS_VERSION: &str = "2014-08-15";
/// The RAM API version served on the same endpoint.
pub const RAM_VERSION: &str = "2015-05-01";
