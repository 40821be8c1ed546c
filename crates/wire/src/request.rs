//! Reading a signed request: which scheme, which key, which action, and checking the
//! signature against a secret.

use crate::encode::form_decode;
use crate::error::WireError;
use crate::params::Params;
use crate::{v1, v3};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

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
    /// V3 only: kept because a client author debugging a mismatch needs it far more than
    /// the hash that the StringToSign carries.
    canonical_request: Option<String>,
}

/// The V3 headers whose values the server acts on. A client that sends one without
/// signing it would let anyone on the path change the action or replay the request
/// with a fresh date, so such a request is refused; every official client signs them.
const MUST_BE_SIGNED: [&str; 6] = [
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
];

/// Parses the request: merges query and form body (for `application/x-www-form-urlencoded`
/// bodies), picks the scheme (`Authorization: ACS3-...` → V3, a `Signature` parameter → V1,
/// neither → `IncompleteSignature`), extracts action, version, key id, nonce and timestamp,
/// and builds the string to sign. For V3, checks `x-acs-content-sha256` against the body.
pub fn parse(parts: &HttpParts<'_>) -> Result<SignedRequest, WireError> {
    if !matches!(parts.method, "GET" | "POST") {
        return Err(WireError::UnsupportedHttpMethod(parts.method.to_string()));
    }
    let query = form_decode(parts.raw_query);
    let form = if is_form(parts.headers) { form_decode(&String::from_utf8_lossy(parts.body)) } else { Vec::new() };
    // Body after query, so that the body wins a duplicate, as the SDKs' merge does.
    let params: Params = query.iter().cloned().chain(form).collect();

    match header(parts.headers, "authorization") {
        Some(auth) if auth.starts_with("ACS3-") => parse_v3(parts, auth, &query, params),
        _ if params.get("Signature").is_some() => parse_v1(parts.method, params),
        _ => Err(WireError::IncompleteSignature(
            "the request has neither an Authorization: ACS3-HMAC-SHA256 header nor a Signature parameter".into(),
        )),
    }
}

fn parse_v1(method: &str, mut params: Params) -> Result<SignedRequest, WireError> {
    // A client that forgets to percent-encode the base64 signature sends its `+` raw and
    // the form decoding turns it into a space; base64 has no spaces, so undoing that is safe.
    let claimed_signature = params.remove("Signature").unwrap_or_default().replace(' ', "+");
    let access_key_id = params
        .get("AccessKeyId")
        .ok_or_else(|| WireError::IncompleteSignature("the AccessKeyId parameter is missing".into()))?
        .to_string();
    match params.get("SignatureMethod") {
        None => {
            return Err(WireError::IncompleteSignature(format!(
                "the SignatureMethod parameter is missing; send {}",
                v1::SIGNATURE_METHOD
            )))
        }
        Some(m) if m.eq_ignore_ascii_case(v1::SIGNATURE_METHOD) => {}
        Some(m) => return Err(WireError::InvalidSignatureMethod(m.to_string())),
    }
    match params.get("SignatureVersion") {
        None => {
            return Err(WireError::IncompleteSignature(format!(
                "the SignatureVersion parameter is missing; send {}",
                v1::SIGNATURE_VERSION
            )))
        }
        Some(v) if v == v1::SIGNATURE_VERSION => {}
        Some(v) => return Err(WireError::InvalidSignatureMethod(format!("SignatureVersion {v}"))),
    }
    let action = params.get("Action").ok_or(WireError::MissingAction)?.to_string();
    let version = params.required("Version")?.to_string();
    let timestamp_text = params.get("Timestamp").ok_or(WireError::MissingTimestamp)?.to_string();
    let timestamp = parse_timestamp(&timestamp_text)?;
    let nonce = params.get("SignatureNonce").ok_or(WireError::MissingNonce)?.to_string();
    let security_token = params.get("SecurityToken").map(str::to_string);

    let canonical = v1::canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let string_to_sign = v1::string_to_sign(method, &canonical);
    Ok(SignedRequest {
        scheme: SignatureScheme::V1,
        action,
        version,
        params,
        access_key_id,
        nonce,
        timestamp,
        timestamp_text,
        security_token,
        string_to_sign,
        claimed_signature,
        canonical_request: None,
    })
}

