//! `GET …/queue/status` (a poll) and `DELETE …/queue/me` (leave).

use axum::extract::State;
use axum::http::StatusCode;
use shared::ErrorCode;
use shared::extract::{Json, Path};
use shared::ids::ConcertId;

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
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert))]
pub async fn status(
    Ticket(claims): Ticket,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> ApiResult<Json<QueueStatus>> {
    require_concert(&claims, concert)?;
    // Faster than the per-ticket poll budget is over budget (API.md, Limits).
    state.limits.ticket.check(claims.ticket_id)?;
    let reply = state.queue.status(concert, claims.ticket_id).await?;
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
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert))]
pub async fn leave(
    AnyToken(claims): AnyToken,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> ApiResult<StatusCode> {
    require_concert(&claims, concert)?;
    let keys = state.queue_keys(concert);
    let mut conn = state.redis.clone();
    let freed: String = invocation(&keys::LEAVE, &keys)
        .arg(claims.ticket_id.to_string())
        .arg(state.clock.now_ms())
        .invoke_async(&mut conn)
        .await?;
    if freed == "n" {
        return Err(ticket_not_found());
    }
    metrics::counter!("queue_drops_total", "reason" => "left").increment(1);
    Ok(StatusCode::NO_CONTENT)
}
