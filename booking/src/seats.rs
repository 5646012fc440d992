//! The seat map of one schedule: every seat with its price and whether it is
//! `available`, `held` or `sold`, for admitted users of the schedule's concert.
//! A hold whose time has run out shows as `available`, swept or not.

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
        (status = 200, description = "Every seat with its state and price", body = SeatMap),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 403, description = "NOT_ADMITTED: not in the concert's active set (or a session token); FORBIDDEN: an access token of another concert"),
        (status = 404, description = "SCHEDULE_NOT_FOUND"),
    ),
)]
#[tracing::instrument(skip_all, fields(schedule_id = %schedule_id))]
async fn seat_map(
    Bearer(claims): Bearer,
    State(state): State<AppState>,
    Path(schedule_id): Path<ScheduleId>,
) -> Result<Json<SeatMap>, ApiError> {
    let now = domain::now();
    let schedule = state.catalog.schedule(schedule_id).await?;
    state
        .admission
        .require(&claims, schedule.concert_id, now.timestamp_millis())
        .await?;
    let seats = sqlx::query_as(
        "SELECT s.seat_number, s.price,
                CASE r.status WHEN 'confirmed' THEN 'sold'
                              WHEN 'held' THEN 'held'
                              ELSE 'available' END AS status
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
    .fetch_all(&state.db)
    .await?;
    Ok(Json(SeatMap { schedule_id, seats }))
}
