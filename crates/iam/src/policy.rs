/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub(crate) statements: Vec<crate::policy::Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {}

/// Why a policy document is refused by CreatePolicy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Parses and validates a policy document (JSON text).
pub fn parse_policy(json: &str) -> Result<PolicyDocument, PolicyError> {
    let _ = json;
    todo!("iam::parse_policy")
}
