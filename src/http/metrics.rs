//! Prometheus metrics: HTTP requests by route template, and the registry
//! that `/metrics` renders (HTTP, pool gauges, query timings).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::alerts::DeliveryMetrics;
use crate::monitoring::SchedulerMetrics;
use crate::notifications::NotificationService;
use crate::realtime::Hub;
use crate::storage::Db;
use crate::workers::WorkerMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/v1/tokens/{id}`), never the raw path.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

const HTTP_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// Gauges read from the pool at scrape time.
#[derive(Default)]
struct PoolGauges {
    size: Gauge,
    idle: Gauge,
    in_use: Gauge,
    waiting: Gauge,
    max: Gauge,
    utilization: Gauge<f64, AtomicU64>,
}

/// Everything `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pool: PoolGauges,
    db: Db,
}

impl Metrics {
    pub fn new(
        db: Db,
        notifications: &NotificationService,
        hub: &Hub,
        checks: &SchedulerMetrics,
        deliveries: &DeliveryMetrics,
        workers: &WorkerMetrics,
    ) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(http_histogram);
        registry.register(
            "herald_http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "herald_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            durations.clone(),
        );
        let pool = PoolGauges::default();
        registry.register("herald_db_pool_connections", "Open database connections", pool.size.clone());
        registry.register("herald_db_pool_idle_connections", "Idle database connections", pool.idle.clone());
        registry.register("herald_db_pool_in_use_connections", "Database connections in use", pool.in_use.clone());
        registry.register("herald_db_pool_waiting", "Callers waiting for a database connection", pool.waiting.clone());
        registry.register("herald_db_pool_max_connections", "Configured pool maximum", pool.max.clone());
        registry.register(
            "herald_db_pool_utilization_ratio",
            "In-use connections over the maximum",
            pool.utilization.clone(),
        );
        checks.register(&mut registry);
        deliveries.register(&mut registry);
        workers.register(&mut registry);
        let m = db.metrics();
        registry.register(
            "herald_db_query_duration_seconds",
            "Database call latency by repository operation",
            m.query_seconds.clone(),
        );
        registry.register(
            "herald_db_errors",
            "Database errors (failed queries and acquire timeouts)",
            m.errors_total.clone(),
        );
        registry.register("herald_db_operation_errors", "Database errors by operation", m.errors.clone());
        registry.register(
            "herald_db_pool_acquire_duration_seconds",
            "Time spent waiting for a pooled connection",
            m.acquire_seconds.clone(),
        );
        registry.register(
            "herald_db_slow_queries",
            "Queries slower than the slow-query threshold",
            m.slow_queries.clone(),
        );
        notifications.register_metrics(&mut registry);
        hub.register_metrics(&mut registry);
        Arc::new(Self { registry, requests, durations, pool, db })
    }

    /// The Prometheus text exposition, with pool gauges read now.
    pub fn render(&self) -> String {
        let f = self.db.figures();
        self.pool.size.set(i64::from(f.size));
        self.pool.idle.set(i64::from(f.idle));
        self.pool.in_use.set(i64::from(f.in_use));
        self.pool.waiting.set(i64::from(f.waiting));
        self.pool.max.set(i64::from(f.max));
        self.pool.utilization.set(f.utilization);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// Middleware: count and time each request under its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    // Unmatched paths share one label so scanners cannot explode cardinality.
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .durations
        .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
        .observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    response
}
