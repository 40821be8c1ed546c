//! Signing requests as a client (the CLI, the Rust tests, the benchmarks).

use crate::encode::percent_encode;
use crate::{v1, v3};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A request ready to send: the query string to append after `/?`, the headers to set and
/// the body (empty for the forms built here).
///
/// Header names are lower case (`authorization` included), so that the headers can be
/// fed straight back into [`crate::HttpParts`] in tests.
#[derive(Debug, Clone)]
pub struct SignedCall {
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// One call to sign: what is asked, with which credentials, when, under which nonce.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub action: &'a str,
    pub version: &'a str,
    pub params: &'a [(String, String)],
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub now: DateTime<Utc>,
    pub nonce: &'a str,
}

impl Call<'_> {
    /// Signs a V3 (ACS3-HMAC-SHA256) POST call with business parameters in the query
    /// string, as the official Python SDK does. `host` is the Host header value
    /// (`127.0.0.1:8080`). Every header it sends is signed. A parameter name given twice
    /// keeps its last value.
    pub fn sign_v3(&self, host: &str) -> SignedCall {
        sign_v3(host, self)
    }

    /// Signs a V1 (HMAC-SHA1) call with every parameter in the query string, as pop-core
    /// does for GET. `method` is `GET` or `POST`.
    ///
    /// `Format=JSON` is a default that `params` may override (to test other formats); the
    /// signing parameters (`Action`, `Version`, `AccessKeyId`, `SignatureMethod`,
    /// `SignatureVersion`, `SignatureNonce`, `Timestamp`) always come from the call.
    pub fn sign_v1(&self, method: &str) -> SignedCall {
        sign_v1(method, self)
    }
}

fn sign_v3(host: &str, call: &Call<'_>) -> SignedCall {
    let Call { action, version, params, access_key_id, secret, now, nonce } = *call;
    // The server signs a map of the query, so duplicates must collapse here the same way.
    let params: BTreeMap<&str, &str> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let query = v3::canonical_query(params);
    let body = Vec::new();
    let payload_hash = v3::sha256_hex(&body);
    let mut headers: Vec<(String, String)> = [
        ("accept", "application/json"),
        ("host", host),
        ("x-acs-action", action),
        ("x-acs-content-sha256", &payload_hash),
        ("x-acs-date", &now.format(TIMESTAMP_FORMAT).to_string()),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-version", version),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let canonical_headers = v3::canonical_headers(&headers, &signed).expect("every signed header is one we just set");
    let canonical_request = v3::canonical_request("POST", &query, &canonical_headers, &signed, &payload_hash);
    let signature = v3::sign(secret, &v3::string_to_sign(&canonical_request));
    headers.push((
        "authorization".into(),
        format!(
            "{} Credential={access_key_id},SignedHeaders={},Signature={signature}",
            v3::ALGORITHM,
            signed.join(";")
        ),
    ));
    SignedCall { query, headers, body }
}

fn sign_v1(method: &str, call: &Call<'_>) -> SignedCall {
    let Call { action, version, params, access_key_id, secret, now, nonce } = *call;
    let timestamp = now.format(TIMESTAMP_FORMAT).to_string();
    let mut all: BTreeMap<&str, &str> = BTreeMap::from([("Format", "JSON")]);
    all.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    all.extend([
        ("Action", action),
        ("Version", version),
        ("AccessKeyId", access_key_id),
        ("SignatureMethod", v1::SIGNATURE_METHOD),
        ("SignatureVersion", v1::SIGNATURE_VERSION),
        ("SignatureNonce", nonce),
        ("Timestamp", timestamp.as_str()),
    ]);
    // The canonical query is also a valid URL query string: encoded, `&`-joined.
    let canonical = v1::canonical_query(all);
    let signature = v1::sign(secret, &v1::string_to_sign(&method.to_ascii_uppercase(), &canonical));
    SignedCall {
        query: format!("{canonical}&Signature={}", percent_encode(&signature)),
        headers: vec![("accept".into(), "application/json".into())],
        body: Vec::new(),
    }
}
