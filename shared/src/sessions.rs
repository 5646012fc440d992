//! Verifying session tokens, and revoking them on every replica at once.
//!
//! Both services accept session tokens: booking its own (its signing key is
//! local), the gateway those of the identity provider at
//! `IDENTITY_JWKS_URL`. A [`SessionVerifier`] checks the signature and claims
//! (cached by exact token string, like every token), then asks Redis whether
//! the session was revoked. `DELETE /v1/sessions/current` writes the
//! revocation to Postgres (`revoked_sessions`, the truth) and then to Redis
//! (`{prefix}:revoked-session:<jti>` until the token's `exp`). Because every
//! verification reads that key (never cached), a revoked token is refused by
//! every replica of both services from the moment the revocation answered
//! (API.md, Errors preamble and `DELETE /v1/sessions/current`).
//!
//! Redis may lose its data (a restart without persistence, a flush, a
//! failover to a lagging replica). The same round trip therefore also reads
//! `{prefix}:revoked-sessions-loaded`, a marker written after the
//! revocations were copied from Postgres: when it is missing, the verifier
//! copies them again before answering, so a lost key can never bring a
//! logged-out session back.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio::sync::Mutex;

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
    /// `503` (or `500`): Postgres could not give the revocations back.
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
}

/// Where the public keys of session tokens come from.
pub enum SessionKeys {
    /// The verifier's own keys (booking verifying the sessions it signed).
    Local(Arc<KeySet>),
    /// A remote JWKS (the gateway verifying an identity provider's sessions).
    Remote(JwksClient),
}

/// Verifies session tokens: signature and claims (see
/// [`verify_session`]), then revocation in Redis, reloaded from Postgres
/// when Redis lost it.
pub struct SessionVerifier {
    keys: SessionKeys,
    policy: IdentityPolicy,
    verified: VerifiedCache<SessionClaims>,
    redis: ConnectionManager,
    db: PgPool,
    prefix: String,
    reloading: Mutex<()>,
}

impl SessionVerifier {
    /// `cache` bounds the verified-token cache (entries and bytes).
    pub fn new(
        keys: SessionKeys,
        policy: IdentityPolicy,
        redis: ConnectionManager,
        db: PgPool,
        prefix: impl Into<String>,
        cache: crate::cache::Budget,
    ) -> Self {
        Self {
            keys,
            policy,
            verified: VerifiedCache::new(cache),
            redis,
            db,
            prefix: prefix.into(),
            reloading: Mutex::new(()),
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
            && self.is_revoked(id).await?
        {
            return Err(TokenError::Revoked.into());
        }
        Ok(claims)
    }

    /// Revoke `claims`' session until its `exp`, for every replica: first in
    /// Postgres (the copy that survives Redis), then in Redis. A session
    /// without a `jti` cannot be named; the caller must refuse to revoke it.
    pub async fn revoke(&self, claims: &SessionClaims, now: i64) -> Result<(), SessionError> {
        let Some(id) = &claims.session_id else {
            return Err(TokenError::Claims.into());
        };
        sqlx::query(
            "INSERT INTO revoked_sessions (session_id, expires_at)
             VALUES ($1, to_timestamp($2)) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(id)
        .bind(claims.expires_at)
        .execute(&self.db)
        .await?;
        // Keep the table to the tokens that could still be presented.
        sqlx::query("DELETE FROM revoked_sessions WHERE expires_at < now()")
            .execute(&self.db)
            .await?;
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

    /// One round trip: is `id` revoked, and are the revocations in Redis at
    /// all? If not, copy them from Postgres and ask again.
    async fn is_revoked(&self, id: &str) -> Result<bool, SessionError> {
        let (revoked, loaded): (bool, bool) = redis::pipe()
            .exists(revoked_key(&self.prefix, id))
            .exists(loaded_key(&self.prefix))
            .query_async(&mut self.redis.clone())
            .await?;
        if loaded {
            return Ok(revoked);
        }
        self.reload().await?;
        let revoked: bool = redis::cmd("EXISTS")
            .arg(revoked_key(&self.prefix, id))
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(revoked)
    }

    /// Copy every revocation still in force from Postgres to Redis, then
    /// write the marker. One reload at a time per process; a reload that
    /// another finished meanwhile is not repeated.
    async fn reload(&self) -> Result<(), SessionError> {
        let _one = self.reloading.lock().await;
        let mut conn = self.redis.clone();
        let loaded: bool = redis::cmd("EXISTS")
            .arg(loaded_key(&self.prefix))
            .query_async(&mut conn)
            .await?;
        if loaded {
            return Ok(());
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT session_id,
                    GREATEST(1, (extract(epoch FROM expires_at - now()) * 1000)::BIGINT)
             FROM revoked_sessions WHERE expires_at > now()",
        )
        .fetch_all(&self.db)
        .await?;
        for chunk in rows.chunks(1000) {
            let mut pipe = redis::pipe();
            for (id, ttl_ms) in chunk {
                pipe.cmd("SET")
                    .arg(revoked_key(&self.prefix, id))
                    .arg(1)
                    .arg("PX")
                    .arg(*ttl_ms)
                    .ignore();
            }
            let () = pipe.query_async(&mut conn).await?;
        }
        let () = redis::cmd("SET")
            .arg(loaded_key(&self.prefix))
            .arg(1)
            .query_async(&mut conn)
            .await?;
        metrics::counter!("revocations_reloaded_total").increment(1);
        tracing::warn!(
            revocations = rows.len(),
            "the logged-out sessions were missing from Redis; copied them back from Postgres"
        );
        Ok(())
    }
}

/// The key marking session `id` revoked: `{prefix}:revoked-session:<jti>`,
/// a string that expires with the token.
pub fn revoked_key(prefix: &str, id: &str) -> String {
    format!("{prefix}:revoked-session:{id}")
}

/// The marker that the revocations were copied from Postgres into this
/// Redis: `{prefix}:revoked-sessions-loaded` (no expiry).
pub fn loaded_key(prefix: &str) -> String {
    format!("{prefix}:revoked-sessions-loaded")
}
