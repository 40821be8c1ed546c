//! Reading a signed request: which scheme, which key, which action, and checking the
//! signature against a secret.

use crate::error::WireError;
use crate::params::Params;
use chrono::{DateTime, Utc};

/// The raw pieces of an HTTP request the signature covers.
#[derive(Debug, Clone)]
pub struct HttpParts<'a> {
    /// `GET` or `POST` (upper case).
    pub method: &'a str,
    /// The query string as received, without `?`, not decoded.
    pub raw_query: &'a str,
    /// Header names in lower case, values as received. A repeated header appears once per
    /// occurrence.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// HMAC-SHA1 over the canonicalised parameters (`Signature` parameter).
    V1,
    /// ACS3-HMAC-SHA256 (`Authorization` header).
    V3,
}

/// A parsed request whose signature is not yet verified.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub scheme: SignatureScheme,
    pub action: String,
    pub version: String,
    /// Business parameters (and for V1 the common ones), `Signature` removed.
    pub params: Params,
    pub access_key_id: String,
    pub nonce: String,
    pub timestamp: DateTime<Utc>,
    /// The timestamp as sent, for messages.
    pub timestamp_text: String,
    pub security_token: Option<String>,
    /// The string the signature must be an HMAC of (V1: the StringToSign; V3: the
    /// StringToSign built from the CanonicalRequest).
    string_to_sign: String,
    /// The signature as sent (V1 base64, V3 hex).
    claimed_signature: String,
}

/// Parses the request: merges query and form body (for `application/x-www-form-urlencoded`
/// bodies), picks the scheme (`Authorization: ACS3-...` → V3, a `Signature` parameter → V1,
/// neither → `IncompleteSignature`), extracts action, version, key id, nonce and timestamp,
/// and builds the string to sign. For V3, checks `x-acs-content-sha256` against the body.
pub fn parse(parts: &HttpParts<'_>) -> Result<SignedRequest, WireError> {
    let _ = parts;
    todo!("wire::request::parse")
}

impl SignedRequest {
    /// Checks the signature against `secret` in constant time.
    pub fn verify(&self, secret: &str) -> Result<(), WireError> {
        let _ = (secret, &self.string_to_sign, &self.claimed_signature);
        todo!("wire::request::verify")
    }

    /// Checks the timestamp is within `window_minutes` of `now`.
    pub fn check_timestamp(&self, now: DateTime<Utc>, window_minutes: i64) -> Result<(), WireError> {
        let _ = (now, window_minutes);
        todo!("wire::request::check_timestamp")
    }
}
