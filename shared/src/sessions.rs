//! Verifying session tokens, and revoking them on every replica at once.
//!
//! Both services accept session tokens: booking its own (its signing key is
//! local), the gateway those of the identity provider at
//! `IDENTITY_JWKS_URL`. A [`SessionVerifier`] checks the signature and claims
//! (cached by exact token string, like every token), then asks Redis whether
//! the session was revoked. `DELETE /v1/sessions/current` writes the
//! revocation to Postgres (`revoked_sessions`, the truth) and then to Redis
//! (`{prefix}:{revoked}:session:<jti>` until the token's `exp`). Because every
//! verification reads that key (never cached), a revoked token is refused by
//! every replica of both services from the moment the revocation answered
//! (API.md, Errors preamble and `DELETE /v1/sessions/current`).
//!
//! Both checks are batched ([`crate::batch`]): the signatures of session
//! tokens that arrive together are verified as one Ed25519 batch
//! ([`verify_signatures`]), and their revocation lookups go to Redis as one
//! pipeline. Alone, a check runs at once on the caller's task.
//!
//! Redis may lose its data (a restart without persistence, a flush, a
//! failover to a lagging replica). The same round trip therefore also reads
//! `{prefix}:{revoked}:loaded`, a marker written after the
//! revocations were copied from Postgres: when it is missing, the verifier
//! copies them again before answering, so a lost key can never bring a
//! logged-out session back.
//!
//! The revocations and their marker share the hash tag `{revoked}`, so on a
//! Redis Cluster they live in one slot: a batch of lookups is one
//! single-slot pipeline, and a failover that loses revocations loses the
//! marker with them (a marker on another master could outlive them and
//! hide the loss). The cost is that every revocation lookup goes to that
//! slot's master: one `EXISTS` per session-token request, batched.

use std::sync::Arc;

use crate::infra::RedisConnection;
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::batch::{BatchError, Batcher};
use crate::tokens::{
    IdentityPolicy, JwksClient, KeySet, SessionClaims, SignatureCheck, TokenError, VerifiedCache,
    payload_of, peek_kid, session::session_claims, signature_check, verify_signatures,
};

/// Most signatures (and revocation lookups) checked in one batch.
const MAX_BATCH: usize = 64;

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
    /// Signature checks of tokens not in `verified`, batched.
    signatures: Batcher<SignatureCheck, bool, ()>,
    /// Revocation lookups by session id, batched: `Some(revoked)`, or `None`
    /// when the revocations are not in Redis (see [`Self::reload`]).
    revocations: Batcher<String, Option<bool>, Arc<redis::RedisError>>,
    redis: RedisConnection,
    db: PgPool,
    prefix: String,
    reloading: Mutex<()>,
}

impl SessionVerifier {
    /// `cache` bounds the verified-token cache (entries and bytes). Must be
    /// called inside a Tokio runtime: it starts the batching tasks.
    pub fn new(
        keys: SessionKeys,
        policy: IdentityPolicy,
        redis: RedisConnection,
        db: PgPool,
        prefix: impl Into<String>,
        cache: crate::cache::Budget,
    ) -> Self {
        let prefix = prefix.into();
        let (lookup_redis, lookup_prefix) = (redis.clone(), prefix.clone());
        Self {
            keys,
            policy,
            verified: VerifiedCache::new(cache),
            signatures: Batcher::spawn_gathering(
                MAX_BATCH,
                |checks: Vec<SignatureCheck>| async move {
                    metrics::counter!("session_signature_batches_total").increment(1);
                    metrics::counter!("session_signatures_checked_total")
                        .increment(checks.len() as u64);
                    verify_signatures(&checks).into_iter().map(Ok).collect()
                },
            ),
            revocations: Batcher::spawn(MAX_BATCH, 2, move |ids: Vec<String>| {
                lookup(lookup_redis.clone(), lookup_prefix.clone(), ids)
            }),
            redis,
            db,
            prefix,
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
        let claims = match self.verified.get(token, &keys, now)? {
            Some(claims) => claims,
            None => {
                let check = signature_check(token, &keys)?;
                if !self.signatures.call(check).await.unwrap_or(false) {
                    return Err(TokenError::Signature.into());
                }
                let claims = session_claims(&payload_of(token)?, &self.policy, now)?;
                self.verified.remember(token, claims.clone())?;
                claims
            }
        };
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

    /// One round trip (shared with the concurrent checks): is `id` revoked,
    /// and are the revocations in Redis at all? If not, copy them from
    /// Postgres and ask again.
    async fn is_revoked(&self, id: &str) -> Result<bool, SessionError> {
        match self.revocations.call(id.to_owned()).await {
            Ok(Some(revoked)) => return Ok(revoked),
            Ok(None) => {}
            Err(BatchError::Failed(e)) => return Err(SessionError::Redis(unshare(e))),
            Err(BatchError::Stopped) => {
                return Err(SessionError::Redis(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "the revocation lookup task stopped",
                ))));
            }
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

/// One pipeline for a batch of revocation lookups: the marker, then one
/// `EXISTS` per session id. Each answer is `None` when the marker is missing.
async fn lookup(
    mut redis: RedisConnection,
    prefix: String,
    ids: Vec<String>,
) -> Vec<Result<Option<bool>, Arc<redis::RedisError>>> {
    let mut pipe = redis::pipe();
    pipe.exists(loaded_key(&prefix));
    for id in &ids {
        pipe.exists(revoked_key(&prefix, id));
    }
    match pipe.query_async::<Vec<bool>>(&mut redis).await {
        Ok(answers) if answers.len() == ids.len() + 1 => {
            let loaded = answers[0];
            answers[1..]
                .iter()
                .map(|&revoked| Ok(loaded.then_some(revoked)))
                .collect()
        }
        Ok(_) => {
            let e = redis::RedisError::from((
                redis::ErrorKind::Client,
                "a revocation lookup answered the wrong number of keys",
            ));
            crate::batch::all(ids.len(), &Arc::new(e))
        }
        Err(e) => crate::batch::all(ids.len(), &Arc::new(e)),
    }
}

/// A Redis error shared by a batch, as one caller's own error (same kind,
/// same message).
fn unshare(e: Arc<redis::RedisError>) -> redis::RedisError {
    Arc::try_unwrap(e).unwrap_or_else(|shared| {
        redis::RedisError::from((
            shared.kind(),
            "a batched Redis call failed",
            shared.to_string(),
        ))
    })
}

/// The key marking session `id` revoked: `{prefix}:{revoked}:session:<jti>`,
/// a string that expires with the token.
pub fn revoked_key(prefix: &str, id: &str) -> String {
    format!("{prefix}:{{revoked}}:session:{id}")
}

/// The marker that the revocations were copied from Postgres into this
/// Redis: `{prefix}:{revoked}:loaded` (no expiry), in the slot of the
/// revocations.
pub fn loaded_key(prefix: &str) -> String {
    format!("{prefix}:{{revoked}}:loaded")
}
