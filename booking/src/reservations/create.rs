//! Taking a seat hold: Redis decides who may try, Postgres decides who wins.
//!
//! 1. `SET seat-lock <reservation id> NX PX <hold time>`: everyone but the
//!    first taker gets `409 SEAT_UNAVAILABLE` without touching Postgres.
//! 2. The winner writes the hold in one conditional transaction
//!    ([`store::hold`]), correct even if the lock was lost.
//! 3. If that write does not succeed, the lock is released, but only if it
//!    still holds this reservation's id.
//! 4. Either way, the schedule's seat-map version changes before the answer
//!    (`seats::snapshot`).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::ErrorCode;
use shared::extract::Json;
use shared::ids::ScheduleId;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, HoldOutcome, NewHold};
use crate::auth::Bearer;
use crate::domain::{self, SeatNumber};
use crate::error::ApiError;
use crate::state::AppState;

/// The seat to hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    schedule_id: ScheduleId,
    seat_number: SeatNumber,
}

#[utoipa::path(
    post,
    path = "/v1/reservations",
    tag = "reservations",
    summary = "Hold a seat for `HOLD_TTL_SECS` (admitted)",
    request_body(content = HoldRequest, content_type = "application/json"),
    security(("access_token" = [])),
    responses(
        (status = 201, description = "Held until `expires_at`", body = super::Reservation,
            headers(("Location" = String, description = "`/v1/reservations/{reservation_id}`"))),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 403, description = "NOT_ADMITTED: not in the concert's active set (or a session token); FORBIDDEN: an access token of another concert"),
        (status = 404, description = "SCHEDULE_NOT_FOUND / SEAT_NOT_FOUND (a seat number over the schedule's `total_seats`)"),
        (status = 409, description = "SEAT_UNAVAILABLE: held by someone else, sold, or the schedule has started; HOLD_LIMIT_REACHED: `MAX_SEATS_PER_USER` already held or bought"),
    ),
)]
#[tracing::instrument(skip_all, fields(schedule_id = %body.schedule_id, seat = %body.seat_number))]
pub async fn create(
    bearer: Bearer,
    State(state): State<AppState>,
    Json(body): Json<HoldRequest>,
) -> Result<Response, ApiError> {
    // A write of the user's budget (API.md, Limits).
    state.limits.user.check(bearer.user_id()).await?;
    let now = domain::now();
    let (schedule_id, seat) = (body.schedule_id, body.seat_number);
    let schedule = state.catalog.schedule(schedule_id).await?;
    schedule.require_seat(seat)?;
    state
        .admission
        .require(&bearer.0, schedule.concert_id, now.timestamp_millis())
        .await?;
    if schedule.starts_at <= now {
        return Err(ApiError::new(
            ErrorCode::SeatUnavailable,
            format!("schedule {schedule_id} has already started"),
        ));
    }

    let reservation_id = Uuid::new_v4();
    let ttl = state.settings.hold_ttl;
    let locked = match state
        .redis
        .try_lock_seat(schedule_id, seat, reservation_id, ttl)
        .await
    {
        Ok(locked) => locked,
        Err(e) if e.is_timeout() => {
            // A timed-out `SET NX` may still have taken the seat: take it back
            // (only if this reservation owns it), so that the seat is not
            // refused to everyone for the hold time with no hold behind it.
            // This runs after the `SET` on the same connection; if it fails
            // too, the lock expires by itself.
            if let Err(release) = state
                .redis
                .release_seat(schedule_id, seat, reservation_id)
                .await
            {
                metrics::counter!("redis_errors_total").increment(1);
                tracing::warn!(error = %release, "could not release the seat lock after a failed lock");
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if !locked {
        metrics::counter!("holds_total", "outcome" => "lost_redis").increment(1);
        return Err(seat_unavailable(schedule_id, seat));
    }

    let hold = NewHold {
        reservation_id,
        user: bearer.user_id(),
        schedule: schedule_id,
        seat,
        now,
        expires_at: now + ttl,
        max_per_user: state.settings.max_seats_per_user.into(),
    };
    let error = match store::hold(&state.db, &hold).await {
        Ok(HoldOutcome::Held(row)) => {
            metrics::counter!("holds_total", "outcome" => "won").increment(1);
            // Before answering, so that the next seat-map read anywhere shows
            // the hold as the caller's (`seats::snapshot`).
            if let Err(e) = state.redis.bump_seats_version(schedule_id).await {
                // The seat still shows `held` (its lock); the caller's `mine`
                // flag can lag by up to `seats::snapshot::MAX_AGE_MS`.
                metrics::counter!("redis_errors_total").increment(1);
                tracing::warn!(error = %e, "held, but the seat map's version could not be changed");
            }
            let location = format!("/v1/reservations/{reservation_id}");
            let body = Json(row.view(now)?);
            return Ok((StatusCode::CREATED, [(header::LOCATION, location)], body).into_response());
        }
        Ok(HoldOutcome::SeatTaken) => {
            metrics::counter!("holds_total", "outcome" => "lost_postgres").increment(1);
            seat_unavailable(schedule_id, seat)
        }
        Ok(HoldOutcome::LimitReached) => {
            metrics::counter!("holds_total", "outcome" => "limit").increment(1);
            ApiError::new(
                ErrorCode::HoldLimitReached,
                format!(
                    "at most {} seats per user for schedule {schedule_id}",
                    state.settings.max_seats_per_user
                ),
            )
        }
        Ok(HoldOutcome::UnknownUser) => ApiError::new(
            ErrorCode::UserNotFound,
            format!("user {} does not exist", bearer.user_id()),
        ),
        Err(e) => e.into(),
    };
    if let Err(e) = state
        .redis
        .release_seat(schedule_id, seat, reservation_id)
        .await
    {
        // The lock times out by itself; until then the seat answers 409.
        metrics::counter!("redis_errors_total").increment(1);
        tracing::warn!(error = %e, "could not release the seat lock after a failed hold");
    }
    Err(error)
}

fn seat_unavailable(schedule: ScheduleId, seat: SeatNumber) -> ApiError {
    ApiError::new(
        ErrorCode::SeatUnavailable,
        format!("seat {seat} of schedule {schedule} is held or sold"),
    )
}
