//! `POST /v1/payments`: pay for one or more held seats from the prepaid
//! balance, all or nothing.
//!
//! Paying is at the *user* level (API.md, Booking): a session token or an
//! access token of the reservations' owner; a hold is proof enough that the
//! user was admitted when it was taken. Checks run in the contract's order:
//! the token (401), the body and the `Idempotency-Key` (400), the key's
//! earlier use (replay / 422 / 409), the reservations (404), then the
//! payment itself (409). After the commit the user's active session of each
//! concert paid for ends, so their access token stops working, and the
//! seats' Redis locks are dropped; if Redis fails at that point the payment
//! still stands (`201`).

mod request;
mod store;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::ErrorCode;
use shared::extract::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Bearer, Caller};
use crate::domain::{self, SeatNumber};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader};
use crate::reservations;
use crate::state::AppState;
use request::{PayRequest, Wanted};
use shared::ids::{ConcertId, ScheduleId};
use store::{PaidSeat, PayOutcome};

/// The route; `max_seats` (`MAX_SEATS_PER_USER`) bounds the ids of one
/// payment in the document as in the handler.
pub fn router(max_seats: u32) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new().routes(routes!(pay));
    request::document(router.get_openapi_mut(), max_seats);
    router
}

fn count(outcome: &'static str) {
    metrics::counter!("payments_total", "outcome" => outcome).increment(1);
}

#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "payments",
    summary = "Pay for one's own held seats from the balance (user)",
    description = "`reservation_ids` (1 to `MAX_SEATS_PER_USER` distinct ids) or the single \
        form `reservation_id`. All or nothing, in one transaction: the sum of the prices is \
        debited once, the seats become `sold`, the reservations `confirmed`, the user's active \
        session of each concert ends (its access token stops working). If any one reservation \
        fails, nothing changes and that reservation is named in the problem's `detail`. The \
        answer to the single form also carries `reservation_id`.",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[\x20-\x7E]+$", description = "1 to 255 printable ASCII characters. Replays this user's first answer to the same request (kept 24 h, with `Idempotent-Replayed: true`); the same key with another method, path or body is 422; while the first request runs, 409 IDEMPOTENCY_IN_PROGRESS.")),
    request_body(content = PayRequest, content_type = "application/json"),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 201, description = "Paid (or, with `Idempotent-Replayed: true`, the first answer replayed)", body = store::Payment,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier answer"))),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 404, description = "RESERVATION_NOT_FOUND: one of the ids does not exist or is another user's (nothing changes)"),
        (status = 409, description = "INSUFFICIENT_BALANCE (for the sum) / HOLD_EXPIRED / ALREADY_PAID for any one reservation (nothing changes); IDEMPOTENCY_IN_PROGRESS"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED: the key was used with another request"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn pay(
    bearer: Bearer,
    State(state): State<AppState>,
    IdempotencyHeader(key): IdempotencyHeader,
    Json(body): Json<PayRequest>,
) -> Result<Response, ApiError> {
    let Wanted { ids, single } = body.wanted(state.settings.max_seats_per_user)?;
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

    let error = match store::pay(&state.db, &ids, single, user, now, claim.as_ref()).await {
        Ok(PayOutcome::Paid { body, seats }) => {
            count("paid");
            after_commit(&state, &bearer, &seats).await;
            let mut response = (StatusCode::CREATED, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        Ok(PayOutcome::NotFound(id)) => reservations::not_found(id),
        Ok(PayOutcome::AlreadyPaid(id)) => {
            count("already_paid");
            ApiError::new(
                ErrorCode::AlreadyPaid,
                format!("reservation {id} is already paid"),
            )
        }
        Ok(PayOutcome::HoldExpired(id)) => {
            count("hold_expired");
            ApiError::new(
                ErrorCode::HoldExpired,
                format!("the hold of reservation {id} has expired"),
            )
        }
        Ok(PayOutcome::InsufficientBalance { total }) => {
            count("insufficient_balance");
            ApiError::new(
                ErrorCode::InsufficientBalance,
                format!("the balance is below the price of {total} KRW"),
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

/// End the user's active session of every concert paid for (their access
/// token stops working, whichever token paid) and drop every seat lock.
/// Failures are logged and counted: the payment has committed, and the keys
/// expire on their own.
async fn after_commit(state: &AppState, bearer: &Bearer, seats: &[PaidSeat]) {
    let mut concerts: Vec<i64> = seats.iter().map(|s| s.concert_id).collect();
    concerts.sort_unstable();
    concerts.dedup();
    for concert in concerts.into_iter().filter_map(|c| ConcertId::new(c).ok()) {
        let ticket = match &bearer.0 {
            Caller::Access(claims) if claims.concert_id == concert => Some(claims.ticket_id),
            _ => None,
        };
        if let Err(e) = state
            .admission
            .end_session(concert, bearer.user_id(), ticket)
            .await
        {
            metrics::counter!("redis_errors_total").increment(1);
            tracing::warn!(error = %e, "paid, but the access token could not be revoked");
        }
    }
    for seat in seats {
        let (Ok(schedule), Ok(number)) = (
            ScheduleId::new(seat.schedule_id),
            SeatNumber::new(seat.seat_number.into()),
        ) else {
            continue;
        };
        if let Err(e) = state
            .redis
            .release_seat(schedule, number, seat.reservation_id)
            .await
        {
            metrics::counter!("redis_errors_total").increment(1);
            tracing::warn!(error = %e, "paid, but the seat lock could not be released");
        }
    }
}
