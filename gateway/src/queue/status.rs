//! `GET …/queue/status` (a poll) and `DELETE …/queue/me` (leave).

use axum::extract::State;
use axum::http::StatusCode;
use shared::ErrorCode;
use shared::extract::{Json, Path};
use shared::ids::ConcertId;
use shared::tokens::Claims;

use super::{Place, QueueStatus, render};
use crate::error::{ApiError, ApiResult};
use crate::keys::{self, invocation};
use crate::state::AppState;
use crate::tokens::{AnyToken, Ticket, require_concert};

fn ticket_not_found() -> ApiError {
    ApiError::code(
        ErrorCode::TicketNotFound,
        "this ticket no longer holds a place (left, idle too long, or session over); join again",
    )
}

/// One poll: one Redis round trip, shared with the polls that arrive at the
/// same time (the status script also records that the waiter is still
/// there), no signature check for a ticket seen before.
#[utoipa::path(
    get,
    path = "/v1/concerts/{concert_id}/queue/status",
    tag = "queue",
    summary = "Poll one's place with the queue ticket",
    description = "Polling also keeps the place: a waiting ticket that is not polled for \
        `QUEUE_IDLE_TIMEOUT_SECS` loses it. Once `active`, the answer carries the access token.",
    params(("concert_id" = ConcertId, Path, description = "The concert of the ticket")),
    security(("queue_ticket" = [])),
    responses(
        (status = 200, description = "Where the ticket stands", body = QueueStatus),
        (status = 401, description = "UNAUTHENTICATED: no valid queue ticket"),
        (status = 403, description = "FORBIDDEN: the ticket is for another concert"),
        (status = 404, description = "TICKET_NOT_FOUND: the ticket was dropped (left, idle too long, or session over)"),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert))]
pub async fn status(
    Ticket(claims): Ticket,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> ApiResult<Json<QueueStatus>> {
    require_concert(&claims, concert)?;
    // Faster than the per-ticket poll budget is over budget (API.md, Limits).
    state.limits.ticket.check(claims.ticket_id)?;
    let mut reply = state.queue.status(concert, claims).await?;
    if crate::recovery::is_lost(&reply) {
        crate::recovery::restore_queue(&state, concert).await?;
        reply = state.queue.status(concert, claims).await?;
    }
    let fields: Vec<&str> = super::line(&reply)?.split(' ').collect();
    let place = Place::parse(&fields)?;
    crate::metrics::record_admitted_wait(&state, &claims, place);
    if place == (Place::Gone { idle: true }) {
        metrics::counter!("queue_drops_total", "reason" => "idle").increment(1);
    }
    render(&state, claims.user_id, concert, claims.ticket_id, place)
        .map(Json)
        .ok_or_else(ticket_not_found)
}

/// Leave the line or end the active session; the slot goes to the next in line.
#[utoipa::path(
    delete,
    path = "/v1/concerts/{concert_id}/queue/me",
    tag = "queue",
    summary = "Leave the queue or end the active session",
    params(("concert_id" = ConcertId, Path, description = "The concert of the token")),
    security(("queue_ticket" = []), ("access_token" = [])),
    responses(
        (status = 204, description = "The place or the active slot is freed"),
        (status = 401, description = "UNAUTHENTICATED: no valid queue ticket or access token"),
        (status = 403, description = "FORBIDDEN: the token is for another concert"),
        (status = 404, description = "TICKET_NOT_FOUND: the ticket no longer holds a place"),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert))]
pub async fn leave(
    AnyToken(claims): AnyToken,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> ApiResult<StatusCode> {
    require_concert(&claims, concert)?;
    // Postgres first: once the leave answered, a loss of Redis must not
    // bring the session back.
    crate::recovery::end_session(&state, claims.ticket_id, state.clock.now_ms()).await?;
    let mut freed = leave_script(&state, &claims).await?;
    if freed == "x" {
        crate::recovery::restore_queue(&state, concert).await?;
        freed = leave_script(&state, &claims).await?;
    }
    if freed == "n" {
        return Err(ticket_not_found());
    }
    metrics::counter!("queue_drops_total", "reason" => "left").increment(1);
    Ok(StatusCode::NO_CONTENT)
}

async fn leave_script(state: &AppState, claims: &Claims) -> ApiResult<String> {
    let keys = state.queue_keys(claims.concert_id);
    let mut conn = state.redis.clone();
    Ok(invocation(&keys::LEAVE, &keys)
        .arg(claims.ticket_id.to_string())
        .arg(state.clock.now_ms())
        .arg(
            claims
                .queue_epoch
                .map(|e| e.to_string())
                .unwrap_or_default(),
        )
        .invoke_async(&mut conn)
        .await?)
}
