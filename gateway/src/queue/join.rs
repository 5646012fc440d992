//! `POST /v1/concerts/{concert_id}/queue`: take a place in line.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use redis::Value;
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::{Json, Path};
use shared::ids::{ConcertId, UserId};
use uuid::Uuid;

use super::{Place, QueueStatus, render};
use crate::error::{ApiError, ApiResult};
use crate::keys::{self, invocation};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    user_id: UserId,
}

#[derive(Debug, Serialize)]
struct Joined {
    ticket: String,
    ticket_id: Uuid,
    #[serde(flatten)]
    status: QueueStatus,
}

#[tracing::instrument(level = "debug", skip_all, fields(concert = %concert, user = %body.user_id))]
pub async fn join(
    State(state): State<AppState>,
    Path(concert): Path<ConcertId>,
    Json(body): Json<JoinRequest>,
) -> ApiResult<Response> {
    let user = body.user_id;
    if !state.directory.concert_exists(concert.get()).await? {
        return Err(ApiError::code(
            ErrorCode::ConcertNotFound,
            format!("concert {concert} does not exist"),
        ));
    }
    if !state.directory.user_exists(user.get()).await? {
        return Err(ApiError::code(
            ErrorCode::UserNotFound,
            format!("user {user} does not exist"),
        ));
    }
    state.register_concert(concert).await?;

    let keys = state.queue_keys(concert);
    let fresh = Uuid::new_v4();
    let now_ms = state.clock.now_ms();
    let mut conn = state.redis.clone();
    let reply: Vec<Value> = invocation(&keys::JOIN, &keys)
        .arg(user.get())
        .arg(fresh.to_string())
        .arg(now_ms)
        .invoke_async(&mut conn)
        .await?;
    let (ticket, created, place) = parse_join(&reply)?;
    if created {
        metrics::counter!("queue_joins_total").increment(1);
    }
    let status = render(&state, user, concert, ticket, place)
        .ok_or_else(|| ApiError::Protocol("a ticket just joined has no place".into()))?;
    if created {
        crate::metrics::record_predicted_wait(&status);
    }
    let token = state
        .tokens
        .issue_ticket(user, concert, ticket, state.clock.now_secs());
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

fn parse_join(reply: &[Value]) -> Result<(Uuid, bool, Place), ApiError> {
    let [ticket, created, status @ ..] = reply else {
        return Err(ApiError::Protocol("short join reply".into()));
    };
    let ticket: String =
        redis::from_redis_value(ticket).map_err(|e| ApiError::Protocol(e.to_string()))?;
    let ticket = Uuid::parse_str(&ticket).map_err(|e| ApiError::Protocol(e.to_string()))?;
    let created: i64 =
        redis::from_redis_value(created).map_err(|e| ApiError::Protocol(e.to_string()))?;
    Ok((ticket, created == 1, Place::parse(status)?))
}
