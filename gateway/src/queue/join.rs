//! `POST /v1/concerts/{concert_id}/queue`: take a place in line.
//!
//! The user comes from the session token (API.md, Gateway): a body may
//! repeat it as `user_id`, and one that names someone else is `403
//! FORBIDDEN`. Whether the user exists is the identity provider's word: the
//! gateway does not look users up, so a join reveals nothing about other
//! user ids.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use redis::Value;
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::{Json, JsonOrEmpty, Path};
use shared::ids::{ConcertId, UserId};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Place, QueueStatus, render};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tokens::{Session, TicketPlace};

/// The optional body: `{}`, `{"user_id": <the session's user>}`, or none.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Optional; must be the session's user, else `403 FORBIDDEN`.
    #[schema(value_type = Option<UserId>)]
    user_id: Option<UserId>,
}

/// A join's answer: the queue ticket (for polls and leaving) and where it
/// stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Joined {
    /// The queue ticket (EdDSA JWS, `aud` `queue`): the bearer token of
    /// the status poll and of leaving.
    ticket: String,
    /// The ticket's id (its `jti`); the same for every join of this user
    /// to this concert while the ticket holds a place.
    ticket_id: Uuid,
    #[serde(flatten)]
    status: QueueStatus,
}

/// Take a place in line (or get one's own ticket and place back).
#[utoipa::path(
    post,
    path = "/v1/concerts/{concert_id}/queue",
    tag = "queue",
    summary = "Join the queue as the logged-in user (or get one's ticket and place back)",
    description = "The user comes from the session token (booking's `POST /v1/sessions`, or the \
        configured identity provider's: `IDENTITY_JWKS_URL`). The body is optional; a `user_id` \
        in it must be the session's user.",
    params(("concert_id" = ConcertId, Path, description = "The concert")),
    request_body(content = Option<JoinRequest>, content_type = "application/json",
        description = "Optional: `{}`, `{\"user_id\": <the session's user>}`, or no body"),
    security(("session_token" = [])),
    responses(
        (status = 201, description = "Joined: a new ticket and place", body = Joined),
        (status = 200, description = "Already queued or active: the same ticket and place", body = Joined),
        (status = 401, description = "UNAUTHENTICATED: no valid session token"),
        (status = 403, description = "FORBIDDEN: the body names another user than the session"),
        (status = 404, description = "CONCERT_NOT_FOUND"),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert, user = %session.user_id))]
pub async fn join(
    Session(session): Session,
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
    JsonOrEmpty(body): JsonOrEmpty<JoinRequest>,
) -> ApiResult<Response> {
    let user = session.user_id;
    // A join is a write of the user's budget (API.md, Limits).
    state.limits.user.check(user).await?;
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
    let reply = join_script(&state, concert, user).await?;
    let (ticket, created, mut ticket_place, place) = parse_join(super::line(&reply)?)?;
    if created {
        metrics::counter!("queue_joins_total").increment(1);
    }
    let status = render(&state, user, concert, ticket, place)
        .ok_or_else(|| ApiError::Protocol("a ticket just joined has no place".into()))?;
    if created {
        crate::metrics::record_predicted_wait(&status);
    }
    // The ticket carries what it was shown, to be compared with the real
    // wait at admission (`queue_eta_*`).
    if let QueueStatus::Waiting(w) = &status {
        ticket_place.shown_eta =
            w.eta_seconds
                .zip(w.eta_range_seconds)
                .map(|(eta, range)| shared::tokens::ShownEta {
                    at_ms: state.clock.now_ms(),
                    eta_seconds: eta,
                    range_seconds: range,
                });
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

/// Most attempts at a pre-queue join whose draw number was taken (about
/// one join in 10^4 of a million-ticket pre-queue needs a second).
const PREQUEUE_ATTEMPTS: usize = 8;

/// Run `join.lua` for one user: build the queue first if Redis does not
/// have it, and before a scheduled opening number the new ticket by its
/// draw order (the seed is read from the queue's config once per concert).
async fn join_script(state: &AppState, concert: ConcertId, user: UserId) -> ApiResult<Value> {
    let mut draw = state.draws.get(&concert);
    let mut restored = false;
    for _ in 0..PREQUEUE_ATTEMPTS {
        let fresh = Uuid::new_v4();
        let score = draw
            .as_ref()
            .map(|d| crate::draw::draw_score(&d.0, fresh, d.1));
        let reply = state.queue.join(concert, user, fresh, score).await?;
        if crate::recovery::is_lost(&reply) && !restored {
            // The queue's first join, or Redis lost it: build it, then join.
            crate::recovery::restore_queue(state, concert).await?;
            restored = true;
        } else if matches!(&reply, Value::BulkString(b) if b == b"r") {
            // Before the opening, and the seed was unknown here or the
            // number was taken: read the seed (once) and try another id.
            if draw.is_none() {
                draw = read_draw(state, concert).await?;
                if let Some(d) = &draw {
                    state.draws.insert(concert, Arc::clone(d));
                }
            }
        } else {
            return Ok(reply);
        }
    }
    Err(ApiError::Protocol(
        "no pre-queue number could be given to a join".into(),
    ))
}

/// The queue's draw seed and base from its Redis config, if it has a
/// scheduled opening.
async fn read_draw(state: &AppState, concert: ConcertId) -> ApiResult<Option<Arc<(String, i64)>>> {
    let keys = state.queue_keys(concert);
    let mut conn = state.redis.clone();
    let (seed, base): (Option<String>, Option<i64>) = redis::cmd("HMGET")
        .arg(keys.config())
        .arg("draw_seed")
        .arg("draw_base")
        .query_async(&mut conn)
        .await?;
    Ok(seed
        .zip(base)
        .filter(|(seed, _)| crate::draw::is_seed(seed))
        .map(Arc::new))
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
    // A pre-queue number read back from Redis may be written as a double.
    let seq_number = |f: &str| {
        number(f).or_else(|| {
            f.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0 && *n < 9.0e15)
                .map(|n| n as i64)
        })
    };
    let ticket_place = TicketPlace {
        epoch: number(epoch),
        seq: seq_number(seq),
        shown_eta: None,
    };
    Ok((ticket, *created == "1", ticket_place, Place::parse(status)?))
}
