//! Browsing: the list of concerts (public) and a concert's upcoming
//! schedules with their free seats (admitted users of that concert).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::extract::{Json, Path};
use shared::ids::ConcertId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Bearer;
use crate::domain::{self, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_concerts))
        .routes(routes!(list_schedules))
}

/// A concert, with its dates and prices over its upcoming schedules
/// (API.md, Booking: `GET /v1/concerts`).
#[derive(Serialize, sqlx::FromRow, ToSchema)]
struct Concert {
    #[schema(minimum = 1)]
    concert_id: i64,
    title: String,
    venue: String,
    /// Start of the soonest upcoming schedule (RFC 3339 UTC, with
    /// milliseconds); `null` when none is upcoming.
    #[serde(serialize_with = "rfc3339_or_null")]
    #[schema(value_type = Option<String>, format = DateTime)]
    first_starts_at: Option<DateTime<Utc>>,
    /// The lowest seat price of the upcoming schedules, KRW, sold seats
    /// included; `null` when none is upcoming.
    #[schema(minimum = 0, maximum = 10_000_000)]
    min_price: Option<i64>,
    /// The highest seat price of the upcoming schedules, KRW; `null` when
    /// none is upcoming.
    #[schema(minimum = 0, maximum = 10_000_000)]
    max_price: Option<i64>,
}

fn rfc3339_or_null<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/concerts",
    tag = "catalog",
    summary = "List concerts",
    security(()),
    responses((status = 200, description = "Every concert, by id, with the first date and the price range of its upcoming schedules", body = Vec<Concert>)),
)]
#[tracing::instrument(skip_all)]
async fn list_concerts(State(state): State<AppState>) -> Result<Json<Vec<Concert>>, ApiError> {
    let now = domain::now();
    // Upcoming: starting after now, as in the schedule list.
    let concerts = sqlx::query_as(
        "SELECT c.concert_id, c.title, c.venue,
                u.first_starts_at, p.min_price, p.max_price
         FROM concerts c
         LEFT JOIN LATERAL (
             SELECT min(sc.starts_at) AS first_starts_at FROM schedules sc
             WHERE sc.concert_id = c.concert_id AND sc.starts_at > $1
         ) u ON true
         LEFT JOIN LATERAL (
             SELECT min(st.price) AS min_price, max(st.price) AS max_price
             FROM schedules sc JOIN seats st USING (schedule_id)
             WHERE sc.concert_id = c.concert_id AND sc.starts_at > $1
         ) p ON true
         ORDER BY c.concert_id",
    )
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(concerts))
}

/// One upcoming date of a concert and how many of its seats are free.
#[derive(Serialize, sqlx::FromRow, ToSchema)]
struct ScheduleSummary {
    #[schema(minimum = 1)]
    schedule_id: i64,
    /// RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    starts_at: DateTime<Utc>,
    /// Seats of the schedule (50 unless the concert was created with another count).
    #[schema(minimum = 1, maximum = 1000)]
    total_seats: i32,
    /// Seats neither held (a live hold) nor sold.
    #[schema(minimum = 0, maximum = 1000)]
    available_seats: i64,
}

#[utoipa::path(
    get,
    path = "/v1/concerts/{concert_id}/schedules",
    tag = "catalog",
    summary = "Upcoming schedules of a concert (admitted)",
    params(("concert_id" = ConcertId, Path, description = "The concert")),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "Upcoming schedules, soonest first", body = Vec<ScheduleSummary>),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token (a queue ticket is never accepted)"),
        (status = 403, description = "NOT_ADMITTED: not in the concert's active set (or a session token); FORBIDDEN: an access token of another concert"),
        (status = 404, description = "CONCERT_NOT_FOUND"),
    ),
)]
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
