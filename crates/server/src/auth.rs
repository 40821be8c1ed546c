//! Authentication: the signature, the clock, the key and the nonce, in that order, so a
//! forged request learns nothing and burns no nonce of a real client.

use crate::{ServerConfig, ServerError};
use chrono::Utc;
use control::{Caller, ControlPlane};
use wire::{SignedRequest, WireError};

/// Checks a parsed request; the caller it acts as (its client address is the server's
/// to add).
pub(crate) async fn authenticate(plane: &ControlPlane, config: &ServerConfig, request: &SignedRequest) -> Result<Caller, ServerError> {
    if let Some(format) = request.params.get("Format") {
        if !format.eq_ignore_ascii_case("json") {
            return Err(WireError::UnsupportedFormat(format.to_string()).into());
        }
    }
    let now = Utc::now();
    request.check_timestamp(now, config.timestamp_window_minutes)?;
    let key = plane.access_key(&request.access_key_id).await?;
    request.verify(&key.secret)?;
    // The nonce must stay remembered for as long as its timestamp is acceptable.
    let expires = request.timestamp + chrono::Duration::minutes(config.timestamp_window_minutes + 1);
    if !plane.remember_nonce(&key.id, &request.nonce, expires.max(now)).await? {
        return Err(ServerError::NonceUsed);
    }
    Ok(Caller { principal: key.principal, access_key_id: key.id, source_ip: None, secure_transport: false })
}
