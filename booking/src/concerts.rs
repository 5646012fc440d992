//! Browsing: the list of concerts (public) and a concert's upcoming
//! schedules with their free seats (admitted users of that concert).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::extract::{Json, Path};
use shared::ids::ConcertId;

use crate::auth::Bearer;
use crate::domain::{self, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/concerts", get(list_concerts))
        .route("/v1/concerts/{concert_id}/schedules", get(list_schedules))
}

#[derive(Serialize, sqlx::FromRow)]
struct Concert {
    concert_id: i64,
    title: String,
    venue: String,
}

#[tracing::instrument(skip_all)]
async fn list_concerts(State(state): State<AppState>) -> Result<Json<Vec<Concert>>, ApiError> {
    let concerts =
        sqlx::query_as("SELECT concert_id, title, venue FROM concerts ORDER BY concert_id")
            .fetch_all(&state.db)
            .await?;
    Ok(Json(concerts))
}

#[derive(Serialize, sqlx::FromRow)]
struct ScheduleSummary {
    schedule_id: i64,
    #[serde(serialize_with = "rfc3339")]
    starts_at: DateTime<Utc>,
    total_seats: i32,
    available_seats: i64,
}

#[tracing::instrument(skip_all, fields(concert_id = %concert))]
async fn list_schedules(
    Bearer(claims): Bearer,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> Result<Json<Vec<ScheduleSummary>>, ApiError> {
    let now = domain::now();
    state.catalog.require_concert(concert).await?;
    state
        .admission
        .require(&claims, concert, now.timestamp_millis())
        .await?;
    // A seat is taken while a reservation of it is confirmed, or held and
    // not yet timed out (the live-seat index answers this per schedule).
    let schedules = sqlx::query_as(
        "SELECT s.schedule_id, s.starts_at, s.total_seats,
                s.total_seats - (
                    SELECT count(*) FROM reservations r
                    WHERE r.schedule_id = s.schedule_id
                      AND r.status IN ('held', 'confirmed')
                      AND (r.status = 'confirmed' OR r.expires_at > $2)
                ) AS available_seats
         FROM schedules s
         WHERE s.concert_id = $1 AND s.starts_at > $2
         ORDER BY s.starts_at, s.schedule_id",
    )
    .bind(concert.get())
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(schedules))
}
