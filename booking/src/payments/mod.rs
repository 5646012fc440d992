//! `POST /v1/payments`: pay for a held seat from the prepaid balance.
//!
//! Paying is at the *user* level (API.md, Booking): a session token or an
//! access token of the reservation's owner; the hold is proof enough that
//! the user was admitted when it was taken. Checks run in the contract's
//! order: the token (401), the body and the `Idempotency-Key` (400), the
//! key's earlier use (replay / 422 / 409), the reservation (404), then the
//! payment itself (409). After the commit the user's active session of the
//! concert ends, so their access token stops working; if Redis fails at that
//! point the payment still stands (`201`).

mod store;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::Json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Bearer, Caller};
use crate::domain::{self, SeatNumber};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader};
use crate::reservations;
use crate::state::AppState;
use shared::ids::ConcertId;
use store::PayOutcome;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pay))
}

/// The reservation to pay for.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    reservation_id: Uuid,
}

fn count(outcome: &'static str) {
    metrics::counter!("payments_total", "outcome" => outcome).increment(1);
}

#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "payments",
    summary = "Pay for one's own held seat from the balance (user)",
    description = "All or nothing: the seat becomes `sold`, the reservation `confirmed`, the \
        balance is debited, and the user's active session for the concert ends (its access \
        token stops working).",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[\x20-\x7E]+$", description = "1 to 255 printable ASCII characters. Replays this user's first answer to the same request (kept 24 h, with `Idempotent-Replayed: true`); the same key with another method, path or body is 422; while the first request runs, 409 IDEMPOTENCY_IN_PROGRESS.")),
    request_body(content = PayRequest, content_type = "application/json"),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 201, description = "Paid (or, with `Idempotent-Replayed: true`, the first answer replayed)", body = store::Payment,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier answer"))),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 404, description = "RESERVATION_NOT_FOUND (also another user's reservation)"),
        (status = 409, description = "INSUFFICIENT_BALANCE / HOLD_EXPIRED / ALREADY_PAID (nothing changes); IDEMPOTENCY_IN_PROGRESS"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED: the key was used with another request"),
    ),
)]
#[tracing::instrument(skip_all, fields(reservation_id = %body.reservation_id))]
async fn pay(
    bearer: Bearer,
    State(state): State<AppState>,
    IdempotencyHeader(key): IdempotencyHeader,
    Json(body): Json<PayRequest>,
) -> Result<Response, ApiError> {
    // A write of the user's budget (API.md, Limits).
    state.limits.user.check(bearer.user_id()).await?;
    let now = domain::now();
    let user = bearer.user_id();
    let fingerprint = idempotency::fingerprint("POST", "/v1/payments", &body);
    // The key is claimed before anything this payment can change is read
    // (API.md, `Idempotency-Key`): a concurrent request with the same key
    // gets 409 IN_PROGRESS or the stored answer, never an answer shaped by
    // this payment's own effects.
    let claim = match &key {
        None => None,
        Some(key) => match idempotency::claim(&state.db, user, key, &fingerprint, now).await? {
            Ok(claim) => Some(claim),
            Err(existing) => {
                count("idempotent_answer");
                return Ok(existing.into_response());
            }
        },
    };

    let id = body.reservation_id;
    let checked = async {
        let reservation = reservations::find_own(&state, &bearer, id).await?;
        let schedule = state.catalog.schedule(reservation.schedule()?).await?;
        Ok::<_, ApiError>((reservation, schedule))
    }
    .await;
    let (reservation, schedule) = match checked {
        Ok(found) => found,
        Err(e) => {
            if let Some(claim) = claim {
                idempotency::release(&state.db, claim).await;
            }
            return Err(e);
        }
    };
    let outcome = store::pay(&state.db, id, user, now, claim.as_ref()).await;
    let error = match outcome {
        Ok(PayOutcome::Paid {
            body,
            schedule_id,
            seat_number,
        }) => {
            count("paid");
            after_commit(
                &state,
                &bearer,
                schedule.concert_id,
                id,
                schedule_id,
                seat_number,
            )
            .await;
            let mut response = (StatusCode::CREATED, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        Ok(PayOutcome::NotFound) => reservations::not_found(id),
        Ok(PayOutcome::AlreadyPaid) => {
            count("already_paid");
            ApiError::new(
                ErrorCode::AlreadyPaid,
                format!("reservation {id} is already paid"),
            )
        }
        Ok(PayOutcome::HoldExpired) => {
            count("hold_expired");
            ApiError::new(
                ErrorCode::HoldExpired,
                format!("the hold of reservation {id} has expired"),
            )
        }
        Ok(PayOutcome::InsufficientBalance) => {
            count("insufficient_balance");
            ApiError::new(
                ErrorCode::InsufficientBalance,
                format!(
                    "the balance is below the price of {} KRW",
                    reservation.price
                ),
            )
        }
        Ok(PayOutcome::ClaimLost) => idempotency::claim_lost().into(),
        Err(e) => e.into(),
    };
    if let Some(claim) = claim {
        idempotency::release(&state.db, claim).await;
    }
    Err(error)
}

/// End the user's active session of the concert (their access token stops
/// working, whichever token paid) and drop the seat lock. Failures are
/// logged and counted: the payment has committed, and both keys expire on
/// their own.
async fn after_commit(
    state: &AppState,
    bearer: &Bearer,
    concert: ConcertId,
    id: Uuid,
    schedule_id: i64,
    seat: i32,
) {
    let ticket = match &bearer.0 {
        Caller::Access(claims) => Some(claims.ticket_id),
        Caller::Session(_) => None,
    };
    if let Err(e) = state
        .admission
        .end_session(concert, bearer.user_id(), ticket)
        .await
    {
        metrics::counter!("redis_errors_total").increment(1);
        tracing::warn!(error = %e, "paid, but the access token could not be revoked");
    }
    let (Ok(schedule), Ok(seat)) = (
        shared::ids::ScheduleId::new(schedule_id),
        SeatNumber::new(seat.into()),
    ) else {
        return;
    };
    if let Err(e) = state.redis.release_seat(schedule, seat, id).await {
        metrics::counter!("redis_errors_total").increment(1);
        tracing::warn!(error = %e, "paid, but the seat lock could not be released");
    }
}
