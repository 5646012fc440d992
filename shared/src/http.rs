//! What every HTTP service of the product has in common: the middleware
//! stack, problem+json fallbacks, liveness, metrics, and graceful shutdown.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::limits::{AddressLimiter, address};
use crate::problem::{ErrorCode, Problem};
use crate::serve::{self, Serving};
use crate::{request_id, telemetry};

/// Routes every service serves the same way: `/healthz` and `/metrics`.
pub fn common_routes<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

/// Liveness: the process answers; no dependency is asked (API.md, Both services).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness: the process is alive (no dependencies are asked)",
    responses((status = 200, description = "Alive", content_type = "text/plain", body = String, example = "ok")),
)]
async fn healthz() -> &'static str {
    "ok"
}

/// The Prometheus text exposition of the service's metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics (text format 0.0.4)",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)),
)]
async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        telemetry::render_metrics(),
    )
        .into_response()
}

/// Wrap a finished router with the standard stack, outermost first:
///
/// 1. `cors`, when the service answers cross-origin requests (booking);
/// 2. the request id ([`request_id`]), so every log line and problem body of
///    the request carries it;
/// 3. a panic turned into an opaque `500 INTERNAL` problem+json;
/// 4. the HTTP metrics by route template ([`telemetry`]);
/// 5. the per-address budget, `429 RATE_LIMITED` ([`crate::limits::address`]);
/// 6. the body read, `408` ([`crate::serve::request`]);
/// 7. the request deadline, `503 UNAVAILABLE` ([`crate::serve::request`]);
/// 8. the worker slot, `503 UNAVAILABLE` when the queue is full
///    ([`crate::serve::capacity`]);
///
/// then the route, or the problem+json `404 NOT_FOUND` / `405
/// METHOD_NOT_ALLOWED` fallbacks, which go through the same stack. The
/// limits are API.md's ("Limits"); probes skip 5 and 8.
///
/// Steps 2–8 are one `from_fn` layer (`standard`), applied with CORS in
/// one `Router::layer` call: axum boxes each route once per such call and
/// clones that chain for every request, and each `from_fn` boxes its future
/// and its `Next`. With one layer instead of eight, booking spends 0.75–0.83×
/// the CPU per seat-map read (docs/benchmarks.md, "Step 3: one middleware
/// layer instead of eight").
pub fn with_standard_layers(
    router: Router,
    serving: &Arc<Serving>,
    addresses: &Arc<AddressLimiter>,
    cors: Option<CorsLayer>,
) -> Router {
    let router = router
        .fallback(|| async { Problem::new(ErrorCode::NotFound, "no such resource") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this resource",
            )
        });
    let stack = Standard {
        serving: Arc::clone(serving),
        addresses: Arc::clone(addresses),
    };
    router.layer(ServiceBuilder::new().option_layer(cors).layer(
        axum::middleware::from_fn_with_state(Arc::new(stack), standard),
    ))
}

/// What [`standard`] needs of the process.
struct Standard {
    serving: Arc<Serving>,
    addresses: Arc<AddressLimiter>,
}

/// Steps 2–8 of [`with_standard_layers`], each piece calling the next.
async fn standard(State(stack): State<Arc<Standard>>, request: Request, next: Next) -> Response {
    let Standard { serving, addresses } = &*stack;
    request_id::layer(request, async move |request| {
        let handled = telemetry::http_metrics(request, async move |request| {
            address::layer(addresses, request, async move |request| {
                serve::request::read_body(serving, request, async move |request| {
                    serve::request::deadline(serving, request, async move |request| {
                        serve::capacity::layer(serving, request, async move |request| {
                            next.run(request).await
                        })
                        .await
                    })
                    .await
                })
                .await
            })
            .await
        });
        AssertUnwindSafe(handled)
            .catch_unwind()
            .await
            .unwrap_or_else(|_panic| {
                tracing::error!("handler panicked");
                Problem::internal().into_response()
            })
    })
    .await
}

/// Set once shutdown begins; `/readyz` answers 503 from then on so load
/// balancers stop sending traffic while in-flight requests drain.
#[derive(Clone, Default)]
pub struct ShutdownFlag(Arc<AtomicBool>);

