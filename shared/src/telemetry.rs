//! Logs and metrics: JSON logs with the request id on every line, a
//! Prometheus recorder with explicit histogram buckets, and per-route HTTP
//! request counters and latency histograms.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Latency buckets (seconds) for every `*_duration_seconds` histogram: fine
/// below 10 ms where the hot paths live, coarse up to the 2 s timeouts.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets (seconds) for the queue's waits, `queue_wait_*` histograms: from
/// a second to four hours, since an on-sale line can take that long.
pub const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// Buckets for the `queue_eta_*` histograms: the relative error of the
/// estimated wait, `|eta - real| / real` (0.2 = 20 %).
pub const RATIO_BUCKETS: &[f64] = &[0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0];

/// Install JSON logging to stdout, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init();
}

/// Logging for tests: silent unless `TEST_LOG` is set.
pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        init_logging();
    }
}

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. Several
/// applications in one process (tests) share it.
pub fn metrics_handle() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .expect("buckets are not empty")
                .set_buckets_for_metric(Matcher::Prefix("queue_wait_".into()), WAIT_BUCKETS)
                .expect("buckets are not empty")
                .set_buckets_for_metric(Matcher::Prefix("queue_eta_".into()), RATIO_BUCKETS)
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Render the metrics in the Prometheus text format.
pub fn render_metrics() -> String {
    let handle = metrics_handle();
    handle.run_upkeep();
    handle.render()
}

/// The `route` label of a request no route matched (API.md, Limits: labels
/// come from a closed set, never from the raw path).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` labels: the methods the API and browsers use, and `other`
/// for any other token a client sends (API.md, Limits), so invented methods
/// cannot grow the number of series.
pub const METHOD_LABELS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other",
];

/// The `method` label of `method`: itself when it is one of the seven in
/// [`METHOD_LABELS`], else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Part of [`crate::http::with_standard_layers`]: count requests and time them, labelled by route template
/// (`unmatched` when no route matched; never the raw path), method (see
/// [`method_label`]) and status, so the number of series is bounded by the
/// routes of the service whatever clients send.
pub(crate) async fn http_metrics(
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let start = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let response = next(request).await;
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let (requests, duration) = http_handles(route, method, response.status().as_u16());
    requests.increment(1);
    duration.record(start.elapsed().as_secs_f64());
    response
}

type HttpHandles = (metrics::Counter, metrics::Histogram);
/// Handles by (method label, status), then by route template.
type HandleCache = HashMap<(&'static str, u16), HashMap<Box<str>, HttpHandles>>;

thread_local! {
    /// The metric handles of each (method, status, route) this thread has
    /// served. Registering a labelled metric means building and hashing its
    /// key in the global registry, which costs more than a fast handler;
    /// after the first request it is a lookup in a small local map. Its keys
    /// are the closed label sets, so it stays as small as the series.
    static HTTP_HANDLES: RefCell<HandleCache> = RefCell::new(HashMap::new());
}

fn http_handles(route: &str, method: &'static str, status: u16) -> HttpHandles {
    HTTP_HANDLES.with(|cell| {
        let mut cache = cell.borrow_mut();
        let by_route = cache.entry((method, status)).or_default();
        if let Some(handles) = by_route.get(route) {
            return handles.clone();
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let handles = (
            metrics::counter!("http_requests_total", &labels),
            metrics::histogram!("http_request_duration_seconds", &labels),
        );
        by_route.insert(route.into(), handles.clone());
        handles
    })
}

/// Export the state of a Postgres pool: `db_pool_connections{state}` (in use,
/// idle) and `db_pool_max_connections`. Called periodically by each service.
#[expect(clippy::cast_precision_loss, reason = "pool sizes are tiny")]
pub fn record_pool(pool: &sqlx::PgPool) {
    let idle = pool.num_idle();
    let open = usize::try_from(pool.size()).unwrap_or(usize::MAX);
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(open.saturating_sub(idle) as f64);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
}
