//! The gateway's error type: every failure of a handler, turned into the
//! problem+json of the contract. Infrastructure failures are logged with their
//! cause and answered with an opaque 503 (unreachable) or 500 (anything else).

use axum::response::{IntoResponse, Response};
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
        match self {
            ApiError::Problem(p) => p.into_response(),
            ApiError::Redis(e) => shared::infra::redis_problem(&e).into_response(),
            ApiError::Postgres(e) => shared::infra::pg_problem(&e).into_response(),
            ApiError::Protocol(cause) => {
                tracing::error!(error = %cause, "unexpected reply");
                Problem::internal().into_response()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
