//! Login and logout (API.md, Booking: `POST /v1/sessions`,
//! `DELETE /v1/sessions/current`, `GET /.well-known/jwks.json`).
//!
//! A login checks the password against its Argon2id hash
//! ([`crate::passwords`]) and answers a session token signed with booking's
//! session key (`iss` `booking`, `aud` `session`, `sub` the user id, `jti` a
//! fresh UUID, `exp` = now + `SESSION_TTL_SECS`). A wrong user id and a wrong
//! password get the same `401` body and cost the same Argon2id verification.
//! Failures are limited per user id, [`LOGIN_FAILURE_LIMIT`] in any
//! [`LOGIN_FAILURE_WINDOW`] (a sliding window: `429 RATE_LIMITED` with
//! `Retry-After` until the oldest failure leaves it), counted in Redis so the
//! limit holds across replicas.
//!
//! Logout writes the session's revocation to Redis, which every replica of
//! both services reads on every use of a session token (`shared::sessions`).

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, TimeZone, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};
use shared::ErrorCode;
use shared::ids::UserId;
use shared::tokens::{SessionClaims, Signer, encode_session};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{bearer_token, session_error};
use crate::error::ApiError;
use crate::state::AppState;
use shared::extract::Json;

/// Failed logins of one user id allowed per window (API.md, Limits).
pub const LOGIN_FAILURE_LIMIT: u32 = 10;
/// The window of [`LOGIN_FAILURE_LIMIT`]: 15 minutes.
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(jwks))
}

/// The session signing key: `SESSION_PRIVATE_KEY_FILE`, or the key
/// generated once as `DATA_DIR/session-ed25519.pem` (the gateway keeps its
/// own key under another name, so both may share one data folder).
pub fn load_signer(settings: &crate::Settings) -> anyhow::Result<Signer> {
    shared::tokens::load_or_generate_signing_key(
        settings.session_private_key_file.as_deref(),
        &settings.data_dir.join("session-ed25519.pem"),
    )
    .map_err(anyhow::Error::msg)
}

/// Booking's session signing key and its published JWKS.
pub struct SessionIssuer {
    pub signer: Signer,
    pub ttl: Duration,
    jwks_body: Vec<u8>,
    attempt: Script,
    forgive: Script,
}

impl SessionIssuer {
    pub fn new(signer: Signer, ttl: Duration) -> Self {
        let jwks = shared::tokens::Jwks {
            keys: vec![signer.jwk()],
        };
        Self {
            jwks_body: serde_json::to_vec(&jwks).expect("a JWKS serialises"),
            signer,
            ttl,
            attempt: Script::new(include_str!("lua/login_attempt.lua")),
            forgive: Script::new(include_str!("lua/login_forgive.lua")),
        }
    }

    /// A new session of `user` starting at `now` (Unix seconds).
    pub fn issue(&self, user: UserId, now: i64) -> (String, SessionClaims) {
        let ttl =
            i64::try_from(self.ttl.as_secs()).unwrap_or(shared::tokens::MAX_TOKEN_LIFETIME_SECS);
        let claims = SessionClaims {
            user_id: user,
            session_id: Some(Uuid::new_v4().to_string()),
            issued_at: now,
            expires_at: now + ttl.min(shared::tokens::MAX_TOKEN_LIFETIME_SECS),
        };
        (encode_session(&self.signer, &claims), claims)
    }
}

/// Who logs in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    user_id: UserId,
    /// 1 to 128 characters, no control characters.
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1F\x7F]*$")]
    password: crate::domain::Password,
}

/// The contract's answer, plus the user's `name` (so a page can greet the
/// user by name without another call; an addition the contract is silent on).
#[derive(Serialize, ToSchema)]
struct Session {
    /// The session token (EdDSA JWS: `iss` booking, `aud` session, `sub` the
    /// user id, `jti`, `iat`, `exp`).
    session_token: String,
    user_id: UserId,
    /// The token's `exp` (RFC 3339 UTC): `SESSION_TTL_SECS` after the login.
    #[schema(format = DateTime)]
    expires_at: String,
    /// The user's name.
    name: String,
}

