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
mod tests;
