//! The problem+json error envelope (RFC 9457) both services answer with.
//!
//! Every non-2xx response goes through [`Problem`], so the body always carries
//! a stable [`ErrorCode`] and the id of the request. Infrastructure errors are
//! turned into an opaque 500/503 by the services before they get here: the
//! `detail` of a problem is always written for the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

/// The stable error codes of the API contract (API.md, Errors). Each is
/// always sent with the same HTTP status ([`ErrorCode::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    Unauthenticated,
    NotAdmitted,
    Forbidden,
    UserNotFound,
    ConcertNotFound,
    ScheduleNotFound,
    SeatNotFound,
    ReservationNotFound,
    TicketNotFound,
    /// A path no route serves (not one of the contract's resources).
    NotFound,
    /// A route that exists, called with a method it does not serve.
    MethodNotAllowed,
    SeatUnavailable,
    HoldExpired,
    AlreadyPaid,
    InsufficientBalance,
    HoldLimitReached,
    IdempotencyInProgress,
    /// The request's body did not arrive within the body timeout (API.md,
    /// Limits: `408`; the contract names no code for it).
    RequestTimeout,
    PayloadTooLarge,
    IdempotencyKeyReused,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The HTTP status each code is always sent with.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidRequest => StatusCode::BAD_REQUEST,
            Unauthenticated => StatusCode::UNAUTHORIZED,
            NotAdmitted | Forbidden => StatusCode::FORBIDDEN,
            UserNotFound | ConcertNotFound | ScheduleNotFound | SeatNotFound
            | ReservationNotFound | TicketNotFound | NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SeatUnavailable
            | HoldExpired
            | AlreadyPaid
            | InsufficientBalance
            | HoldLimitReached
            | IdempotencyInProgress => StatusCode::CONFLICT,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "Invalid request",
            Unauthenticated => "Unauthenticated",
            NotAdmitted => "Not admitted",
            Forbidden => "Forbidden",
            UserNotFound => "User not found",
            ConcertNotFound => "Concert not found",
            ScheduleNotFound => "Schedule not found",
            SeatNotFound => "Seat not found",
            ReservationNotFound => "Reservation not found",
            TicketNotFound => "Ticket not found",
            NotFound => "Not found",
            MethodNotAllowed => "Method not allowed",
            SeatUnavailable => "Seat unavailable",
            HoldExpired => "Hold expired",
            AlreadyPaid => "Already paid",
            InsufficientBalance => "Insufficient balance",
            HoldLimitReached => "Hold limit reached",
            IdempotencyInProgress => "Idempotent request in progress",
            RequestTimeout => "Request timeout",
            PayloadTooLarge => "Payload too large",
            IdempotencyKeyReused => "Idempotency key reused",
            RateLimited => "Rate limited",
            Unavailable => "Service unavailable",
            Internal => "Internal error",
        }
    }
}

/// Seconds a client should wait before retrying a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

/// One problem+json response.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: ErrorCode,
    pub detail: String,
    pub retry_after: Option<u32>,
}

/// The body of every non-2xx answer: `application/problem+json` (RFC 9457)
/// with the contract's stable `code` (API.md, Errors). The OpenAPI documents
/// describe it as the one `Problem` schema.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub(crate) struct Body<'a> {
    /// Always `about:blank`: the `code` says what happened.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    kind: &'static str,
    /// A short, fixed summary of the code (e.g. `Seat unavailable`).
    title: &'static str,
    /// The HTTP status of the answer, repeated.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    code: ErrorCode,
    /// What went wrong, written for the client (never a stack trace or SQL).
    detail: &'a str,
    /// The request's id (also the `x-request-id` header): quote it when
    /// reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        let retry_after = match code {
            ErrorCode::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        Self {
            code,
            detail: detail.into(),
            retry_after,
        }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, detail)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, detail)
    }

    /// Redis or Postgres did not answer; the client should come back shortly.
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "a backing service is unavailable, retry shortly",
        )
    }

    /// Something failed that the client cannot fix; the cause is logged, not sent.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let body = Body {
            kind: "about:blank",
            title: self.code.title(),
            status: status.as_u16(),
            code: self.code,
            detail: &self.detail,
            request_id: request_id::current(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Problem {}
