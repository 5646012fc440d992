//! Who is calling: the bearer token, one of
//!
//! - a **session token** that booking signed at login (`aud` `session`,
//!   verified with booking's own key, refused once revoked; see
//!   [`crate::sessions`]), or
//! - an **access token** signed by the gateway (`aud` `booking`), checked
//!   against the gateway's published keys (`JWKS_URL`).
//!
//! Queue tickets are never accepted here (`401`): they prove that a browser
//! waited, not who the user is (API.md, Booking). Two levels build on the
//! caller: *user* (a session or access token whose `sub` is the user
//! concerned, see [`Bearer::require_user`]) and *admitted* (an access token
//! of the concert concerned that is still in its active set, see
//! [`admission`]). The admin token is separate ([`admin`]).

pub mod admin;
pub mod admission;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use shared::ids::UserId;
use shared::sessions::{SessionError, SessionVerifier};
use shared::tokens::{
    Audience, Claims, JwksClient, KeySet, SessionClaims, TokenError, VerifiedCache, peek_kid,
};
use shared::{ErrorCode, Problem};

use shared::cache::Budget;

use crate::error::ApiError;
use crate::state::AppState;

/// Size of the cache of verified access tokens: 100,000 tokens (about
/// 700 bytes each with their claims) in at most 96 MiB.
pub const ACCESS_TOKEN_CACHE: Budget = Budget::mib(100_000, 96);

/// Size of the cache of verified session tokens (same shape).
pub const SESSION_TOKEN_CACHE: Budget = Budget::mib(100_000, 96);

/// Verifies the gateway's access tokens against its JWKS, remembering tokens
/// it has already verified (the signature check is the expensive part).
pub struct TokenVerifier {
    jwks: JwksClient,
    verified: VerifiedCache,
}

impl TokenVerifier {
    pub fn new(jwks_url: &str) -> Self {
        Self {
            jwks: JwksClient::new(jwks_url),
            verified: VerifiedCache::new(ACCESS_TOKEN_CACHE),
        }
    }

    /// Verify `token` as an access token (`aud` `booking`); a queue ticket
    /// is refused like any other audience booking never accepts.
    pub async fn verify(&self, token: &str, kid: &str) -> Result<Claims, ApiError> {
        let keys = self.jwks.keys_with(kid).await.map_err(|e| {
            tracing::warn!(error = %e, "the gateway's keys cannot be fetched");
            ApiError::Client(Problem::unavailable())
        })?;
        self.verified
            .verify(token, &keys, &[Audience::Booking], shared::unix_now())
            .map_err(unauthenticated)
    }
}

fn unauthenticated(e: TokenError) -> ApiError {
    metrics::counter!("token_rejections_total", "reason" => e.reason()).increment(1);
    ApiError::new(ErrorCode::Unauthenticated, e.to_string())
}

/// A session token's refusal: `401`, or `503` when the keys or Redis are out.
pub fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::Token(e) => unauthenticated(e),
        SessionError::Keys(cause) => {
            tracing::warn!(error = %cause, "session keys unavailable");
            ApiError::Client(Problem::unavailable())
        }
        SessionError::Redis(e) => ApiError::Redis(e),
        SessionError::Postgres(e) => ApiError::Database(e),
    }
}

/// Booking's own session keys and verifier, shared by the extractor and the
/// session endpoints.
pub struct SessionAuth {
    pub keys: Arc<KeySet>,
    pub verifier: SessionVerifier,
}

/// Who a verified bearer token says is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A session token: the user logged in.
    Session(SessionClaims),
    /// An access token: the user was admitted to a concert.
    Access(Claims),
}

/// The verified `Authorization: Bearer` token of a request. Extracting it is
/// the first check of every authenticated endpoint (`401`).
#[derive(Debug, Clone)]
pub struct Bearer(pub Caller);

impl Bearer {
    /// The user the token belongs to (`sub`).
    pub fn user_id(&self) -> UserId {
        match &self.0 {
            Caller::Session(s) => s.user_id,
            Caller::Access(a) => a.user_id,
        }
    }

    /// *User* level: the token belongs to `user`, else `403 FORBIDDEN`.
    pub fn require_user(&self, user: UserId) -> Result<(), ApiError> {
        if self.user_id() == user {
            Ok(())
        } else {
            metrics::counter!("token_rejections_total", "reason" => "other_user").increment(1);
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "the token belongs to another user",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(|| {
            metrics::counter!("token_rejections_total", "reason" => "missing").increment(1);
            ApiError::new(
                ErrorCode::Unauthenticated,
                "an Authorization: Bearer token is required",
            )
        })?;
        // The key id says who signed it: booking's own session key, or else
        // one of the gateway's keys.
        let kid = peek_kid(token).map_err(unauthenticated)?;
        if state.sessions.keys.get(&kid).is_some() {
            let claims = state
                .sessions
                .verifier
                .verify(token, shared::unix_now())
                .await
                .map_err(session_error)?;
            shared::limits::note_verified();
            return Ok(Bearer(Caller::Session(claims)));
        }
        let claims = state.tokens.verify(token, &kid).await?;
        shared::limits::note_verified();
        Ok(Bearer(Caller::Access(claims)))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
