//! Signing requests as a client (the CLI, the Rust tests, the benchmarks).

use chrono::{DateTime, Utc};

/// A request ready to send: the query string to append after `/?`, the headers to set and
/// the body (empty for the forms built here).
#[derive(Debug, Clone)]
pub struct SignedCall {
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Signs a V3 (ACS3-HMAC-SHA256) POST call with business parameters in the query string,
/// as the official Python SDK does. `host` is the Host header value (`127.0.0.1:8080`).
#[allow(clippy::too_many_arguments)]
pub fn sign_v3(
    host: &str,
    action: &str,
    version: &str,
    params: &[(String, String)],
    access_key_id: &str,
    secret: &str,
    now: DateTime<Utc>,
    nonce: &str,
) -> SignedCall {
    let _ = (host, action, version, params, access_key_id, secret, now, nonce);
    todo!("wire::client::sign_v3")
}

/// Signs a V1 (HMAC-SHA1) call with every parameter in the query string, as pop-core does
/// for GET. `method` is `GET` or `POST`.
#[allow(clippy::too_many_arguments)]
pub fn sign_v1(
    method: &str,
    action: &str,
    version: &str,
    params: &[(String, String)],
    access_key_id: &str,
    secret: &str,
    now: DateTime<Utc>,
    nonce: &str,
) -> SignedCall {
    let _ = (method, action, version, params, access_key_id, secret, now, nonce);
    todo!("wire::client::sign_v1")
}
