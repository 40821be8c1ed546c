//! Signature test vectors shared by the unit tests of the signing modules and of request
//! parsing: Alibaba's documented V1 and V3 examples and the project's own vectors
//! (`shared/reference/rds-api.md` §2).

/// The SHA-256 of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Alibaba's documented V1 example (ECS DescribeRegions), every parameter but the
/// signature.
pub const OFFICIAL_V1: &[(&str, &str)] = &[
    ("AccessKeyId", "testid"),
    ("Action", "DescribeRegions"),
    ("Format", "XML"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
    ("SignatureVersion", "1.0"),
    ("Timestamp", "2016-02-23T12:46:24Z"),
    ("Version", "2014-05-26"),
];

/// The DBInfo of the project's vectors.
pub const PROJECT_DBINFO: &str = r#"{"DBNames":{"srcdb":"destdb"}}"#;

/// The project's V1 call (ImportDatabaseBetweenInstances), every parameter but the signature.
pub const PROJECT_V1: &[(&str, &str)] = &[
    ("Action", "ImportDatabaseBetweenInstances"),
    ("Format", "JSON"),
    ("Version", "2014-08-15"),
    ("AccessKeyId", "testid"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureVersion", "1.0"),
    ("SignatureNonce", "0123456789abcdef0123456789abcdef"),
    ("Timestamp", "2024-01-01T00:00:00Z"),
    ("DBInstanceId", "rm-dst001"),
    ("SourceDBInstanceId", "rm-src001"),
    ("DBInfo", PROJECT_DBINFO),
];

/// The signed headers of Alibaba's documented V3 example (ECS RunInstances).
pub const OFFICIAL_V3_HEADERS: &[(&str, &str)] = &[
    ("host", "ecs.cn-shanghai.aliyuncs.com"),
    ("x-acs-action", "RunInstances"),
    ("x-acs-content-sha256", EMPTY_SHA256),
    ("x-acs-date", "2023-10-26T10:22:32Z"),
    ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
    ("x-acs-version", "2014-05-26"),
];
