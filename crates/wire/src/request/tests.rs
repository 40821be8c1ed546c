use super::*;
use crate::client::Call;
use crate::encode::percent_encode;
use chrono::TimeZone;

use crate::test_vectors::{EMPTY_SHA256, OFFICIAL_V3_HEADERS};
const DBINFO: &str = crate::test_vectors::PROJECT_DBINFO;
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn query_of(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

fn run(method: &str, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<SignedRequest, WireError> {
    parse(&HttpParts { method, raw_query: query, headers, body })
}

fn at(s: &str) -> DateTime<Utc> {
    parse_timestamp(s).unwrap()
}

// ---- V1 ------------------------------------------------------------------------------

fn v1_official_params() -> Vec<(&'static str, &'static str)> {
    crate::test_vectors::OFFICIAL_V1.to_vec()
}

fn v1_project_params() -> Vec<(&'static str, &'static str)> {
    crate::test_vectors::PROJECT_V1.to_vec()
}

fn with_signature(
    mut params: Vec<(&'static str, &'static str)>,
    sig: &'static str,
) -> Vec<(&'static str, &'static str)> {
    params.push(("Signature", sig));
    params
}

/// A V1 request signed here over `params`, all in the query string.
fn v1_signed_query(method: &str, params: &[(&str, &str)], secret: &str) -> String {
    let sts = v1::string_to_sign(method, &v1::canonical_query(params.iter().copied()));
    format!("{}&Signature={}", query_of(params), percent_encode(&v1::sign(secret, &sts)))
}

#[test]
fn v1_official_vector_get() {
    let q = query_of(&with_signature(v1_official_params(), "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
    let r = run("GET", &q, &[], b"").unwrap();
    assert_eq!(r.scheme, SignatureScheme::V1);
    assert_eq!(r.action, "DescribeRegions");
    assert_eq!(r.version, "2014-05-26");
    assert_eq!(r.access_key_id, "testid");
    assert_eq!(r.nonce, "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf");
    assert_eq!(r.timestamp, Utc.with_ymd_and_hms(2016, 2, 23, 12, 46, 24).unwrap());
    assert_eq!(r.timestamp_text, "2016-02-23T12:46:24Z");
    assert_eq!(r.security_token, None);
    assert_eq!(r.canonical_request(), None);
    assert!(r.string_to_sign().starts_with("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions"));
    assert!(r.params.get("Signature").is_none());
    assert_eq!(r.params.get("Format"), Some("XML"));
    r.verify("testsecret").unwrap();
}

#[test]
fn v1_project_vector_post_form_body() {
    // pop-core with {method:'POST'}: everything in the body, no query string.
    let body = query_of(&with_signature(v1_project_params(), "oqdlK1h6X90Yx3bvIbIF0w88EKY="));
    let r = run("POST", "", &h(&[FORM]), body.as_bytes()).unwrap();
    assert_eq!(r.action, "ImportDatabaseBetweenInstances");
    assert_eq!(r.params.get("DBInfo"), Some(DBINFO));
    assert_eq!(
        r.string_to_sign(),
        "POST&%2F&AccessKeyId%3Dtestid%26Action%3DImportDatabaseBetweenInstances%26DBInfo%3D%257B%2522DBNames%2522%253A%257B%2522srcdb%2522%253A%2522destdb%2522%257D%257D%26DBInstanceId%3Drm-dst001%26Format%3DJSON%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D0123456789abcdef0123456789abcdef%26SignatureVersion%3D1.0%26SourceDBInstanceId%3Drm-src001%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2014-08-15"
    );
    r.verify("testsecret").unwrap();
}

#[test]
fn v1_project_vector_post_query() {
    // The Python SDK in v2 mode: POST, everything in the query string, empty body.
    let q = query_of(&with_signature(v1_project_params(), "oqdlK1h6X90Yx3bvIbIF0w88EKY="));
    run("POST", &q, &[], b"").unwrap().verify("testsecret").unwrap();
}

#[test]
fn v1_project_vector_get() {
    let q = query_of(&with_signature(v1_project_params(), "1tXv2waQQG/sMvvgwEDIOPL8Jkw="));
    run("GET", &q, &[], b"").unwrap().verify("testsecret").unwrap();
}

#[test]
fn v1_signature_is_bound_to_the_method() {
    let q = query_of(&with_signature(v1_project_params(), "1tXv2waQQG/sMvvgwEDIOPL8Jkw="));
    assert!(matches!(
        run("POST", &q, &[], b"").unwrap().verify("testsecret"),
        Err(WireError::SignatureDoesNotMatch { .. })
    ));
}

#[test]
fn v1_plus_is_a_space_and_is_signed_as_percent_20() {
    let mut params = v1_project_params();
    params.push(("DBDescription", "hello world"));
    let signed = v1_signed_query("GET", &params, "testsecret");
    // As Python `requests` sends it: spaces as `+`.
    let q = signed.replace("hello%20world", "hello+world");
    assert!(q.contains("DBDescription=hello+world"));
    let r = run("GET", &q, &[], b"").unwrap();
    assert_eq!(r.params.get("DBDescription"), Some("hello world"));
    assert!(r.string_to_sign().contains("DBDescription%3Dhello%2520world"));
    r.verify("testsecret").unwrap();
}

#[test]
fn v1_unencoded_plus_in_signature_is_tolerated() {
    let mut q = query_of(&v1_official_params());
    q.push_str("&Signature=OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    run("GET", &q, &[], b"").unwrap().verify("testsecret").unwrap();
}

#[test]
fn v1_query_and_body_are_merged_and_signed_together() {
    let all = v1_project_params();
    let sts = v1::string_to_sign("POST", &v1::canonical_query(all.iter().copied()));
    let sig = v1::sign("testsecret", &sts);
    let (in_query, in_body) = all.split_at(4);
    let q = query_of(in_query);
    let body = format!("{}&Signature={}", query_of(in_body), percent_encode(&sig));
    let r =
        run("POST", &q, &h(&[("content-type", "application/x-www-form-urlencoded; charset=UTF-8")]), body.as_bytes())
            .unwrap();
    assert_eq!(r.params.get("Action"), Some("ImportDatabaseBetweenInstances"));
    assert_eq!(r.params.get("DBInstanceId"), Some("rm-dst001"));
    r.verify("testsecret").unwrap();
}

#[test]
fn body_wins_over_query_on_duplicates() {
    let mut params = v1_project_params();
    params.retain(|(k, _)| *k != "DBInstanceId");
    params.push(("DBInstanceId", "from-body"));
    let body = v1_signed_query("POST", &params, "testsecret");
    let r = run("POST", "DBInstanceId=from-query", &h(&[FORM]), body.as_bytes()).unwrap();
    assert_eq!(r.params.get("DBInstanceId"), Some("from-body"));
    r.verify("testsecret").unwrap();
    // A query-only parameter is part of what the server signs, so a client that did not
    // sign it is refused: the merge is real, not cosmetic.
    let r = run("POST", "Only=q", &h(&[FORM]), body.as_bytes()).unwrap();
    assert_eq!(r.params.get("Only"), Some("q"));
    assert!(r.verify("testsecret").is_err());
}

#[test]
fn body_is_ignored_without_a_form_content_type() {
    let q = v1_signed_query("POST", &v1_official_params(), "testsecret");
    let r = run("POST", &q, &h(&[("content-type", "application/json")]), b"Extra=1").unwrap();
    assert!(r.params.get("Extra").is_none());
    r.verify("testsecret").unwrap();
    let body = v1_signed_query("POST", &v1_official_params(), "testsecret");
    assert!(matches!(run("POST", "", &[], body.as_bytes()), Err(WireError::IncompleteSignature(_))));
}

#[test]
fn v1_wrong_secret_carries_the_string_to_sign() {
    let q = query_of(&with_signature(v1_official_params(), "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
    let r = run("GET", &q, &[], b"").unwrap();
    match r.verify("othersecret") {
        Err(WireError::SignatureDoesNotMatch { string_to_sign }) => {
            assert!(string_to_sign.starts_with("GET&%2F&"));
            assert!(!string_to_sign.contains("othersecret"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn v1_tampered_parameter_breaks_the_signature() {
    let q = query_of(&with_signature(v1_project_params(), "1tXv2waQQG/sMvvgwEDIOPL8Jkw="));
    let q = q.replace("rm-src001", "rm-src002");
    assert!(run("GET", &q, &[], b"").unwrap().verify("testsecret").is_err());
}

#[test]
fn v1_security_token() {
    let mut params = v1_official_params();
    params.push(("SecurityToken", "sts-token"));
    let r = run("GET", &v1_signed_query("GET", &params, "s"), &[], b"").unwrap();
    assert_eq!(r.security_token.as_deref(), Some("sts-token"));
    assert_eq!(r.params.get("SecurityToken"), Some("sts-token"));
    r.verify("s").unwrap();
}

fn v1_without(name: &str) -> String {
    let mut params = v1_official_params();
    params.retain(|(k, _)| *k != name);
    v1_signed_query("GET", &params, "s")
}

fn v1_with(name: &str, value: &str) -> String {
    let mut params: Vec<(&str, &str)> = v1_official_params();
    params.retain(|(k, _)| *k != name);
    params.push((name, value));
    v1_signed_query("GET", &params, "s")
}

#[test]
fn v1_missing_pieces() {
    let err = |q: String| run("GET", &q, &[], b"").unwrap_err();
    assert!(matches!(err(v1_without("AccessKeyId")), WireError::IncompleteSignature(m) if m.contains("AccessKeyId")));
    assert!(
        matches!(err(v1_without("SignatureMethod")), WireError::IncompleteSignature(m) if m.contains("SignatureMethod"))
    );
    assert!(
        matches!(err(v1_without("SignatureVersion")), WireError::IncompleteSignature(m) if m.contains("SignatureVersion"))
    );
    assert_eq!(err(v1_without("Action")), WireError::MissingAction);
    assert_eq!(err(v1_without("Version")), WireError::MissingParameter("Version".into()));
    assert_eq!(err(v1_without("Timestamp")), WireError::MissingTimestamp);
    assert_eq!(err(v1_without("SignatureNonce")), WireError::MissingNonce);
    assert_eq!(err(v1_with("SignatureNonce", "")), WireError::MissingNonce);
}

#[test]
fn v1_signature_method_and_version() {
    let err = |q: String| run("GET", &q, &[], b"").unwrap_err();
    assert_eq!(err(v1_with("SignatureMethod", "HMAC-SHA256")), WireError::InvalidSignatureMethod("HMAC-SHA256".into()));
    assert_eq!(
        err(v1_with("SignatureVersion", "2.0")),
        WireError::InvalidSignatureMethod("SignatureVersion 2.0".into())
    );
}

#[test]
fn timestamp_formats() {
    let err = |q: String| run("GET", &q, &[], b"").unwrap_err();
    for bad in [
        "2024-01-01 00:00:00",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00+08:00",
        "1704067200",
        "2024-13-01T00:00:00Z",
    ] {
        let q = v1_with("Timestamp", bad);
        assert_eq!(err(q), WireError::InvalidTimestampFormat(bad.into()), "{bad}");
    }
    let r = run("GET", &v1_with("Timestamp", "2024-01-01T00:00:00.123Z"), &[], b"").unwrap();
    assert_eq!(r.timestamp, at("2024-01-01T00:00:00Z") + chrono::Duration::milliseconds(123));
    r.verify("s").unwrap();
}

#[test]
fn timestamp_window() {
    let r = run("GET", &v1_with("Timestamp", "2024-01-01T00:00:00Z"), &[], b"").unwrap();
    r.check_timestamp(at("2024-01-01T00:15:00Z"), 15).unwrap();
    r.check_timestamp(at("2023-12-31T23:45:00Z"), 15).unwrap();
    assert_eq!(
        r.check_timestamp(at("2024-01-01T00:15:01Z"), 15),
        Err(WireError::TimestampExpired {
            timestamp: "2024-01-01T00:00:00Z".into(),
            now: "2024-01-01T00:15:01Z".into(),
            window_minutes: 15
        })
    );
    assert!(r.check_timestamp(at("2023-12-31T23:44:59Z"), 15).is_err());
}

// ---- scheme selection and method ----------------------------------------------------

#[test]
fn no_signature_at_all() {
    assert!(matches!(run("GET", "Action=DescribeRegions", &[], b""), Err(WireError::IncompleteSignature(_))));
    assert!(matches!(run("GET", "Action=X&Signature=", &[], b""), Err(WireError::IncompleteSignature(_))));
    // An Authorization header of another kind does not make a request V3.
    let headers = h(&[("authorization", "Basic dXNlcjpwYXNz")]);
    assert!(matches!(run("GET", "", &headers, b""), Err(WireError::IncompleteSignature(_))));
    let q = query_of(&with_signature(v1_official_params(), "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
    assert_eq!(run("GET", &q, &headers, b"").unwrap().scheme, SignatureScheme::V1);
}

#[test]
fn only_get_and_post() {
    for m in ["PUT", "DELETE", "HEAD", "get"] {
        assert_eq!(run(m, "", &[], b"").unwrap_err(), WireError::UnsupportedHttpMethod(m.into()));
    }
}

// ---- V3 -----------------------------------------------------------------------------

fn v3_official() -> (String, Vec<(String, String)>) {
    let query =
        query_of(&[("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"), ("RegionId", "cn-shanghai")]);
    let headers = h(&[
        OFFICIAL_V3_HEADERS,
        &[(
            "authorization",
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
        )],
    ]
    .concat());
    (query, headers)
}

const PROJECT_SIGNED: &str =
    "accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
const PROJECT_SIGNATURE: &str = "0798d7751141fffaa9940d25a08fcd002d99200911aa16ec43b7e09545336589";

fn v3_project_query() -> String {
    // As Python `requests` encodes it (`:` and `{` escaped, no spaces here).
    query_of(&[("DBInstanceId", "rm-dst001"), ("SourceDBInstanceId", "rm-src001"), ("DBInfo", DBINFO)])
}

fn v3_project_headers(authorization: &str) -> Vec<(String, String)> {
    h(&[
        ("accept", "application/json"),
        ("host", "127.0.0.1:8080"),
        ("user-agent", "AlibabaCloud (Linux) Python/3.12 TeaDSL/1"),
        ("x-acs-action", "ImportDatabaseBetweenInstances"),
        ("x-acs-content-sha256", EMPTY_SHA256),
        ("x-acs-date", "2024-01-01T00:00:00Z"),
        ("x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"),
        ("x-acs-version", "2014-08-15"),
        ("authorization", authorization),
    ])
}

fn project_auth() -> String {
    format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={PROJECT_SIGNED},Signature={PROJECT_SIGNATURE}")
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(k, _)| k != name);
    headers.push((name.into(), value.into()));
}

fn remove_header(headers: &mut Vec<(String, String)>, name: &str) {
    headers.retain(|(k, _)| k != name);
}

/// Re-signs `headers` (replacing its authorization) over `signed` with `secret`.
fn resign(method: &str, query: &str, headers: &mut Vec<(String, String)>, body: &[u8], signed: &str, secret: &str) {
    remove_header(headers, "authorization");
    let names = v3::normalize_signed_headers(signed);
    let q: BTreeMap<String, String> = form_decode(query).into_iter().collect();
    let cq = v3::canonical_query(q.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let ch = v3::canonical_headers(headers, &names).unwrap();
    let hash = header(headers, "x-acs-content-sha256").map(str::to_string).unwrap_or_else(|| v3::sha256_hex(body));
    let sig = v3::sign(secret, &v3::string_to_sign(&v3::canonical_request(method, &cq, &ch, &names, &hash)));
    headers.push((
        "authorization".into(),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={signed},Signature={sig}"),
    ));
}

#[test]
fn v3_official_vector() {
    let (q, headers) = v3_official();
    let r = run("POST", &q, &headers, b"").unwrap();
    assert_eq!(r.scheme, SignatureScheme::V3);
    assert_eq!(r.action, "RunInstances");
    assert_eq!(r.version, "2014-05-26");
    assert_eq!(r.access_key_id, "YourAccessKeyId");
    assert_eq!(r.nonce, "3156853299f313e23d1673dc12e1703d");
    assert_eq!(r.timestamp_text, "2023-10-26T10:22:32Z");
    assert_eq!(r.params.get("RegionId"), Some("cn-shanghai"));
    assert_eq!(
        v3::sha256_hex(r.canonical_request().unwrap().as_bytes()),
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    );
    assert_eq!(
        r.string_to_sign(),
        "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    );
    r.verify("YourAccessKeySecret").unwrap();
}

#[test]
fn v3_project_vector() {
    let r = run("POST", &v3_project_query(), &v3_project_headers(&project_auth()), b"").unwrap();
    let cr = r.canonical_request().unwrap();
    assert!(cr.starts_with(
        "POST\n/\nDBInfo=%7B%22DBNames%22%3A%7B%22srcdb%22%3A%22destdb%22%7D%7D&DBInstanceId=rm-dst001&SourceDBInstanceId=rm-src001\naccept:application/json\nhost:127.0.0.1:8080\n"
    ));
    assert!(cr.ends_with(&format!("\n\n{PROJECT_SIGNED}\n{EMPTY_SHA256}")));
    assert_eq!(v3::sha256_hex(cr.as_bytes()), "21a4706019379a890b0f3ea5f2371f286aba0180b12c82a7cbc17b3cfa4b185c");
    assert_eq!(r.action, "ImportDatabaseBetweenInstances");
    assert_eq!(r.version, "2014-08-15");
    assert_eq!(r.params.get("DBInfo"), Some(DBINFO));
    assert_eq!(r.params.iter().count(), 3);
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_query_with_plus_for_spaces() {
    let mut headers = v3_project_headers("");
    let q = "DBInstanceId=rm-dst001&DBDescription=hello+world&Empty=";
    resign("POST", q, &mut headers, b"", PROJECT_SIGNED, "testsecret");
    let r = run("POST", q, &headers, b"").unwrap();
    assert!(r.canonical_request().unwrap().contains("DBDescription=hello%20world&DBInstanceId=rm-dst001&Empty=\n"));
    assert_eq!(r.params.get("DBDescription"), Some("hello world"));
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_authorization_tolerates_spaces_after_commas() {
    let auth =
        format!("ACS3-HMAC-SHA256 Credential=testid, SignedHeaders={PROJECT_SIGNED}, Signature={PROJECT_SIGNATURE}");
    let r = run("POST", &v3_project_query(), &v3_project_headers(&auth), b"").unwrap();
    assert_eq!(r.access_key_id, "testid");
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_unlisted_header_is_ignored() {
    let mut headers = v3_project_headers(&project_auth());
    set_header(&mut headers, "user-agent", "something else");
    headers.push(("x-forwarded-for".into(), "10.0.0.1".into()));
    headers.push(("x-acs-credentials-provider".into(), "static_ak".into()));
    run("POST", &v3_project_query(), &headers, b"").unwrap().verify("testsecret").unwrap();
}

#[test]
fn v3_listed_header_changed_breaks_the_signature() {
    for (name, value) in [("host", "127.0.0.1:9090"), ("accept", "application/xml"), ("x-acs-version", "2015-05-01")] {
        let mut headers = v3_project_headers(&project_auth());
        set_header(&mut headers, name, value);
        let r = run("POST", &v3_project_query(), &headers, b"").unwrap();
        assert!(matches!(r.verify("testsecret"), Err(WireError::SignatureDoesNotMatch { .. })), "{name}");
    }
}

#[test]
fn v3_changed_query_breaks_the_signature() {
    let q = v3_project_query().replace("rm-src001", "rm-src002");
    let r = run("POST", &q, &v3_project_headers(&project_auth()), b"").unwrap();
    assert!(r.verify("testsecret").is_err());
}

#[test]
fn v3_signed_headers_come_from_the_request() {
    // Node openapi-core signs host and x-acs-* only; accept and user-agent then do not count.
    let signed = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
    let mut headers = v3_project_headers("");
    resign("POST", &v3_project_query(), &mut headers, b"", signed, "testsecret");
    let r = run("POST", &v3_project_query(), &headers, b"").unwrap();
    assert!(!r.canonical_request().unwrap().contains("accept:"));
    r.verify("testsecret").unwrap();
    set_header(&mut headers, "accept", "text/xml");
    run("POST", &v3_project_query(), &headers, b"").unwrap().verify("testsecret").unwrap();
}

#[test]
fn v3_repeated_headers_are_sorted_and_joined() {
    let signed = format!("{PROJECT_SIGNED};x-extra");
    let mut headers = v3_project_headers("");
    headers.push(("x-extra".into(), " b ".into()));
    headers.push(("x-extra".into(), "a".into()));
    resign("POST", &v3_project_query(), &mut headers, b"", &signed, "testsecret");
    let r = run("POST", &v3_project_query(), &headers, b"").unwrap();
    assert!(r.canonical_request().unwrap().contains("\nx-extra:a,b\n"));
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_wrong_secret() {
    let r = run("POST", &v3_project_query(), &v3_project_headers(&project_auth()), b"").unwrap();
    assert_eq!(
        r.verify("wrongsecret"),
        Err(WireError::SignatureDoesNotMatch {
            string_to_sign: "ACS3-HMAC-SHA256\n21a4706019379a890b0f3ea5f2371f286aba0180b12c82a7cbc17b3cfa4b185c".into()
        })
    );
}

#[test]
fn v3_upper_case_hex_signature_is_accepted() {
    let auth = project_auth().replace(PROJECT_SIGNATURE, &PROJECT_SIGNATURE.to_ascii_uppercase());
    run("POST", &v3_project_query(), &v3_project_headers(&auth), b"").unwrap().verify("testsecret").unwrap();
}

#[test]
fn v3_authorization_wins_over_a_signature_parameter() {
    let q = format!("{}&Signature=abc", v3_project_query());
    let mut headers = v3_project_headers("");
    resign("POST", &q, &mut headers, b"", PROJECT_SIGNED, "testsecret");
    let r = run("POST", &q, &headers, b"").unwrap();
    assert_eq!(r.scheme, SignatureScheme::V3);
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_form_body_params_and_hash() {
    let body = b"DBDescription=a+b&DBInstanceId=from-body";
    let mut headers = v3_project_headers("");
    set_header(&mut headers, "content-type", FORM.1);
    set_header(&mut headers, "x-acs-content-sha256", &v3::sha256_hex(body));
    resign("POST", &v3_project_query(), &mut headers, body, &format!("{PROJECT_SIGNED};content-type"), "testsecret");
    let r = run("POST", &v3_project_query(), &headers, body).unwrap();
    assert_eq!(r.params.get("DBDescription"), Some("a b"));
    assert_eq!(r.params.get("DBInstanceId"), Some("from-body"));
    assert_eq!(r.params.get("SourceDBInstanceId"), Some("rm-src001"));
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_content_hash() {
    let mut headers = v3_project_headers(&project_auth());
    assert_eq!(run("POST", &v3_project_query(), &headers, b"x").unwrap_err(), WireError::ContentHashMismatch);
    // Without the header, the computed hash stands in; the signature still covers it.
    remove_header(&mut headers, "x-acs-content-sha256");
    let signed = PROJECT_SIGNED.replace("x-acs-content-sha256;", "");
    resign("POST", &v3_project_query(), &mut headers, b"", &signed, "testsecret");
    let r = run("POST", &v3_project_query(), &headers, b"").unwrap();
    assert!(r.canonical_request().unwrap().ends_with(EMPTY_SHA256));
    r.verify("testsecret").unwrap();
    // Upper-case hex is the same hash.
    let mut headers = v3_project_headers(&project_auth());
    set_header(&mut headers, "x-acs-content-sha256", &EMPTY_SHA256.to_ascii_uppercase());
    assert!(run("POST", &v3_project_query(), &headers, b"").is_ok());
}

#[test]
fn v3_action_and_version_fall_back_to_parameters() {
    let q = format!("{}&Action=DescribeRegions&Version=2014-08-15", v3_project_query());
    let mut headers = v3_project_headers("");
    remove_header(&mut headers, "x-acs-action");
    remove_header(&mut headers, "x-acs-version");
    let signed = "accept;host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce";
    resign("POST", &q, &mut headers, b"", signed, "testsecret");
    let r = run("POST", &q, &headers, b"").unwrap();
    assert_eq!(r.action, "DescribeRegions");
    assert_eq!(r.version, "2014-08-15");
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_security_token() {
    let mut headers = v3_project_headers("");
    headers.push(("x-acs-security-token".into(), "sts-token".into()));
    resign(
        "POST",
        &v3_project_query(),
        &mut headers,
        b"",
        &format!("{PROJECT_SIGNED};x-acs-security-token"),
        "testsecret",
    );
    let r = run("POST", &v3_project_query(), &headers, b"").unwrap();
    assert_eq!(r.security_token.as_deref(), Some("sts-token"));
    r.verify("testsecret").unwrap();
}

#[test]
fn v3_headers_the_server_acts_on_must_be_signed() {
    for name in ["x-acs-date", "x-acs-action", "x-acs-signature-nonce"] {
        let signed: Vec<&str> = PROJECT_SIGNED.split(';').filter(|h| *h != name).collect();
        let mut headers = v3_project_headers("");
        resign("POST", &v3_project_query(), &mut headers, b"", &signed.join(";"), "testsecret");
        assert!(
            matches!(run("POST", &v3_project_query(), &headers, b""), Err(WireError::IncompleteSignature(m)) if m.contains(name)),
            "{name}"
        );
    }
}

#[test]
fn v3_signed_header_absent_from_the_request() {
    let auth = project_auth().replace("SignedHeaders=accept;", "SignedHeaders=accept;content-type;");
    let err = run("POST", &v3_project_query(), &v3_project_headers(&auth), b"").unwrap_err();
    assert!(matches!(err, WireError::IncompleteSignature(m) if m.contains("content-type")));
}

#[test]
fn v3_malformed_authorization() {
    let err = |auth: &str| run("POST", &v3_project_query(), &v3_project_headers(auth), b"").unwrap_err();
    assert_eq!(
        err(&project_auth().replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3")),
        WireError::InvalidSignatureMethod("ACS3-HMAC-SM3".into())
    );
    assert!(
        matches!(err(&project_auth().replace("Credential=testid,", "")), WireError::IncompleteSignature(m) if m.contains("Credential"))
    );
    assert!(
        matches!(err(&project_auth().replace("Credential=testid", "Credential=")), WireError::IncompleteSignature(m) if m.contains("Credential"))
    );
    assert!(
        matches!(err(&format!("ACS3-HMAC-SHA256 Credential=testid,Signature={PROJECT_SIGNATURE}")), WireError::IncompleteSignature(m) if m.contains("SignedHeaders"))
    );
    assert!(
        matches!(err(&format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={PROJECT_SIGNED}")), WireError::IncompleteSignature(m) if m.contains("Signature"))
    );
    assert!(matches!(err("ACS3-HMAC-SHA256"), WireError::IncompleteSignature(_)));
    assert!(matches!(err("ACS3-HMAC-SHA256 garbage"), WireError::IncompleteSignature(_)));
}

#[test]
fn v3_missing_pieces() {
    let err = |remove: &str| {
        let mut headers = v3_project_headers(&project_auth());
        remove_header(&mut headers, remove);
        run("POST", &v3_project_query(), &headers, b"").unwrap_err()
    };
    assert_eq!(err("x-acs-action"), WireError::MissingAction);
    assert_eq!(err("x-acs-version"), WireError::MissingParameter("Version".into()));
    assert_eq!(err("x-acs-date"), WireError::MissingTimestamp);
    assert_eq!(err("x-acs-signature-nonce"), WireError::MissingNonce);
    let mut headers = v3_project_headers(&project_auth());
    set_header(&mut headers, "x-acs-date", "2024-01-01T00:00:00+00:00");
    assert_eq!(
        run("POST", &v3_project_query(), &headers, b"").unwrap_err(),
        WireError::InvalidTimestampFormat("2024-01-01T00:00:00+00:00".into())
    );
}

#[test]
fn v3_get_is_accepted() {
    let mut headers = v3_project_headers("");
    resign("GET", &v3_project_query(), &mut headers, b"", PROJECT_SIGNED, "testsecret");
    run("GET", &v3_project_query(), &headers, b"").unwrap().verify("testsecret").unwrap();
}

// ---- client round trips -------------------------------------------------------------

fn business() -> Vec<(String, String)> {
    h(&[
        ("DBInstanceId", "rm-dst001"),
        ("DBInfo", DBINFO),
        ("DBDescription", "spaces, commas & ampersands; ünïcode ~*+!'()"),
        ("Empty", ""),
        ("Tag.1.Key", "k"),
    ])
}

fn now() -> DateTime<Utc> {
    at("2024-05-06T07:08:09Z")
}

fn check_business(r: &SignedRequest) {
    for (k, v) in business() {
        assert_eq!(r.params.iter().find(|(n, _)| **n == k).map(|(_, v)| v.as_str()), Some(v.as_str()), "{k}");
    }
}

/// DescribeDBInstances with no parameters, by `ak`/`sk` at [`now`].
fn test_call() -> Call<'static> {
    Call { action: "DescribeDBInstances", version: "2014-08-15", params: &[], access_key_id: "ak", secret: "sk", now: now(), nonce: "n0nce" }
}

/// The call of the project's signature vectors.
fn project_call(params: &[(String, String)]) -> Call<'_> {
    Call {
        action: "ImportDatabaseBetweenInstances",
        version: "2014-08-15",
        params,
        access_key_id: "testid",
        secret: "testsecret",
        now: at("2024-01-01T00:00:00Z"),
        nonce: "0123456789abcdef0123456789abcdef",
    }
}

#[test]
fn client_v3_round_trip() {
    let params = business();
    let call = Call { params: &params, ..test_call() }.sign_v3("127.0.0.1:8080");
    assert!(call.body.is_empty());
    let auth = call.headers.iter().find(|(k, _)| k == "authorization").unwrap();
    assert!(auth.1.starts_with(
        "ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=accept;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature="
    ));
    let r = run("POST", &call.query, &call.headers, &call.body).unwrap();
    assert_eq!(r.scheme, SignatureScheme::V3);
    assert_eq!(r.action, "DescribeDBInstances");
    assert_eq!(r.version, "2014-08-15");
    assert_eq!(r.access_key_id, "ak");
    assert_eq!(r.nonce, "n0nce");
    assert_eq!(r.timestamp, now());
    check_business(&r);
    r.verify("sk").unwrap();
    r.check_timestamp(now(), 15).unwrap();
    assert!(matches!(r.verify("other"), Err(WireError::SignatureDoesNotMatch { .. })));
}

#[test]
fn client_v3_reproduces_the_project_vector() {
    let params = h(&[("DBInstanceId", "rm-dst001"), ("SourceDBInstanceId", "rm-src001"), ("DBInfo", DBINFO)]);
    let call = project_call(&params).sign_v3("127.0.0.1:8080");
    let auth = &call.headers.iter().find(|(k, _)| k == "authorization").unwrap().1;
    assert_eq!(auth, &project_auth());
}

#[test]
fn client_v1_round_trip_get_and_post() {
    for method in ["GET", "POST"] {
        let params = business();
        let call = Call { params: &params, ..test_call() }.sign_v1(method);
        assert!(call.query.contains("&Signature="));
        let r = run(method, &call.query, &call.headers, &call.body).unwrap();
        assert_eq!(r.scheme, SignatureScheme::V1);
        assert_eq!(r.action, "DescribeDBInstances");
        assert_eq!(r.access_key_id, "ak");
        assert_eq!(r.nonce, "n0nce");
        assert_eq!(r.timestamp_text, "2024-05-06T07:08:09Z");
        assert_eq!(r.params.get("Format"), Some("JSON"));
        assert_eq!(r.params.get("SignatureMethod"), Some("HMAC-SHA1"));
        check_business(&r);
        r.verify("sk").unwrap();
        assert!(r.verify("other").is_err());
    }
}

#[test]
fn client_v1_reproduces_the_project_vectors() {
    let params = h(&[("DBInstanceId", "rm-dst001"), ("SourceDBInstanceId", "rm-src001"), ("DBInfo", DBINFO)]);
    for (method, sig) in [("POST", "oqdlK1h6X90Yx3bvIbIF0w88EKY%3D"), ("GET", "1tXv2waQQG%2FsMvvgwEDIOPL8Jkw%3D")] {
        let call = project_call(&params).sign_v1(method);
        assert!(call.query.ends_with(&format!("&Signature={sig}")), "{method}: {}", call.query);
    }
}

#[test]
fn client_v1_format_can_be_overridden_but_signing_parameters_cannot() {
    let params = h(&[("Format", "XML"), ("Action", "Evil"), ("AccessKeyId", "evil")]);
    let call = Call { action: "DescribeRegions", params: &params, nonce: "n", ..test_call() }.sign_v1("GET");
    let r = run("GET", &call.query, &call.headers, &call.body).unwrap();
    assert_eq!(r.params.get("Format"), Some("XML"));
    assert_eq!(r.action, "DescribeRegions");
    assert_eq!(r.access_key_id, "ak");
    r.verify("sk").unwrap();
}
