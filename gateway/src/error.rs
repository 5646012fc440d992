//! The gateway's error type: every failure of a handler, turned into the
//! problem+json of the contract. Infrastructure failures are logged with their
//! cause and answered with an opaque 503 (unreachable) or 500 (anything else).

use axum::response::{IntoResponse, Response};
use shared::infra::{pg_is_unavailable, redis_is_unavailable};
use shared::{ErrorCode, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
}

impl ApiError {
    pub fn code(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::Problem(Problem::new(code, detail))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match self {
            ApiError::Problem(p) => p,
            ApiError::Redis(e) if redis_is_unavailable(&e) => {
                metrics::counter!("redis_errors_total").increment(1);
                tracing::warn!(error = %e, "redis unavailable");
                Problem::unavailable()
            }
            ApiError::Postgres(e) if pg_is_unavailable(&e) => {
                tracing::warn!(error = %e, "postgres unavailable");
                Problem::unavailable()
            }
            other => {
                if matches!(other, ApiError::Redis(_)) {
                    metrics::counter!("redis_errors_total").increment(1);
                }
                tracing::error!(error = %other, "request failed");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
