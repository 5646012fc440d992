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

/// Wrap a finished router with the standard stack: problem+json for unknown
/// routes and methods, the limits of API.md (`Limits`: the per-address rate
/// limit, then the body timeout, the request timeout and load shedding, see
/// [`crate::serve`] and [`crate::limits::address`]), panics turned into an
/// opaque 500, HTTP metrics, the request id (so every log line and problem
/// body carries it) and, outermost, `cors` when the service answers
/// cross-origin requests.
///
/// The middleware is one `from_fn` layer ([`standard`]), applied with one
/// `Router::layer` call: axum boxes each route's service once per such call
/// and clones the whole chain for every request, and each `from_fn` boxes
/// its future and its `Next`. One layer instead of eight spares each request
/// dozens of allocations (docs/benchmarks.md, "The seat map").
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

/// The standard middleware, outermost first: the request id, a panic turned
/// into an opaque `500` problem+json, the HTTP metrics, the per-address
/// budget, the body read, the request deadline and the worker slot.
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

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use axum::routing::{get, post};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::limits::RateLimitSettings;
    use crate::serve::ServeSettings;

    /// A router with the standard stack, a 1 ms request timeout, one worker
    /// slot, no queue and 1 request/s (burst 2) per address without a token.
    fn app() -> Router {
        let _ = telemetry::metrics_handle();
        let serving = Serving::new(ServeSettings {
            request_timeout: std::time::Duration::from_millis(1),
            max_concurrent_requests: 1,
            max_queued_requests: 0,
            ..ServeSettings::default()
        });
        let addresses = Arc::new(AddressLimiter::new(&RateLimitSettings {
            ip_per_sec: 1,
            ..RateLimitSettings::default()
        }));
        let routes = Router::new()
            .route("/stack-test/items/{id}", get(|| async { "item" }))
            .route(
                "/stack-test/panics",
                get(|| async {
                    if true {
                        panic!("a bug");
                    }
                    "never"
                }),
            )
            .route("/stack-test/slow", get(std::future::pending::<()>))
            .route("/stack-test/echo", post(|body: String| async move { body }));
        with_standard_layers(routes, &serving, &addresses, None)
    }

    fn get_from(path: &str, peer: [u8; 4]) -> Request<Body> {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 4000))));
        request
    }

    async fn problem(response: Response) -> serde_json::Value {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_an_opaque_500_with_the_request_id() {
        let mut request = get_from("/stack-test/panics", [10, 0, 0, 1]);
        request
            .headers_mut()
            .insert(request_id::HEADER, "trace-me".parse().unwrap());
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[request_id::HEADER], "trace-me");
        let body = problem(response).await;
        assert_eq!(body["code"], "INTERNAL");
        assert_eq!(body["request_id"], "trace-me");
        assert!(!body.to_string().contains("a bug"), "{body}");
    }

    #[tokio::test]
    async fn every_answer_carries_a_request_id_and_is_counted_by_route_template() {
        let response = app()
            .oneshot(get_from("/stack-test/items/42", [10, 0, 0, 2]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()[request_id::HEADER].to_str().unwrap();
        assert_eq!(id.len(), 32, "a fresh id: {id}");
        let metrics = telemetry::render_metrics();
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with("http_requests_total")
                    && line.contains(r#"route="/stack-test/items/{id}""#)
                    && line.contains(r#"status="200""#)),
            "{metrics}"
        );
        assert!(!metrics.contains("/stack-test/items/42"));
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_answer_problem_json() {
        let app = app();
        let missing = app
            .clone()
            .oneshot(get_from("/stack-test/nothing", [10, 0, 0, 3]))
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem(missing).await["code"], "NOT_FOUND");
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
                .oneshot(get_from("/stack-test/slow", peer))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(problem(response).await["code"], "UNAVAILABLE");
        }
        // The one slot is free again: the timed-out handlers gave it back.
        let response = app
            .oneshot(get_from("/stack-test/items/1", [10, 0, 0, 8]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
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
