//! The one error type of the service's handlers and its problem+json form.
//!
//! Client errors carry a [`Problem`] written for the client. Infrastructure
//! errors are logged with their cause and answered opaquely: `503
//! UNAVAILABLE` (with `Retry-After`) when Redis or Postgres cannot be
//! reached, `500 INTERNAL` otherwise. No SQL or internal message ever reaches
//! the client.

use axum::response::{IntoResponse, Response};
use shared::infra::{pg_is_unavailable, redis_is_unavailable};
use shared::{ErrorCode, Problem};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An answer for the client: 4xx, or a deliberate 503.
    #[error(transparent)]
    Client(#[from] Problem),
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Anything else that is our fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// A client error with `code` and a `detail` for the client.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::Client(Problem::new(code, detail))
    }

    /// The code this error answers with (for metrics and tests).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Client(p) => p.code,
            ApiError::Database(e) if pg_is_unavailable(e) => ErrorCode::Unavailable,
            ApiError::Redis(e) if redis_is_unavailable(e) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Client(problem) => problem.into_response(),
            ApiError::Database(e) => shared::infra::pg_problem(&e).into_response(),
            ApiError::Redis(e) => shared::infra::redis_problem(&e).into_response(),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Problem::internal().into_response()
            }
        }
    }
}

/// Whether `e` is a violation of the constraint or unique index `name`.
pub fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some(name))
}
