//! Signature V3 (ACS3-HMAC-SHA256), shared by the verifier and the client.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub(crate) const ALGORITHM: &str = "ACS3-HMAC-SHA256";

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Query pairs percent-encoded, sorted by encoded name, `name=value` joined with `&`; an
/// empty value still gets its `=`.
pub(crate) fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    // The V1 and V3 rules for the query coincide; keeping one implementation keeps them so.
    crate::v1::canonical_query(params)
}

/// The signed headers as the canonical form wants them: lower case, sorted, no
/// duplicates, no empty names (a trailing `;` from a sloppy client).
pub(crate) fn normalize_signed_headers(list: &str) -> Vec<String> {
    let mut names: Vec<String> =
        list.split(';').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    names.sort();
    names.dedup();
    names
}

/// `name:value\n` for each signed header in `signed` (already normalised). A header sent
/// more than once contributes its trimmed values sorted and joined with `,`. Returns the
/// first signed header that the request does not carry.
pub(crate) fn canonical_headers(headers: &[(String, String)], signed: &[String]) -> Result<String, String> {
    let mut out = String::new();
    for name in signed {
        let mut values: Vec<&str> =
            headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).collect();
        if values.is_empty() {
            return Err(name.clone());
        }
        values.sort_unstable();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The CanonicalRequest; `canonical_headers` already ends with a newline, hence the blank
/// line before the signed header list.
pub(crate) fn canonical_request(
    method: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed: &[String],
    payload_hash: &str,
) -> String {
    format!("{method}\n/\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}", signed.join(";"))
}

pub(crate) fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Hex HMAC-SHA256 keyed with the bare secret (unlike V1, no `&`).
pub(crate) fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_vectors::EMPTY_SHA256;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn compute(query: &[(&str, &str)], headers: &[(String, String)], signed: &str) -> (String, String) {
        let signed = normalize_signed_headers(signed);
        let ch = canonical_headers(headers, &signed).unwrap();
        let cr = canonical_request("POST", &canonical_query(query.iter().copied()), &ch, &signed, EMPTY_SHA256);
        (sha256_hex(cr.as_bytes()), string_to_sign(&cr))
    }

    #[test]
    fn empty_body_hash() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[test]
    fn official_vector() {
        let headers = h(crate::test_vectors::OFFICIAL_V3_HEADERS);
        let (hash, sts) = compute(
            &[("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"), ("RegionId", "cn-shanghai")],
            &headers,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version",
        );
        assert_eq!(hash, "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
        assert_eq!(
            sign("YourAccessKeySecret", &sts),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn project_vector() {
        let query = [
            ("DBInstanceId", "rm-dst001"),
            ("SourceDBInstanceId", "rm-src001"),
            ("DBInfo", r#"{"DBNames":{"srcdb":"destdb"}}"#),
        ];
        assert_eq!(
            canonical_query(query.iter().copied()),
            "DBInfo=%7B%22DBNames%22%3A%7B%22srcdb%22%3A%22destdb%22%7D%7D&DBInstanceId=rm-dst001&SourceDBInstanceId=rm-src001"
        );
        let headers = h(&[
            ("accept", "application/json"),
            ("host", "127.0.0.1:8080"),
            ("x-acs-action", "ImportDatabaseBetweenInstances"),
            ("x-acs-content-sha256", EMPTY_SHA256),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"),
            ("x-acs-version", "2014-08-15"),
        ]);
        let (hash, sts) = compute(
            &query,
            &headers,
            "accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version",
        );
        assert_eq!(hash, "21a4706019379a890b0f3ea5f2371f286aba0180b12c82a7cbc17b3cfa4b185c");
        assert_eq!(sign("testsecret", &sts), "0798d7751141fffaa9940d25a08fcd002d99200911aa16ec43b7e09545336589");
    }

    #[test]
    fn repeated_headers_are_trimmed_sorted_and_joined() {
        let headers = h(&[("x-b", " 2 "), ("X-A", "z"), ("x-b", "1"), ("x-c", "unsigned")]);
        let signed = normalize_signed_headers("X-B;x-a;;x-a");
        assert_eq!(signed, ["x-a", "x-b"]);
        assert_eq!(canonical_headers(&headers, &signed).unwrap(), "x-a:z\nx-b:1,2\n");
    }

    #[test]
    fn missing_signed_header_is_reported() {
        let signed = normalize_signed_headers("host;x-acs-date");
        assert_eq!(canonical_headers(&h(&[("host", "h")]), &signed), Err("x-acs-date".to_string()));
    }
}
