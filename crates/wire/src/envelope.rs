//! The error envelope `{RequestId, HostId, Code, Message, Recommend}` and request ids.

use serde::{Deserialize, Serialize};

/// An error as it crosses the wire: HTTP status, code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into() }
    }

    /// The JSON body for this error.
    pub fn envelope(&self, request_id: &str, host_id: &str) -> ErrorEnvelope {
        ErrorEnvelope {
            request_id: request_id.to_string(),
            host_id: host_id.to_string(),
            code: self.code.clone(),
            message: self.message.clone(),
            recommend: format!(
                "https://api.aliyun.com/troubleshoot?q={}&product=Rds&requestId={}",
                self.code, request_id
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorEnvelope {
    pub request_id: String,
    pub host_id: String,
    pub code: String,
    pub message: String,
    pub recommend: String,
}

/// A new request id: an upper-case UUID, as Alibaba's.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}
