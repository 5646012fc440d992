//! What every HTTP service of the product has in common: the middleware
//! stack, problem+json fallbacks, liveness, metrics, and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::limits::AddressLimiter;
use crate::problem::{ErrorCode, Problem};
use crate::serve::Serving;
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
/// The stack is one layer of the router: axum wraps (and boxes) each route
/// once per `Router::layer` call and clones that whole chain for every
/// request, so one call instead of eight saves the service dozens of
/// allocations per request (docs/benchmarks.md, "The seat map").
pub fn with_standard_layers(
    router: Router,
    serving: &Arc<Serving>,
    addresses: &Arc<AddressLimiter>,
    cors: Option<CorsLayer>,
) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    use crate::serve::{capacity, request};
    let router = router
        .fallback(|| async { Problem::new(ErrorCode::NotFound, "no such resource") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this resource",
            )
        });
    // Outermost first.
    let stack = ServiceBuilder::new()
        .option_layer(cors)
        .layer(from_fn(request_id::layer))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("handler panicked");
                Problem::internal().into_response()
            },
        ))
        .layer(from_fn(telemetry::http_metrics))
        .layer(from_fn_with_state(
            Arc::clone(addresses),
            crate::limits::address::layer,
        ))
        .layer(from_fn_with_state(Arc::clone(serving), request::read_body))
        .layer(from_fn_with_state(Arc::clone(serving), request::deadline))
        .layer(from_fn_with_state(Arc::clone(serving), capacity::layer));
    router.layer(stack)
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
