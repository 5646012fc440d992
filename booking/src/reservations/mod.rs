//! Reservations: taking a seat hold ([`create`]), reading it and releasing
//! it (this module). A reservation is visible to its owner only; to anyone
//! else it does not exist (`404 RESERVATION_NOT_FOUND`).

mod create;
pub mod store;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ErrorCode;
use shared::extract::{Json, Path};
use shared::ids::ScheduleId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Bearer;
use crate::domain::{self, ReservationStatus, SeatNumber, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;
use store::{CancelOutcome, ReservationRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create))
        .routes(routes!(read, release))
}

/// A reservation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reservation {
    pub reservation_id: Uuid,
    #[schema(minimum = 1)]
    pub user_id: i64,
    #[schema(minimum = 1)]
    pub schedule_id: i64,
    /// `1..=total_seats` of the schedule.
    #[schema(minimum = 1, maximum = 1000)]
    pub seat_number: i32,
    /// KRW.
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub price: i64,
    pub status: ReservationStatus,
    /// End of the hold (RFC 3339 UTC, with milliseconds): `HOLD_TTL_SECS`
    /// after it was taken.
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
}

impl ReservationRow {
    /// The API view at `now` (a timed-out hold reads as `expired`).
    pub fn view(&self, now: DateTime<Utc>) -> Result<Reservation, ApiError> {
        let status = ReservationStatus::parse(&self.status)
            .ok_or_else(|| ApiError::Internal(format!("unknown status {:?}", self.status)))?;
        Ok(Reservation {
            reservation_id: self.reservation_id,
            user_id: self.user_id,
            schedule_id: self.schedule_id,
            seat_number: self.seat_number,
            price: self.price,
            status: status.at(self.expires_at, now),
            expires_at: self.expires_at,
        })
    }

    pub fn schedule(&self) -> Result<ScheduleId, ApiError> {
        ScheduleId::new(self.schedule_id).map_err(ApiError::Internal)
    }

    pub fn seat(&self) -> Result<SeatNumber, ApiError> {
        SeatNumber::new(self.seat_number.into()).map_err(ApiError::Internal)
    }
}

pub fn not_found(id: Uuid) -> ApiError {
    ApiError::new(
        ErrorCode::ReservationNotFound,
        format!("reservation {id} does not exist"),
    )
}

/// The reservation `id` if `claims` own it; anyone else gets `404`.
pub async fn find_own(
    state: &AppState,
    bearer: &Bearer,
    id: Uuid,
) -> Result<ReservationRow, ApiError> {
    match store::find(&state.db, id).await? {
        Some(row) if row.user_id == bearer.user_id().get() => Ok(row),
        _ => Err(not_found(id)),
    }
}

#[utoipa::path(
    get,
    path = "/v1/reservations/{reservation_id}",
    tag = "reservations",
    summary = "Read one's own reservation (user)",
    params(("reservation_id" = Uuid, Path, description = "The reservation")),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The reservation; a hold whose time ran out reads as `expired`", body = Reservation),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 404, description = "RESERVATION_NOT_FOUND (also another user's reservation)"),
    ),
)]
#[tracing::instrument(skip_all, fields(reservation_id = %id))]
async fn read(
    bearer: Bearer,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Reservation>, ApiError> {
    let now = domain::now();
    let row = find_own(&state, &bearer, id).await?;
    Ok(Json(row.view(now)?))
}

#[utoipa::path(
    delete,
    path = "/v1/reservations/{reservation_id}",
    tag = "reservations",
    summary = "Release one's own hold (user); the reservation becomes `cancelled`",
    params(("reservation_id" = Uuid, Path, description = "The reservation")),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "Released (or already cancelled)"),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 404, description = "RESERVATION_NOT_FOUND (also another user's reservation)"),
        (status = 409, description = "HOLD_EXPIRED: the hold's time ran out; ALREADY_PAID: the seat is sold"),
    ),
)]
#[tracing::instrument(skip_all, fields(reservation_id = %id))]
async fn release(
    bearer: Bearer,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    // A write of the user's budget (API.md, Limits).
    state.limits.user.check(bearer.user_id()).await?;
    let now = domain::now();
    find_own(&state, &bearer, id).await?;
    match store::cancel(&state.db, id, bearer.user_id(), now).await? {
        CancelOutcome::Cancelled(row) => {
            if let Err(e) = state
                .redis
                .release_seat(row.schedule()?, row.seat()?, id)
                .await
            {
                // The lock times out by itself; Postgres already frees the seat.
                metrics::counter!("redis_errors_total").increment(1);
                tracing::warn!(error = %e, "could not release the seat lock");
            }
            Ok(StatusCode::NO_CONTENT)
        }
        CancelOutcome::NotHeld(row) => match row.view(now)?.status {
            ReservationStatus::Cancelled => Ok(StatusCode::NO_CONTENT),
            ReservationStatus::Confirmed => Err(ApiError::new(
                ErrorCode::AlreadyPaid,
                "a paid reservation cannot be released",
            )),
            ReservationStatus::Expired | ReservationStatus::Held => Err(ApiError::new(
                ErrorCode::HoldExpired,
                format!("the hold of reservation {id} has expired"),
            )),
        },
        CancelOutcome::Missing => Err(not_found(id)),
    }
}
