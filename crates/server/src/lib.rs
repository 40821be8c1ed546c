//! The HTTP front of openrds: one route, `/`, for every action of the RDS API (2014-08-15)
//! and the RAM API (2015-05-01). A request is parsed and its signature checked (`wire`),
//! its key looked up and its nonce recorded (`control`), then dispatched to its action;
//! every failure becomes the Alibaba error envelope in `error.rs`. Beside it, unsigned
//! and read-only, `/metrics`, `/health` and `/ready` for monitoring (`metrics.rs`).

mod actions;
mod auth;
mod console;
mod error;
mod listener;
mod metrics;

pub use error::ServerError;

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
    metrics: metrics::Metrics,
}

/// The router, for serving or for driving in-process.
pub fn router(plane: Arc<ControlPlane>, config: ServerConfig) -> Router {
    let app = Arc::new(App { plane, config, metrics: metrics::Metrics::new() });
    Router::new()
        .route("/", axum::routing::any(handle))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route("/health", axum::routing::get(metrics::health))
        .route("/ready", axum::routing::get(metrics::ready))
        .merge(console::routes())
        .with_state(app)
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
    axum::serve(listener::GuardedListener(listener), app.into_make_service_with_connect_info::<listener::ClientAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Largest request body read (form-encoded parameters); larger ones are refused with 413.
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// Longest query string read; longer ones are refused with 414 (request lines too long
/// for the HTTP library are caught before it, in `listener`).
pub const MAX_QUERY_BYTES: usize = 32 << 10;

/// Parameters whose values name the resources a call is about, for the audit line. Never
/// a secret: passwords, signatures and keys' secrets are not among them.
const AUDITED_PARAMETERS: &[&str] = &[
    "DBInstanceId",
    "SourceDBInstanceId",
    "ImportId",
    "DBName",
    "AccountName",
    "UserName",
    "PolicyName",
    "AccessKeyId",
    "RegionId",
];

/// What the audit line says of a request, filled in as far as the request got.
#[derive(Default)]
struct Audit {
    access_key_id: String,
    user: String,
    action: String,
    resources: String,
}

impl Audit {
    fn of_request(&mut self, request: &wire::SignedRequest) {
        self.access_key_id = request.access_key_id.clone();
        self.action = request.action.clone();
        self.resources = AUDITED_PARAMETERS
            .iter()
            .filter_map(|name| request.params.get(name).map(|v| format!("{name}={v}")))
            .collect::<Vec<_>>()
            .join(" ");
    }

    fn of_caller(&mut self, caller: &control::Caller) {
        if let control::model::Principal::User { user_name, .. } = &caller.principal {
            self.user = user_name.clone();
        }
    }
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let request_id = wire::new_request_id();
    let span = tracing::info_span!("request", request_id = %request_id, action = tracing::field::Empty);
    let started = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<listener::ClientAddr>>()
        .map(|c| c.0 .0.ip())
        .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
    let mut audit = Audit::default();
    let result = async {
        let query = parts.uri.query().unwrap_or("");
        if query.starts_with(listener::TOO_LONG_MARKER) {
            return Err(ServerError::UriTooLong { limit: MAX_QUERY_BYTES });
        }
        if query.len() > MAX_QUERY_BYTES {
            return Err(ServerError::UriTooLong { limit: MAX_QUERY_BYTES });
        }
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ServerError::BodyTooLarge { limit: MAX_BODY_BYTES })?;
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let http = wire::HttpParts { method: parts.method.as_str(), raw_query: query, headers: &headers, body: &body };
        let request = wire::request::parse(&http)?;
        audit.of_request(&request);
        tracing::Span::current().record("action", request.action.as_str());
        let caller = auth::authenticate(&app.plane, &app.config, &request).await?;
        audit.of_caller(&caller);
        let caller = control::Caller { source_ip: peer, ..caller };
        actions::dispatch(&app.plane, &caller, &request).await
    }
    .instrument(span.clone())
    .await;
    let _enter = span.enter();
    let (status, code, cause, response) = match result {
        Ok(answer) => (200, "OK".to_string(), String::new(), json_response(StatusCode::OK, answer.into_text(&request_id), &request_id)),
        Err(e) => {
            // What the caller is not shown of an internal failure goes into the log line.
            let cause = e.internal_detail().unwrap_or_default();
            let api: wire::ApiError = e.into();
            let status = StatusCode::from_u16(api.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let envelope = api.envelope(&request_id, &app.config.host_id);
            (api.status, api.code.clone(), cause, json_response(status, serde_json::to_string(&envelope).unwrap_or_default(), &request_id))
        }
    };
    // The audit trail: one line per request, refusals included, naming who asked, from
    // where, for what, and how it ended. Internal failures carry their cause here, once.
    let client = peer.map(|p| p.to_string()).unwrap_or_default();
    app.metrics.observe_call(&audit.action, &code, started.elapsed());
    let elapsed_ms = started.elapsed().as_millis() as u64;
    macro_rules! audit_line {
        ($level:ident, $what:literal) => {
            tracing::$level!(
                target: "openrds::audit",
                request_id = %request_id,
                access_key_id = %audit.access_key_id,
                ram_user = %audit.user,
                client = %client,
                action = %audit.action,
                resources = %audit.resources,
                status,
                code = %code,
                cause = %cause,
                elapsed_ms,
                $what
            )
        };
    }
    match status {
        200 => audit_line!(info, "ok"),
        s if s >= 500 => audit_line!(error, "failed"),
        _ => audit_line!(info, "refused"),
    }
    response
}

fn json_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-acs-request-id", v);
    }
    response
}