impl ShutdownFlag {
    pub fn is_shutting_down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn trigger(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Resolves on SIGTERM or Ctrl-C, after marking the service as shutting down.
pub async fn shutdown_signal(flag: ShutdownFlag) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received, draining");
    flag.trigger();
}

/// Check `Authorization: Bearer <ADMIN_TOKEN>`. With no admin token
/// configured, admin endpoints are closed to everyone (403). The comparison
/// takes the same time whatever the guess.
pub fn check_admin(
    headers: &axum::http::HeaderMap,
    configured: Option<&secrecy::SecretString>,
) -> Result<(), Problem> {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let denied = || Problem::forbidden("this endpoint needs the admin token");
    let expected = configured.ok_or_else(denied)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(denied)?;
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.expose_secret().as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        crate::limits::note_verified();
        Ok(())
    } else {
        Err(denied())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use axum::routing::{get, post};
    use http_body_util::BodyExt;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;
    use crate::limits::RateLimitSettings;
    use crate::serve::ServeSettings;

    /// A router with the standard stack, one worker slot and no queue,
    /// requests due within `request_timeout`, and 1 request/s (burst 2) per
    /// address without a token. `/stack-test/held` takes the slot, tells
    /// `held` and never answers.
    fn app_with(request_timeout: Duration, held: Arc<Notify>) -> Router {
        let _ = telemetry::metrics_handle();
        let serving = Serving::new(ServeSettings {
            request_timeout,
            max_concurrent_requests: 1,
            max_queued_requests: 0,
            ..ServeSettings::default()
        });
        let addresses = Arc::new(AddressLimiter::new(&RateLimitSettings {
            ip_per_sec: 1,
            ..RateLimitSettings::default()
        }));
        let routes = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/stack-test/items/{id}", get(|| async { "item" }))
            .route("/stack-test/counted/{id}", get(|| async { "counted" }))
            .route(
                "/stack-test/panics",
                get(|| async {
                    if true {
                        panic!("a bug");
                    }
                    "never"
                }),
            )
            .route(
                "/stack-test/held",
                get(async move || {
                    held.notify_one();
                    std::future::pending::<()>().await;
                }),
            )
            .route("/stack-test/echo", post(|body: String| async move { body }));
        with_standard_layers(routes, &serving, &addresses, None)
    }

    /// [`app_with`] with requests due within 1 ms.
    fn app() -> Router {
        app_with(Duration::from_millis(1), Arc::new(Notify::new()))
    }

    fn get_from(path: &str, peer: [u8; 4]) -> Request<Body> {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 4000))));
        request
    }

    /// The problem+json body of `response`, after checking that it carries
    /// the same request id as its header.
    async fn problem(response: Response) -> serde_json::Value {
        let id = response.headers()[request_id::HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["request_id"], id.as_str(), "{body}");
        body
    }

    /// The `http_requests_total` series of `route` and `status`, 0 if none.
    fn requests_counted(route: &str, status: u16) -> f64 {
        let labels = [
            format!(r#"route="{route}""#),
            format!(r#"status="{status}""#),
        ];
        telemetry::render_metrics()
            .lines()
            .filter(|line| line.starts_with("http_requests_total{"))
            .filter(|line| labels.iter().all(|label| line.contains(label.as_str())))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_an_opaque_500_with_the_request_id_and_frees_its_slot() {
        let app = app();
        let mut request = get_from("/stack-test/panics", [10, 0, 0, 1]);
        request
            .headers_mut()
            .insert(request_id::HEADER, "trace-me".parse().unwrap());
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[request_id::HEADER], "trace-me");
        let body = problem(response).await;
        assert_eq!(body["code"], "INTERNAL");
        assert!(!body.to_string().contains("a bug"), "{body}");
        // The one slot came back when the handler unwound.
        let response = app
            .oneshot(get_from("/stack-test/items/1", [10, 0, 0, 1]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn every_answer_carries_a_request_id_and_is_counted_by_route_template() {
        let before = requests_counted("/stack-test/counted/{id}", 200);
        let response = app()
            .oneshot(get_from("/stack-test/counted/42", [10, 0, 0, 2]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()[request_id::HEADER].to_str().unwrap();
        assert_eq!(id.len(), 32, "a fresh id: {id}");
        assert_eq!(
            requests_counted("/stack-test/counted/{id}", 200),
            before + 1.0
        );
        assert!(!telemetry::render_metrics().contains("/stack-test/counted/42"));
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_answer_problem_json_through_the_stack() {
        let app = app();
        let unmatched = requests_counted(telemetry::UNMATCHED_ROUTE, 404);
        let missing = app
            .clone()
            .oneshot(get_from("/stack-test/nothing", [10, 0, 0, 3]))
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem(missing).await["code"], "NOT_FOUND");
        assert!(requests_counted(telemetry::UNMATCHED_ROUTE, 404) > unmatched);
        let mut wrong = get_from("/stack-test/items/1", [10, 0, 0, 4]);
        *wrong.method_mut() = axum::http::Method::DELETE;
        let wrong = app.oneshot(wrong).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(problem(wrong).await["code"], "METHOD_NOT_ALLOWED");
    }

    #[tokio::test]
    async fn an_address_past_its_budget_is_refused_with_retry_after() {
        let app = app();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let response = app
                .clone()
                .oneshot(get_from("/stack-test/items/1", [10, 0, 0, 5]))
                .await
                .unwrap();
            statuses.push(response.status());
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(problem(response).await["code"], "RATE_LIMITED");
            }
        }
        assert_eq!(statuses[..2], [StatusCode::OK, StatusCode::OK]);
        assert!(
            statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_answers_503_and_frees_its_slot() {
        let app = app();
        for peer in [[10, 0, 0, 6], [10, 0, 0, 7]] {
            let response = app
                .clone()
                .oneshot(get_from("/stack-test/held", peer))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key("retry-after"));
            let body = problem(response).await;
            assert_eq!(body["code"], "UNAVAILABLE");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("was not answered within"),
                "a timeout, not a shed: {body}"
            );
        }
        // The one slot is free again: the timed-out handlers gave it back.
        let response = app
            .oneshot(get_from("/stack-test/items/1", [10, 0, 0, 8]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn probes_answer_with_every_slot_taken_and_the_address_over_budget() {
        let held = Arc::new(Notify::new());
        let app = app_with(Duration::from_secs(60), Arc::clone(&held));
        let holder = tokio::spawn(
            app.clone()
                .oneshot(get_from("/stack-test/held", [10, 0, 0, 10])),
        );
        held.notified().await;
        // The one slot is taken and nothing may queue: a request is shed...
        let shed = app
            .clone()
            .oneshot(get_from("/stack-test/items/1", [10, 0, 0, 11]))
            .await
            .unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            problem(shed).await["detail"]
                .as_str()
                .unwrap()
                .contains("at capacity")
        );
        // ...and the holder's address soon goes past its budget (shed
        // requests count against it).
        let mut statuses = Vec::new();
        while statuses.last() != Some(&StatusCode::TOO_MANY_REQUESTS) {
            assert!(statuses.len() < 4, "never refused: {statuses:?}");
            let response = app
                .clone()
                .oneshot(get_from("/stack-test/items/1", [10, 0, 0, 10]))
                .await
                .unwrap();
            statuses.push(response.status());
        }
        for _ in 0..3 {
            let probe = app
                .clone()
                .oneshot(get_from("/healthz", [10, 0, 0, 10]))
                .await
                .unwrap();
            assert_eq!(probe.status(), StatusCode::OK);
        }
        holder.abort();
    }

    #[tokio::test]
    async fn a_body_reaches_the_handler_whole_up_to_the_limit_and_cut_past_it() {
        use crate::extract::MAX_BODY_BYTES;
        for (sent, received) in [
            (MAX_BODY_BYTES, MAX_BODY_BYTES),
            (MAX_BODY_BYTES + 100_000, MAX_BODY_BYTES + 1),
        ] {
            let mut request = Request::post("/stack-test/echo")
                .body(Body::from("x".repeat(sent)))
                .unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 9], 4000))));
            let response = app().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let echoed = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(echoed.len(), received, "{sent} bytes sent");
        }
    }
}
