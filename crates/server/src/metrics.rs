//! Monitoring endpoints, unsigned and read-only: `/metrics` (Prometheus, OpenMetrics text
//! encoded by `prometheus-client`), `/health` (the process answers) and `/ready` (the
//! metadata store answers too). API calls are counted as they end; the fleet's state is
//! read from the control plane at each scrape.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use control::ControlPlane;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance: String,
    engine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ActionLabels, Histogram>,
    tasks: Family<TaskLabels, Gauge>,
    instances: Family<StatusLabels, Gauge>,
    up: Family<InstanceLabels, Gauge>,
    used: Family<InstanceLabels, Gauge>,
    capacity: Family<InstanceLabels, Gauge>,
    imported_bytes: Counter,
    imported_rows: Counter,
    /// One scrape at a time: each rewrites the fleet's gauges before encoding them.
    scraping: tokio::sync::Mutex<()>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("openrds");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("api_requests", "API calls by action and result code (OK or the error envelope's Code)", requests.clone());
        let latency = Family::<ActionLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("api_request_duration_seconds", "Time to answer an API call, by action", latency.clone());
        let tasks = Family::<TaskLabels, Gauge>::default();
        registry.register("tasks", "Import and backup tasks by status", tasks.clone());
        let instances = Family::<StatusLabels, Gauge>::default();
        registry.register("instances", "Instances by DBInstanceStatus", instances.clone());
        let up = Family::<InstanceLabels, Gauge>::default();
        registry.register("instance_up", "Whether the instance's engine server runs (1) or not (0)", up.clone());
        let used = Family::<InstanceLabels, Gauge>::default();
        registry.register("instance_storage_used_bytes", "Bytes the instance's databases use, sampled every 15 s", used.clone());
        let capacity = Family::<InstanceLabels, Gauge>::default();
        registry.register("instance_storage_capacity_bytes", "The instance's storage quota (DBInstanceStorage)", capacity.clone());
        let imported_bytes = Counter::default();
        registry.register("import_bytes", "Bytes copied by imports that succeeded since openrds started", imported_bytes.clone());
        let imported_rows = Counter::default();
        registry.register("import_rows", "Rows copied by imports that succeeded since openrds started", imported_rows.clone());
        Metrics { registry, requests, latency, tasks, instances, up, used, capacity, imported_bytes, imported_rows, scraping: tokio::sync::Mutex::new(()) }
    }

    /// Counts one answered call. `action` is what the caller asked for: only actions
    /// openrds serves become labels, so no caller can grow the label set.
    pub(crate) fn observe_call(&self, action: &str, code: &str, elapsed: Duration) {
        let action = wire::Action::ALL.iter().find(|a| a.name() == action).map_or("unknown", |a| a.name()).to_string();
        self.requests.get_or_create(&RequestLabels { action: action.clone(), code: code.to_string() }).inc();
        self.latency.get_or_create(&ActionLabels { action }).observe(elapsed.as_secs_f64());
    }

    async fn scrape(&self, plane: &ControlPlane) -> Result<String, String> {
        let _one = self.scraping.lock().await;
        let fleet = plane.fleet_status().await.map_err(|e| e.to_string())?;
        self.tasks.clear();
        for (status, n) in &fleet.imports {
            self.tasks.get_or_create(&TaskLabels { kind: "import".into(), status: status.to_string() }).set(*n as i64);
        }
        for (status, n) in &fleet.backups {
            self.tasks.get_or_create(&TaskLabels { kind: "backup".into(), status: status.to_string() }).set(*n as i64);
        }
        self.instances.clear();
        for family in [&self.up, &self.used, &self.capacity] {
            family.clear();
        }
        for i in &fleet.instances {
            self.instances.get_or_create(&StatusLabels { status: i.status.to_string() }).inc();
            let labels = InstanceLabels { instance: i.id.clone(), engine: i.engine.clone() };
            self.up.get_or_create(&labels).set(i64::from(i.up));
            self.capacity.get_or_create(&labels).set(i.capacity_bytes as i64);
            if let Some(used) = i.used_bytes {
                self.used.get_or_create(&labels).set(used as i64);
            }
        }
        // Counters only grow: they take what the control plane counted since the last scrape.
        self.imported_bytes.inc_by(fleet.imported_bytes.saturating_sub(self.imported_bytes.get()));
        self.imported_rows.inc_by(fleet.imported_rows.saturating_sub(self.imported_rows.get()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).map_err(|e| e.to_string())?;
        Ok(text)
    }
}

pub(crate) async fn metrics(State(app): State<Arc<crate::App>>) -> Response {
    match app.metrics.scrape(&app.plane).await {
        Ok(text) => {
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be gathered");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable: the metadata store did not answer\n").into_response()
        }
    }
}

/// Liveness: the process serves HTTP.
pub(crate) async fn health() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Readiness: calls can be served (the metadata store answers).
pub(crate) async fn ready(State(app): State<Arc<crate::App>>) -> Response {
    match app.plane.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the metadata store did not answer\n").into_response()
        }
    }
}
