//! Authentication: the signature, the clock, the key and the nonce, in that order, so a
//! forged request learns nothing and burns no nonce of a real client.

use crate::{ServerConfig, ServerError};
use chrono::Utc;
use control::{Caller, ControlPlane};
use std::net::IpAddr;
use wire::{HttpParts, SignedRequest, WireError};

pub(crate) async fn authenticate(
    plane: &ControlPlane,
    config: &ServerConfig,
    http: &HttpParts<'_>,
    peer: Option<IpAddr>,
) -> Result<(Caller, SignedRequest), ServerError> {
    let request = wire::request::parse(http)?;
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
    let caller = Caller { principal: key.principal, access_key_id: key.id, source_ip: peer, secure_transport: false };
    Ok((caller, request))
}
