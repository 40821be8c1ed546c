/// What can be wrong with a request before it reaches the domain: its form, its parameters
/// or its signature. The server maps each variant to a code and an HTTP status in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A required parameter is absent (or empty). Code `Missing<Name>`.
    #[error("{0} is mandatory for this action.")]
    MissingParameter(String),
    /// A parameter has a value the API does not accept. Code `InvalidParameter`; the message
    /// names the parameter and says what is expected.
    #[error("The specified parameter {name} is not valid: {reason}")]
    InvalidParameter { name: String, reason: String },
    /// `Format` other than JSON (XML is not served).
    #[error("The specified Format {0} is not supported; use JSON.")]
    UnsupportedFormat(String),
    /// No `Action` parameter nor `x-acs-action` header.
    #[error("Action is mandatory for this request.")]
    MissingAction,
    /// No signature (neither `Authorization: ACS3-...` nor a `Signature` parameter), or an
    /// `Authorization` header / V1 parameter set that cannot be parsed.
    #[error("The request signature does not conform to Aliyun standards: {0}")]
    IncompleteSignature(String),
    /// `SignatureMethod`/`SignatureVersion` or the V3 algorithm is not one we verify.
    #[error("The specified signature method {0} is not supported.")]
    InvalidSignatureMethod(String),
    /// The signature does not match. For V1 the server's string to sign is included (it
    /// holds no secret) so that client authors can compare.
    #[error("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}")]
    SignatureDoesNotMatch { string_to_sign: String },
    /// No timestamp (`Timestamp` for V1, `x-acs-date` for V3).
    #[error("Timestamp is mandatory for this request.")]
    MissingTimestamp,
    #[error("The specified time stamp or date value {0} is not well formatted; expected yyyy-MM-ddTHH:mm:ssZ in UTC.")]
    InvalidTimestampFormat(String),
    #[error("The specified time stamp or date value {timestamp} is expired: it is more than {window_minutes} minutes away from the server time {now}.")]
    TimestampExpired { timestamp: String, now: String, window_minutes: i64 },
    /// No nonce (`SignatureNonce` / `x-acs-signature-nonce`).
    #[error("SignatureNonce is mandatory for this request.")]
    MissingNonce,
    /// The V3 body hash header does not match the body.
    #[error("The x-acs-content-sha256 header does not match the request body.")]
    ContentHashMismatch,
    #[error("The HTTP method {0} is not supported; use GET or POST.")]
    UnsupportedHttpMethod(String),
}
