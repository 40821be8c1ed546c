//! Signature V1 (HMAC-SHA1 over the canonicalised parameters), shared by the verifier and
//! the client so that both build the string to sign the same way.

use crate::encode::percent_encode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub(crate) const SIGNATURE_METHOD: &str = "HMAC-SHA1";
pub(crate) const SIGNATURE_VERSION: &str = "1.0";

/// `name=value` pairs, both percent-encoded, sorted by encoded name and joined with `&`.
/// Sorting after encoding is what the documentation specifies; for the ASCII names the
/// APIs use it is the same as sorting the raw names.
pub(crate) fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(String, String)> =
        params.into_iter().map(|(k, v)| (percent_encode(k), percent_encode(v))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// `METHOD&%2F&` + the canonical query encoded a second time.
pub(crate) fn string_to_sign(method: &str, canonical_query: &str) -> String {
    format!("{method}&{}&{}", percent_encode("/"), percent_encode(canonical_query))
}

/// Base64 HMAC-SHA1 keyed with the secret plus `&` (the empty token secret of the
/// original OAuth-like scheme, which every client still appends).
pub(crate) fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn official() -> Vec<(&'static str, &'static str)> {
        crate::test_vectors::OFFICIAL_V1.to_vec()
    }

    fn project() -> Vec<(&'static str, &'static str)> {
        crate::test_vectors::PROJECT_V1.to_vec()
    }

    #[test]
    fn official_vector() {
        let sts = string_to_sign("GET", &canonical_query(official()));
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    #[test]
    fn project_vector_post_and_get() {
        let canonical = canonical_query(project());
        let post = string_to_sign("POST", &canonical);
        assert_eq!(
            post,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DImportDatabaseBetweenInstances%26DBInfo%3D%257B%2522DBNames%2522%253A%257B%2522srcdb%2522%253A%2522destdb%2522%257D%257D%26DBInstanceId%3Drm-dst001%26Format%3DJSON%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D0123456789abcdef0123456789abcdef%26SignatureVersion%3D1.0%26SourceDBInstanceId%3Drm-src001%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2014-08-15"
        );
        assert_eq!(sign("testsecret", &post), "oqdlK1h6X90Yx3bvIbIF0w88EKY=");
        assert_eq!(sign("testsecret", &string_to_sign("GET", &canonical)), "1tXv2waQQG/sMvvgwEDIOPL8Jkw=");
    }

    #[test]
    fn canonical_query_encodes_space_as_percent_20_and_keeps_tilde() {
        assert_eq!(canonical_query([("b", "x y*~"), ("a", "")]), "a=&b=x%20y%2A~");
    }
}
