//! Verifying session tokens, and revoking them on every replica at once.
//!
//! Both services accept session tokens: booking its own (its signing key is
//! local), the gateway those of the identity provider at
//! `IDENTITY_JWKS_URL`. A [`SessionVerifier`] checks the signature and claims
//! (cached by exact token string, like every token), then asks Redis whether
//! the session was revoked: `DELETE /v1/sessions/current` writes
//! `{prefix}:revoked-session:<jti>` until the token's `exp`, and because
//! every verification reads that key (one `EXISTS`, never cached), a revoked
//! token is refused by every replica of both services from the moment the
//! revocation answered (API.md, Errors preamble and `DELETE /v1/sessions/current`).

use std::sync::Arc;

use redis::aio::ConnectionManager;

use crate::tokens::{
    IdentityPolicy, JwksClient, KeySet, SessionClaims, TokenError, VerifiedCache, peek_kid,
    verify_session,
};

/// Why a session token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// `401 UNAUTHENTICATED`: the token itself is bad, or revoked.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// `503`: the issuer's keys cannot be fetched.
    #[error("the identity provider's keys cannot be fetched: {0}")]
    Keys(String),
    /// `503` (or `500`): Redis could not say whether the session was revoked.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// Where the public keys of session tokens come from.
pub enum SessionKeys {
    /// The verifier's own keys (booking verifying the sessions it signed).
    Local(Arc<KeySet>),
    /// A remote JWKS (the gateway verifying an identity provider's sessions).
    Remote(JwksClient),
}

/// Verifies session tokens: signature and claims (see
/// [`verify_session`]), then revocation in Redis.
pub struct SessionVerifier {
    keys: SessionKeys,
    policy: IdentityPolicy,
    verified: VerifiedCache<SessionClaims>,
    redis: ConnectionManager,
    prefix: String,
}

impl SessionVerifier {
    /// `capacity` bounds the verified-token cache (entries, not bytes).
    pub fn new(
        keys: SessionKeys,
        policy: IdentityPolicy,
        redis: ConnectionManager,
        prefix: impl Into<String>,
        capacity: usize,
    ) -> Self {
        Self {
            keys,
            policy,
            verified: VerifiedCache::new(capacity),
            redis,
            prefix: prefix.into(),
        }
    }

    /// The session of `token` at `now` (Unix seconds), if it verifies and
    /// has not been revoked.
    pub async fn verify(&self, token: &str, now: i64) -> Result<SessionClaims, SessionError> {
        let keys = match &self.keys {
            SessionKeys::Local(keys) => Arc::clone(keys),
            SessionKeys::Remote(jwks) => {
                let kid = peek_kid(token)?;
                jwks.keys_with(&kid)
                    .await
                    .map_err(|e| SessionError::Keys(e.to_string()))?
            }
        };
        let claims = self.verified.get_or_verify(token, &keys, now, || {
            verify_session(token, &keys, &self.policy, now)
        })?;
        if let Some(id) = &claims.session_id
            && is_revoked(&mut self.redis.clone(), &self.prefix, id).await?
        {
            return Err(TokenError::Revoked.into());
        }
        Ok(claims)
    }

    /// Revoke `claims`' session until its `exp`, for every replica.
    /// A session without a `jti` cannot be named, so nothing is written.
    pub async fn revoke(&self, claims: &SessionClaims, now: i64) -> Result<(), redis::RedisError> {
        let Some(id) = &claims.session_id else {
            return Ok(());
        };
        let ttl_ms = claims
            .expires_at
            .saturating_sub(now)
            .saturating_mul(1000)
            .max(1);
        let () = redis::cmd("SET")
            .arg(revoked_key(&self.prefix, id))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }
}

/// The key marking session `id` revoked: `{prefix}:revoked-session:<jti>`,
/// a string that expires with the token.
pub fn revoked_key(prefix: &str, id: &str) -> String {
    format!("{prefix}:revoked-session:{id}")
}

async fn is_revoked(
    conn: &mut ConnectionManager,
    prefix: &str,
    id: &str,
) -> Result<bool, redis::RedisError> {
    redis::cmd("EXISTS")
        .arg(revoked_key(prefix, id))
        .query_async(conn)
        .await
}
