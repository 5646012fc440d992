//! Who is calling: the bearer token (a queue ticket or an access token signed
//! by the gateway), checked against the gateway's published keys.
//!
//! Two levels build on it: *user* (any valid token whose `sub` is the user
//! concerned, see [`Bearer::require_user`]) and *admitted* (an access token
//! of the concert concerned that is still in its active set, see
//! [`admission`]). The admin token is separate ([`admin`]).

pub mod admin;
pub mod admission;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use shared::ids::UserId;
use shared::tokens::{Audience, Claims, JwksClient, TokenError, VerifiedCache, peek_kid};
use shared::{ErrorCode, Problem};

use crate::error::ApiError;
use crate::state::AppState;

/// Verifies tokens against the gateway's JWKS, remembering tokens it has
/// already verified (the signature check is the expensive part).
pub struct TokenVerifier {
    jwks: JwksClient,
    verified: VerifiedCache,
}

impl TokenVerifier {
    pub fn new(jwks_url: &str) -> Self {
        Self {
            jwks: JwksClient::new(jwks_url),
            verified: VerifiedCache::new(100_000),
        }
    }

    /// Verify `token` as a queue ticket or an access token.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let kid = peek_kid(token).map_err(unauthenticated)?;
        let keys = self.jwks.keys_with(&kid).await.map_err(|e| {
            tracing::warn!(error = %e, "the gateway's keys cannot be fetched");
            ApiError::Client(Problem::unavailable())
        })?;
        self.verified
            .verify(
                token,
                &keys,
                &[Audience::Queue, Audience::Booking],
                shared::unix_now(),
            )
            .map_err(unauthenticated)
    }
}

fn unauthenticated(e: TokenError) -> ApiError {
    metrics::counter!("token_rejections_total", "reason" => e.reason()).increment(1);
    ApiError::new(ErrorCode::Unauthenticated, e.to_string())
}

/// The verified claims of the request's `Authorization: Bearer` token.
/// Extracting it is the first check of every authenticated endpoint (401).
#[derive(Debug, Clone, Copy)]
pub struct Bearer(pub Claims);

impl Bearer {
    /// *User* level: the token belongs to `user`, else `403 FORBIDDEN`.
    pub fn require_user(&self, user: UserId) -> Result<(), ApiError> {
        if self.0.user_id == user {
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
        state.tokens.verify(token).await.map(Bearer)
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
