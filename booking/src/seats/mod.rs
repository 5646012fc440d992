//! The seat map of one schedule: every seat with its price, whether it is
//! `available`, `held` or `sold`, and whether it is the caller's (`mine`),
//! for admitted users of the schedule's concert (API.md, Booking).
//!
//! Each request reads the schedule's Redis seat locks and seat-map version
//! (one `MGET`, in the admission check's round trip), takes the replica's snapshot of Postgres for that version
//! ([`snapshot`]: loaded only when a hold, release or payment has changed
//! the schedule since), and lays over it, for this request: the hold
//! expiries at `now` (a hold whose time has run out shows as `available`,
//! swept or not), the caller's `mine` flags, and the locks (a seat whose
//! lock was won but whose hold is not yet written shows as `held`, never
//! `available`; a lock that outlives its own timed-out hold by the moment
//! between the hold's `now` and its `SET` does not). A lock lives from
//! before its hold is written until after the hold's end (payment, release,
//! failed write or timeout) is, and the version changes in the same step as
//! the lock goes, so at any moment the lock or the snapshot shows the seat
//! taken (ARCHITECTURE.md, "The seat map", gives the whole argument).

pub mod snapshot;

use axum::extract::State;
use serde::Serialize;
use shared::extract::{Json, Path};
use shared::ids::ScheduleId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Bearer;
use crate::domain;
use crate::error::ApiError;
use crate::state::AppState;
use snapshot::Occupancy;

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
) -> Result<Json<SeatMap>, ApiError> {
    let now = domain::now();
    let schedule = state.catalog.schedule(schedule_id).await?;
    let locks = state
        .admission
        .require_with_seats(&claims.0, &schedule, now.timestamp_millis())
        .await?;
    let snapshot = state
        .seat_maps
        .snapshot(&state.redis, schedule_id, locks.version, now)
        .await?;
    let caller = claims.user_id();
    let seats = snapshot
        .seats
        .iter()
        .map(|seat| {
            let (status, mine) = match seat.state(caller, now) {
                Occupancy::Sold { mine } => (SeatStatus::Sold, mine),
                Occupancy::Held { mine } => (SeatStatus::Held, mine),
                Occupancy::Available
                    if lock_of(&locks.locks, seat.seat_number)
                        .is_some_and(|owner| !seat.timed_out_hold_is(owner, now)) =>
                {
                    (SeatStatus::Held, false)
                }
                Occupancy::Available => (SeatStatus::Available, false),
            };
            Seat {
                seat_number: seat.seat_number,
                status,
                price: seat.price,
                mine,
            }
        })
        .collect();
    Ok(Json(SeatMap { schedule_id, seats }))
}

/// The reservation id in seat `number`'s Redis lock (`locks[number - 1]`),
/// if it has one.
fn lock_of(locks: &[Option<Uuid>], number: i32) -> Option<Uuid> {
    usize::try_from(number - 1)
        .ok()
        .and_then(|i| locks.get(i))
        .copied()
        .flatten()
}
