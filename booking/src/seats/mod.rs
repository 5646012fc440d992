//! The seat map of one schedule: every seat with its price, whether it is
//! `available`, `held` or `sold`, and whether it is the caller's (`mine`),
//! for admitted users of the schedule's concert (API.md, Booking).
//!
//! Each request reads the schedule's seat-map version from Redis (sent
//! together with the admission check) and takes the replica's snapshot for that
//! version ([`snapshot`]: Postgres's seats and Redis's seat locks, loaded
//! only when a lock, hold, release or payment has changed the schedule
//! since, or once a second). The statuses are worked out for the request's
//! `now`: a hold whose time has run out shows as `available`, swept or not;
//! a seat whose lock was won but whose hold is not yet written shows as
//! `held`, never `available`. A lock lives from before its hold is written
//! until after the hold's end (payment, release, failed write or timeout)
//! is, and the version changes in the same step as the lock is taken or
//! goes, so at any moment the lock or the hold in the snapshot shows the
//! seat taken (ARCHITECTURE.md, "The seat map", gives the whole argument).

pub mod snapshot;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::extract::Path;
use shared::ids::ScheduleId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Bearer;
use crate::domain;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(seat_map))
}

/// Every seat of a schedule, by number.
#[derive(Serialize, ToSchema)]
struct SeatMap {
    schedule_id: ScheduleId,
    /// Seats `1..=total_seats` in order.
    seats: Vec<Seat>,
}

#[derive(Serialize, ToSchema)]
struct Seat {
    /// `1..=total_seats` of the schedule (50 unless created with another count).
    #[schema(minimum = 1, maximum = 1000)]
    seat_number: i32,
    status: SeatStatus,
    /// KRW.
    #[schema(minimum = 0, maximum = 10_000_000)]
    price: i64,
    /// The caller's own live hold or purchase of this seat.
    mine: bool,
}

/// A seat's state at the time of the answer: a hold whose time ran out is
/// `available`; a seat whose Redis lock is taken but whose hold is not yet
/// written shows as `held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum SeatStatus {
    Available,
    Held,
    Sold,
}

#[utoipa::path(
    get,
    path = "/v1/schedules/{schedule_id}/seats",
    tag = "catalog",
    summary = "Seat map of a schedule (admitted)",
    params(("schedule_id" = ScheduleId, Path, description = "The schedule")),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "Every seat with its state, its price and whether it is the caller's", body = SeatMap),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 403, description = "NOT_ADMITTED: not in the concert's active set (or a session token); FORBIDDEN: an access token of another concert"),
        (status = 404, description = "SCHEDULE_NOT_FOUND"),
    ),
)]
#[tracing::instrument(skip_all, fields(schedule_id = %schedule_id))]
async fn seat_map(
    claims: Bearer,
    State(state): State<AppState>,
    Path(schedule_id): Path<ScheduleId>,
) -> Result<Response, ApiError> {
    let now = domain::now();
    let schedule = state.catalog.schedule(schedule_id).await?;
    let version = state
        .admission
        .require_with_seats_version(&claims.0, &schedule, now.timestamp_millis())
        .await?;
    let snapshot = state
        .seat_maps
        .snapshot(&state.redis, &schedule, version, now)
        .await?;
    let body = snapshot.body(claims.user_id(), now)?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}
