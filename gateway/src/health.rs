//! `GET /readyz`: ready when Redis and Postgres answer within 200 ms and the
//! schema exists; not ready as soon as shutdown begins, nor while the service
//! sheds load (`shared::serve::capacity`). The body of a ready answer also
//! says when this gateway last rebuilt a queue that Redis had lost (see
//! [`crate::recovery`]): the service is ready again by then.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use shared::{ErrorCode, Problem};

use crate::state::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// `200 ready`, or `503 UNAVAILABLE` problem+json (with `Retry-After`)
/// saying which dependency is missing, or that shutdown began.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: Redis and Postgres answer within 200 ms and the schema exists",
    security(()),
    responses(
        (status = 200, description = "Ready", content_type = "text/plain", body = String, example = "ready"),
        (status = 503, description = "UNAVAILABLE: not ready, or shutting down"),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match check(&state).await {
        Ok(()) => (StatusCode::OK, ready_body(&state)).into_response(),
        Err(why) => Problem::new(ErrorCode::Unavailable, why).into_response(),
    }
}

/// `ready`, or `ready; recovered from a Redis data loss at <RFC 3339>
/// (concert <id>; <n> queues rebuilt since start)`.
fn ready_body(state: &AppState) -> String {
    match state.recoveries.last() {
        None => "ready".to_owned(),
        Some((at_ms, concert, count)) => {
            let at = chrono::DateTime::from_timestamp_millis(at_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            format!(
                "ready; recovered from a Redis data loss at {at} (concert {concert}; {count} queues rebuilt since start)"
            )
        }
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
    let redis = async {
        let mut conn = state.redis.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    };
    let postgres = async {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass('public.users') IS NOT NULL AND to_regclass('public.concerts') IS NOT NULL")
            .fetch_one(&state.db)
            .await
            .unwrap_or(false)
    };
    let checks = async { tokio::join!(redis, postgres) };
    match tokio::time::timeout(PROBE_TIMEOUT, checks).await {
        Ok((true, true)) => Ok(()),
        Ok((redis_ok, pg_ok)) => Err(format!(
            "not ready: redis={redis_ok} postgres_schema={pg_ok}"
        )),
        Err(_) => Err("not ready: dependency timeout".into()),
    }
}
