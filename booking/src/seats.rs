//! The seat map of one schedule: every seat with its price, whether it is
//! `available`, `held` or `sold`, and whether it is the caller's (`mine`),
//! for admitted users of the schedule's concert (API.md, Booking).
//!
//! Postgres gives the holds and sales (a hold whose time has run out shows
//! as `available`, swept or not); the schedule's Redis seat locks are read
//! at the same time and laid over it, so a seat whose lock was won but whose
//! hold is not yet written shows as `held`, never `available`. A lock lives
//! from before its hold is written until after the hold's end (payment,
//! release, failed write or timeout) is, so at any moment one of the two
//! reads shows the seat taken.

use axum::extract::State;
use serde::Serialize;
use shared::extract::{Json, Path};
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

#[derive(Serialize, sqlx::FromRow, ToSchema)]
struct Seat {
    /// `1..=total_seats` of the schedule (50 unless created with another count).
    #[schema(minimum = 1, maximum = 1000)]
    seat_number: i32,
    #[schema(value_type = SeatStatus)]
    status: String,
    /// KRW.
    #[schema(minimum = 0, maximum = 10_000_000)]
    price: i64,
    /// The caller's own live hold or purchase of this seat.
    mine: bool,
}

/// A seat's state at the time of the answer: a hold whose time ran out is
/// `available`; a seat whose Redis lock is taken but whose hold is not yet
/// written shows as `held`. (The values of the `CASE` in [`seat_map`].)
#[derive(Serialize, ToSchema)]
#[expect(dead_code, reason = "documents the values of Seat::status")]
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
    state
        .admission
        .require(&claims.0, schedule.concert_id, now.timestamp_millis())
        .await?;
    // A seat is the caller's while their reservation of it is confirmed, or
    // held and not yet timed out.
    let rows = sqlx::query_as(
        "SELECT s.seat_number, s.price,
                CASE r.status WHEN 'confirmed' THEN 'sold'
                              WHEN 'held' THEN 'held'
                              ELSE 'available' END AS status,
                COALESCE(r.user_id = $3, false) AS mine
         FROM seats s
         LEFT JOIN reservations r
                ON r.schedule_id = s.schedule_id
               AND r.seat_number = s.seat_number
               AND r.status IN ('held', 'confirmed')
               AND (r.status = 'confirmed' OR r.expires_at > $2)
         WHERE s.schedule_id = $1
         ORDER BY s.seat_number",
    )
    .bind(schedule_id.get())
    .bind(now)
    .bind(claims.user_id().get())
    .fetch_all(&state.db);
    let locks = state.redis.locked_seats(schedule_id, schedule.total_seats);
    let (mut seats, locked): (Vec<Seat>, Vec<bool>) =
        tokio::try_join!(async { rows.await.map_err(ApiError::from) }, async {
            locks.await.map_err(ApiError::from)
        },)?;
    overlay_locks(&mut seats, &locked);
    Ok(Json(SeatMap { schedule_id, seats }))
}

/// Show as `held` every `available` seat whose Redis lock is taken
/// (`locked[n - 1]` for seat `n`): its hold is being written.
fn overlay_locks(seats: &mut [Seat], locked: &[bool]) {
    for seat in seats {
        let taken = usize::try_from(seat.seat_number - 1)
            .ok()
            .and_then(|i| locked.get(i))
            .copied()
            .unwrap_or(false);
        if taken && seat.status == "available" {
            seat.status = "held".to_owned();
        }
    }
}