/// The three fields of `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, WireError> {
    let (algorithm, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if algorithm != v3::ALGORITHM {
        return Err(WireError::InvalidSignatureMethod(algorithm.to_string()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let Some((key, val)) = field.split_once('=') else {
            if field.trim().is_empty() {
                continue;
            }
            return Err(WireError::IncompleteSignature(format!(
                "the Authorization header field {:?} is not name=value",
                field.trim()
            )));
        };
        let val = val.trim();
        match key.trim() {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            // Unknown fields are not covered by anything we check; ignoring them costs nothing.
            _ => {}
        }
    }
    let missing = |name: &str| {
        WireError::IncompleteSignature(format!(
            "the Authorization header has no {name}; expected {} Credential=<AccessKeyId>,SignedHeaders=<h1;h2>,Signature=<hex>",
            v3::ALGORITHM
        ))
    };
    Ok(Authorization {
        credential: credential.filter(|v| !v.is_empty()).ok_or_else(|| missing("Credential"))?,
        signed_headers: signed_headers.filter(|v| !v.is_empty()).ok_or_else(|| missing("SignedHeaders"))?,
        signature: signature.filter(|v| !v.is_empty()).ok_or_else(|| missing("Signature"))?,
    })
}

fn parse_v3(
    parts: &HttpParts<'_>,
    auth: &str,
    query: &[(String, String)],
    params: Params,
) -> Result<SignedRequest, WireError> {
    let auth = parse_authorization(auth)?;
    let signed = v3::normalize_signed_headers(auth.signed_headers);
    let headers = parts.headers;

    let action = header(headers, "x-acs-action")
        .filter(|v| !v.is_empty())
        .or_else(|| params.get("Action"))
        .ok_or(WireError::MissingAction)?
        .to_string();
    let version = match header(headers, "x-acs-version").filter(|v| !v.is_empty()) {
        Some(v) => v.to_string(),
        None => params.required("Version")?.to_string(),
    };
    let timestamp_text =
        header(headers, "x-acs-date").filter(|v| !v.is_empty()).ok_or(WireError::MissingTimestamp)?.to_string();
    let timestamp = parse_timestamp(&timestamp_text)?;
    let nonce =
        header(headers, "x-acs-signature-nonce").filter(|v| !v.is_empty()).ok_or(WireError::MissingNonce)?.to_string();
    let security_token = header(headers, "x-acs-security-token").filter(|v| !v.is_empty()).map(str::to_string);

    let body_hash = v3::sha256_hex(parts.body);
    let payload_hash = match header(headers, "x-acs-content-sha256") {
        Some(sent) if sent.eq_ignore_ascii_case(&body_hash) => sent.to_string(),
        Some(_) => return Err(WireError::ContentHashMismatch),
        None => body_hash,
    };

    for name in MUST_BE_SIGNED {
        if header(headers, name).is_some() && !signed.iter().any(|s| s == name) {
            return Err(WireError::IncompleteSignature(format!(
                "the {name} header is sent but not listed in SignedHeaders"
            )));
        }
    }
    let canonical_headers = v3::canonical_headers(headers, &signed).map_err(|name| {
        WireError::IncompleteSignature(format!("SignedHeaders lists {name} but the request has no such header"))
    })?;
    // Clients sign a map of the query, so a repeated name counts once, with its last value.
    let query: BTreeMap<&str, &str> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let canonical_query = v3::canonical_query(query);
    let canonical_request =
        v3::canonical_request(parts.method, &canonical_query, &canonical_headers, &signed, &payload_hash);
    let string_to_sign = v3::string_to_sign(&canonical_request);

    Ok(SignedRequest {
        scheme: SignatureScheme::V3,
        action,
        version,
        params,
        access_key_id: auth.credential.to_string(),
        nonce,
        timestamp,
        timestamp_text,
        security_token,
        string_to_sign,
        claimed_signature: auth.signature.to_ascii_lowercase(),
        canonical_request: Some(canonical_request),
    })
}

/// The first value of a header, trimmed; names compared without case so that a caller
/// who forgot to lower-case them is still served.
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

fn is_form(headers: &[(String, String)]) -> bool {
    header(headers, "content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// `yyyy-MM-ddTHH:mm:ssZ` in UTC, with or without fractional seconds.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, WireError> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.fZ")
        .map(|t| t.and_utc())
        .map_err(|_| WireError::InvalidTimestampFormat(text.to_string()))
}

impl SignedRequest {
    /// Checks the signature against `secret` in constant time.
    pub fn verify(&self, secret: &str) -> Result<(), WireError> {
        let expected = match self.scheme {
            SignatureScheme::V1 => v1::sign(secret, &self.string_to_sign),
            SignatureScheme::V3 => v3::sign(secret, &self.string_to_sign),
        };
        if bool::from(expected.as_bytes().ct_eq(self.claimed_signature.as_bytes())) {
            Ok(())
        } else {
            Err(WireError::SignatureDoesNotMatch { string_to_sign: self.string_to_sign.clone() })
        }
    }

    /// Checks the timestamp is within `window_minutes` of `now`.
    pub fn check_timestamp(&self, now: DateTime<Utc>, window_minutes: i64) -> Result<(), WireError> {
        if (now - self.timestamp).abs() > chrono::Duration::minutes(window_minutes) {
            return Err(WireError::TimestampExpired {
                timestamp: self.timestamp_text.clone(),
                now: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                window_minutes,
            });
        }
        Ok(())
    }

    /// The string the signature must be an HMAC of; it holds no secret.
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// The V3 CanonicalRequest (no secret in it), for debug logs when a signature does
    /// not match; `None` for V1, whose string to sign already shows everything.
    pub fn canonical_request(&self) -> Option<&str> {
        self.canonical_request.as_deref()
    }
}

#[cfg(test)]
mod tests;
