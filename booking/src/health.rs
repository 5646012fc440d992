//! Readiness. Liveness (`/healthz`) and `/metrics`
//! come from `shared::http::common_routes`.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use shared::{ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// How long Redis and Postgres each get to answer a readiness probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(readyz))
}

/// `200` when both Redis and Postgres answer within [`PROBE_TIMEOUT`];
/// `503` otherwise, from the moment shutdown begins, and while the service
/// sheds load (`shared::serve::capacity`).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: Redis and Postgres answer within 200 ms; 503 once shutdown starts or while shedding load",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Object, example = json!({"status": "ready"})),
        (status = 503, description = "UNAVAILABLE: not ready, shutting down, or shedding load"),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match check(&state).await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(why) => Problem::new(ErrorCode::Unavailable, why).into_response(),
    }
}

/// The readiness verdict, also exported as the `service_ready` gauge.
pub async fn check(state: &AppState) -> Result<(), String> {
    if state.shutdown.is_shutting_down() {
        return Err("shutting down".into());
    }
    if state.serving.is_shedding() {
        return Err("shedding load: at capacity".into());
    }
    let redis = tokio::time::timeout(PROBE_TIMEOUT, state.redis.ping());
    let postgres = tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&state.db));
    let (redis, postgres) = tokio::join!(redis, postgres);
    let redis_ok = matches!(redis, Ok(Ok(())));
    let postgres_ok = matches!(postgres, Ok(Ok(_)));
    if redis_ok && postgres_ok {
        return Ok(());
    }
    let down: Vec<&str> = [
        (!redis_ok).then_some("redis"),
        (!postgres_ok).then_some("postgres"),
    ]
    .into_iter()
    .flatten()
    .collect();
    Err(format!("not ready: {} not answering", down.join(" and ")))
}
