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
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert))]
pub async fn status(
    Ticket(claims): Ticket,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
) -> ApiResult<Json<QueueStatus>> {
    require_concert(&claims, concert)?;
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