fn count(outcome: &'static str) {
    metrics::counter!("logins_total", "outcome" => outcome).increment(1);
}

#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    summary = "Log in: a session token for a user id and password",
    description = "A wrong user id and a wrong password get the same 401. Failed logins of one \
        user id are limited to 10 per 15 minutes (429 with `Retry-After`).",
    request_body(content = LoginRequest, content_type = "application/json"),
    security(()),
    responses(
        (status = 201, description = "Logged in", body = Session),
        (status = 401, description = "UNAUTHENTICATED: wrong user id or password"),
        (status = 429, description = "RATE_LIMITED: too many failed logins of this user id, or the client went over its budget"),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %body.user_id))]
async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let user = body.user_id;
    // A login is a write of the user's budget (API.md, Limits).
    state.limits.user.check(user).await?;
    let issuer = &state.issuer;
    let counter = format!("{}:login-failures:{user}", state.redis.prefix());
    let attempt = Uuid::new_v4().to_string();
    let wait_ms: u64 = issuer
        .attempt
        .key(&counter)
        .arg(LOGIN_FAILURE_LIMIT)
        .arg(u64::try_from(LOGIN_FAILURE_WINDOW.as_millis()).unwrap_or(u64::MAX))
        .arg(&attempt)
        .invoke_async(&mut state.redis.connection())
        .await?;
    if wait_ms > 0 {
        count("limited");
        return Err(ApiError::Client(shared::limits::rate_limited(
            "login",
            Duration::from_millis(wait_ms),
            "too many failed logins for this user id; try again later",
        )));
    }

    let found: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT name, password_hash FROM users WHERE user_id = $1")
            .bind(user.get())
            .fetch_optional(&state.db)
            .await?;
    let (name, stored) = found.unzip();
    if !state
        .passwords
        .verify(body.password.into_string(), stored.flatten())
        .await?
    {
        count("refused");
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "wrong user id or password",
        ));
    }
    let _: i64 = issuer
        .forgive
        .key(&counter)
        .arg(&attempt)
        .invoke_async(&mut state.redis.connection())
        .await?;

    let (token, claims) = issuer.issue(user, shared::unix_now());
    count("ok");
    let expires_at = Utc
        .timestamp_opt(claims.expires_at, 0)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(Session {
            session_token: token,
            user_id: user,
            expires_at,
            name: name.unwrap_or_default(),
        }),
    )
        .into_response())
}

/// The verified session token of the request (a session token only: access
/// tokens and queue tickets are `401` here).
pub struct CurrentSession(pub SessionClaims);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "an Authorization: Bearer session token is required",
            )
        })?;
        state
            .sessions
            .verifier
            .verify(token, shared::unix_now())
            .await
            .map(|claims| {
                shared::limits::note_verified();
                CurrentSession(claims)
            })
            .map_err(session_error)
    }
}

/// `204`; the session token is refused by every replica of both services
/// from then on (revoked in Postgres and Redis: `shared::sessions`).
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "sessions",
    summary = "Log out: the session token is refused by every replica from now on",
    security(("session_token" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "UNAUTHENTICATED: no valid session token (access tokens and queue tickets included)"),
    ),
)]
async fn logout(
    CurrentSession(claims): CurrentSession,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    state
        .sessions
        .verifier
        .revoke(&claims, shared::unix_now())
        .await
        .map_err(session_error)?;
    metrics::counter!("logouts_total").increment(1);
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys of session tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "sessions",
    summary = "Public keys of session tokens (JWKS)",
    security(()),
    responses((status = 200, description = "The JWKS (RFC 7517); cacheable for a minute", body = shared::tokens::Jwks)),
)]
async fn jwks(State(state): State<AppState>) -> Response {
    shared::tokens::jwks_response(state.issuer.jwks_body.clone())
}
