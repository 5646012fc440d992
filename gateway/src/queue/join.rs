//! `POST /v1/concerts/{concert_id}/queue`: take a place in line.
//!
//! The user comes from the session token (API.md, Gateway): a body may
//! repeat it as `user_id`, and one that names someone else is `403
//! FORBIDDEN`. Whether the user exists is the identity provider's word: the
//! gateway does not look users up, so a join reveals nothing about other
//! user ids.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::{Json, JsonOrEmpty, Path};
use shared::ids::{ConcertId, UserId};
use uuid::Uuid;

use super::{Place, QueueStatus, render};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tokens::{Session, TicketPlace};

/// The optional body: `{}`, `{"user_id": <the session's user>}`, or none.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    user_id: Option<UserId>,
}

#[derive(Debug, Serialize)]
struct Joined {
    ticket: String,
    ticket_id: Uuid,
    #[serde(flatten)]
    status: QueueStatus,
}

#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert, user = %session.user_id))]
pub async fn join(
    Session(session): Session,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
    JsonOrEmpty(body): JsonOrEmpty<JoinRequest>,
) -> ApiResult<Response> {
    let user = session.user_id;
    if !state.directory.concert_exists(concert.get()).await? {
        return Err(ApiError::code(
            ErrorCode::ConcertNotFound,
            format!("concert {concert} does not exist"),
        ));
    }
    if body.user_id.is_some_and(|named| named != user) {
        return Err(ApiError::code(
            ErrorCode::Forbidden,
            "the body names another user than the session token",
        ));
    }
    let fresh = Uuid::new_v4();
    let mut reply = state.queue.join(concert, user, fresh).await?;
    if crate::recovery::is_lost(&reply) {
        // The queue's first join, or Redis lost it: build it, then join.
        crate::recovery::restore_queue(&state, concert).await?;
        reply = state.queue.join(concert, user, fresh).await?;
    }
    let (ticket, created, ticket_place, place) = parse_join(super::line(&reply)?)?;
    if created {
        metrics::counter!("queue_joins_total").increment(1);
    }
    let status = render(&state, user, concert, ticket, place)
        .ok_or_else(|| ApiError::Protocol("a ticket just joined has no place".into()))?;
    if created {
        crate::metrics::record_predicted_wait(&status);
    }
    let token =
        state
            .tokens
            .issue_ticket(user, concert, ticket, ticket_place, state.clock.now_secs());
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        code,
        Json(Joined {
            ticket: token,
            ticket_id: ticket,
            status,
        }),
    )
        .into_response())
}

/// `<ticket> <created 1/0> <epoch> <seq, 0 if not waiting> <status…>`, as
/// `join.lua` encodes it.
fn parse_join(reply: &str) -> Result<(Uuid, bool, TicketPlace, Place), ApiError> {
    let fields: Vec<&str> = reply.split(' ').collect();
    let [ticket, created, epoch, seq, status @ ..] = fields.as_slice() else {
        return Err(ApiError::Protocol(format!("short join reply {reply:?}")));
    };
    let ticket = Uuid::parse_str(ticket).map_err(|e| ApiError::Protocol(e.to_string()))?;
    let number = |f: &str| f.parse::<i64>().ok().filter(|&n| n > 0);
    let ticket_place = TicketPlace {
        epoch: number(epoch),
        seq: number(seq),
    };
    Ok((ticket, *created == "1", ticket_place, Place::parse(status)?))
}
