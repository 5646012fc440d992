//! The seat map of one schedule: every seat with its price and whether it is
//! `available`, `held` or `sold`, for admitted users of the schedule's concert.
//! A hold whose time has run out shows as `available`, swept or not.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use shared::extract::{Json, Path};
use shared::ids::ScheduleId;

use crate::auth::Bearer;
use crate::domain;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/schedules/{schedule_id}/seats", get(seat_map))
}

#[derive(Serialize)]
struct SeatMap {
    schedule_id: ScheduleId,
    seats: Vec<Seat>,
}

#[derive(Serialize, sqlx::FromRow)]
struct Seat {
    seat_number: i32,
    status: String,
    price: i64,
}

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
