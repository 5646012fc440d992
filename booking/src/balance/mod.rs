//! A user's prepaid balance: reading it, charging it (optionally with an
//! `Idempotency-Key`), and its history. All three are *user* level: any valid
//! ticket or access token of that user, admitted or not.

pub mod store;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::extract::{Json, Path, Query};
use shared::ids::UserId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Bearer;
use crate::domain::{self, ChargeAmount};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader};
use crate::state::AppState;
use store::Balance;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(charge))
        .routes(routes!(history))
}

fn user_not_found(user: UserId) -> ApiError {
    ApiError::new(
        ErrorCode::UserNotFound,
        format!("user {user} does not exist"),
    )
}

#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/balance",
    tag = "balance",
    summary = "One's balance (user)",
    params(("user_id" = UserId, Path, description = "The user: the token's own")),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The balance", body = Balance),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 403, description = "FORBIDDEN: the token is of another user"),
        (status = 404, description = "USER_NOT_FOUND"),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %user))]
async fn read(
    bearer: Bearer,
    State(state): State<AppState>,
    Path(user): Path<UserId>,
) -> Result<Json<Balance>, ApiError> {
    let balance = store::balance(&state.db, user)
        .await?
        .ok_or_else(|| user_not_found(user))?;
    bearer.require_user(user)?;
    Ok(Json(Balance {
        user_id: user,
        balance,
    }))
}

/// How much to add.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChargeRequest {
    amount: ChargeAmount,
}

#[utoipa::path(
    post,
    path = "/v1/users/{user_id}/balance/charge",
    tag = "balance",
    summary = "Charge one's balance (user)",
    params(
        ("user_id" = UserId, Path, description = "The user: the token's own"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[\x20-\x7E]+$", description = "1 to 255 printable ASCII characters. Replays this user's first answer to the same request (kept 24 h, with `Idempotent-Replayed: true`); the same key with another method, path or body is 422; while the first request runs, 409 IDEMPOTENCY_IN_PROGRESS."),
    ),
    request_body(content = ChargeRequest, content_type = "application/json"),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "The new balance (or, with `Idempotent-Replayed: true`, the first answer replayed)", body = Balance,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay of an earlier answer"))),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 403, description = "FORBIDDEN: the token is of another user"),
        (status = 404, description = "USER_NOT_FOUND"),
        (status = 409, description = "IDEMPOTENCY_IN_PROGRESS: the first request with this key is still running"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED: the key was used with another request"),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %user))]
async fn charge(
    bearer: Bearer,
    State(state): State<AppState>,
    Path(user): Path<UserId>,
    IdempotencyHeader(key): IdempotencyHeader,
    Json(body): Json<ChargeRequest>,
) -> Result<Response, ApiError> {
    // A write of the user's budget (API.md, Limits).
    state.limits.user.check(bearer.user_id()).await?;
    let now = domain::now();
    let caller = bearer.user_id();
    let path = format!("/v1/users/{user}/balance/charge");
    let fingerprint = idempotency::fingerprint("POST", &path, &body);
    if let Some(key) = &key
        && let Some(existing) =
            idempotency::lookup(&state.db, caller, key, &fingerprint, now).await?
    {
        return Ok(existing.into_response());
    }
    if !store::user_exists(&state.db, user).await? {
        return Err(user_not_found(user));
    }
    bearer.require_user(user)?;

    let Some(key) = key else {
        let mut conn = state.db.acquire().await?;
        let balance = store::charge(&mut conn, user, body.amount, now).await?;
        return charged(user, balance).map(IntoResponse::into_response);
    };
    let claim = match idempotency::claim(&state.db, caller, &key, &fingerprint, now).await? {
        Ok(claim) => claim,
        Err(existing) => return Ok(existing.into_response()),
    };
    let result: Result<Vec<u8>, ApiError> = async {
        let mut tx = state.db.begin().await?;
        let balance = store::charge(&mut tx, user, body.amount, now).await?;
        let Json(answer) = charged(user, balance)?;
        let bytes = serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(e.to_string()))?;
        if !idempotency::complete(&mut tx, &claim, StatusCode::OK, &bytes).await? {
            return Err(idempotency::claim_lost().into());
        }
        tx.commit().await?;
        Ok(bytes)
    }
    .await;
    match result {
        Ok(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        Err(e) => {
            idempotency::release(&state.db, claim).await;
            Err(e)
        }
    }
}

/// The answer to a charge whose statement returned `balance`.
fn charged(user: UserId, balance: Option<i64>) -> Result<Json<Balance>, ApiError> {
    match balance {
        Some(balance) => {
            metrics::counter!("charges_total", "outcome" => "charged").increment(1);
            Ok(Json(Balance {
                user_id: user,
                balance,
            }))
        }
        None => {
            metrics::counter!("charges_total", "outcome" => "over_limit").increment(1);
            Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("the balance may not exceed {} KRW", domain::MAX_BALANCE),
            ))
        }
    }
}

/// Entries of one history page when `limit` is absent (API.md, Booking).
pub const HISTORY_DEFAULT_LIMIT: i64 = 100;
/// The largest `limit` of a history page (API.md, Booking).
pub const HISTORY_MAX_LIMIT: i64 = 1000;

/// A page of the history (API.md, Booking).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// At most this many entries (1..=1000); [`HISTORY_DEFAULT_LIMIT`] when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only entries older than this `entry_id` (the last one of a page).
    #[param(minimum = 1)]
    before: Option<i64>,
}

/// One page of the ledger, newest first (API.md, Booking: `?limit=`
/// 1..=1000, default 100, `?before=<entry_id>`). When older entries remain,
/// `Link: </v1/users/{id}/balance/history?limit=N&before=<last entry_id>>;
/// rel="next"` (RFC 8288; a reference relative to this service) gives the
/// next page, so following it walks every entry exactly once.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/balance/history",
    tag = "balance",
    summary = "One's ledger entries, newest first (user)",
    params(("user_id" = UserId, Path, description = "The user: the token's own"), HistoryQuery),
    security(("session_token" = []), ("access_token" = [])),
    responses(
        (status = 200, description = "A page of entries, newest first", body = Vec<store::Entry>,
            headers(("Link" = String, description = "`<…?limit=…&before=…>; rel=\"next\"` when older entries exist (RFC 8288)"))),
        (status = 401, description = "UNAUTHENTICATED: no valid session or access token"),
        (status = 403, description = "FORBIDDEN: the token is of another user"),
        (status = 404, description = "USER_NOT_FOUND"),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %user))]
async fn history(
    bearer: Bearer,
    State(state): State<AppState>,
    Path(user): Path<UserId>,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    if query
        .limit
        .is_some_and(|l| !(1..=HISTORY_MAX_LIMIT).contains(&l))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "limit must be between 1 and 1000",
        ));
    }
    if query.before.is_some_and(|b| b <= 0) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "before must be a positive entry id",
        ));
    }
    if !store::user_exists(&state.db, user).await? {
        return Err(user_not_found(user));
    }
    bearer.require_user(user)?;
    let limit = query.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    // One more than the page tells whether a next page exists.
    let mut entries = store::history(&state.db, user, query.before, limit + 1).await?;
    let more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = entries.last().filter(|_| more).map(|last| {
        format!(
            "</v1/users/{user}/balance/history?limit={limit}&before={}>; rel=\"next\"",
            last.entry_id
        )
    });
    let mut response = Json(entries).into_response();
    if let Some(link) = next.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}
