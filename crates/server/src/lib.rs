//! The HTTP front of openrds: one route, `/`, for every action of the RDS API (2014-08-15)
//! and the RAM API (2015-05-01). A request is parsed and its signature checked (`wire`),
//! its key looked up and its nonce recorded (`control`), then dispatched to its action;
//! every failure becomes the Alibaba error envelope in `error.rs`.

mod actions;
mod auth;
mod error;

pub use error::ServerError;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use control::ControlPlane;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::Instrument;

/// Settings of the HTTP front.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `HostId` of error envelopes: the name this endpoint is served under.
    pub host_id: String,
    /// Allowed clock difference between client and server for signed requests.
    pub timestamp_window_minutes: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { host_id: "openrds".into(), timestamp_window_minutes: 15 }
    }
}

struct App {
    plane: Arc<ControlPlane>,
    config: ServerConfig,
}

/// The router, for serving or for driving in-process.
pub fn router(plane: Arc<ControlPlane>, config: ServerConfig) -> Router {
    let app = Arc::new(App { plane, config });
    Router::new().route("/", axum::routing::any(handle)).with_state(app)
}

/// Serves on a bound listener until `shutdown` completes, then stops accepting and lets
/// calls in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    plane: Arc<ControlPlane>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(plane, config);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let request_id = wire::new_request_id();
    let span = tracing::info_span!("request", request_id = %request_id, action = tracing::field::Empty);
    let started = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let body = match axum::body::to_bytes(body, 8 << 20).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    let result = async {
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let http = wire::HttpParts {
            method: parts.method.as_str(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            body: &body,
        };
        let (caller, request) = auth::authenticate(&app.plane, &app.config, &http, peer).await?;
        tracing::Span::current().record("action", request.action.as_str());
        actions::dispatch(&app.plane, &caller, &request).await
    }
    .instrument(span.clone())
    .await;
    let _enter = span.enter();
    match result {
        Ok(mut body) => {
            if let Some(obj) = body.as_object_mut() {
                obj.insert("RequestId".into(), request_id.clone().into());
            }
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ok");
            json_response(StatusCode::OK, &body, &request_id)
        }
        Err(e) => {
            let api: wire::ApiError = e.into();
            if api.status >= 500 {
                tracing::error!(code = %api.code, "failed");
            } else {
                tracing::info!(code = %api.code, status = api.status, "refused");
            }
            let status = StatusCode::from_u16(api.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let envelope = api.envelope(&request_id, &app.config.host_id);
            json_response(status, &serde_json::to_value(envelope).unwrap_or_default(), &request_id)
        }
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value, request_id: &str) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-acs-request-id", v);
    }
    response
}
