//! `Idempotency-Key` for payments and charges, with Stripe's semantics.
//!
//! Keys are per user and live 24 hours. The key is looked up first, before
//! the request's resources: a completed request is replayed byte for byte
//! (status and body), a different request under the same key is `422
//! IDEMPOTENCY_KEY_REUSED`, and a request still running is `409
//! IDEMPOTENCY_IN_PROGRESS`. A new key is *claimed* before the work starts,
//! and the response is stored by [`complete`] in the same transaction as the
//! work's effect: a stored response always means the effect happened, once.
//! A request that fails stores nothing and releases its claim, so the client
//! may retry with the same key. A claim whose worker vanished (a crash) can
//! be taken over by the same request after [`CLAIM_LEASE`]; only the current
//! claimant can store a response, so the two can never both take effect.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use shared::ids::UserId;
use shared::text::Text;
use shared::{ErrorCode, Problem};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long a key is remembered.
pub const KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);
/// After this long without a stored response, a claim is taken to be abandoned.
pub const CLAIM_LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// A valid key: 1–255 printable ASCII characters (API.md, Booking), read
/// through the one client-text type ([`Text`]), so a control character is
/// refused like in any other text field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// The header, as text before the ASCII rule.
type KeyText = Text<1, 255>;

impl IdempotencyKey {
    /// The key of `headers`, if any; `400 INVALID_REQUEST` naming the
    /// header when it is not 1–255 printable ASCII characters.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Problem> {
        let Some(text) = KeyText::from_header(headers, HEADER)? else {
            return Ok(None);
        };
        if !text.is_ascii() {
            return Err(Problem::invalid(format!(
                "header `{HEADER}`: must be printable ASCII"
            )));
        }
        Ok(Some(Self(text.into_string())))
    }
}

const HEADER: &str = "Idempotency-Key";

/// The optional `Idempotency-Key` header; a malformed one is `400`.
pub struct IdempotencyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        IdempotencyKey::from_headers(&parts.headers).map(Self)
    }
}

/// What identifies "the same request": method, path and the canonical JSON
/// of the parsed body (so formatting differences do not matter).
pub fn fingerprint(method: &str, path: &str, body: &impl serde::Serialize) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b"\n");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(serde_json::to_vec(body).unwrap_or_default());
    format!("{:x}", hash.finalize())
}

/// A key that was used before.
#[derive(Debug)]
pub enum Existing {
    /// Finished: answer exactly as the first time.
    Replay { status: StatusCode, body: Vec<u8> },
    /// Same key, different request.
    Reused,
    /// The first request is still running.
    InProgress,
}

impl IntoResponse for Existing {
    fn into_response(self) -> Response {
        match self {
            Existing::Replay { status, body } => {
                let mut response = (status, body).into_response();
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
                response
            }
            Existing::Reused => Problem::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used for a different request",
            )
            .into_response(),
            Existing::InProgress => Problem::new(
                ErrorCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is still being processed",
            )
            .into_response(),
        }
    }
}

/// The right to do the work of a key and store its response.
#[derive(Debug)]
pub struct Claim {
    user: UserId,
    key: String,
    claim_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    fingerprint: String,
    response_status: Option<i16>,
    response_body: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
    claimed_at: DateTime<Utc>,
}

/// The earlier use of `key` by `user`, if it still counts at `now`.
pub async fn lookup(
    db: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Option<Existing>, sqlx::Error> {
    let row: Option<KeyRow> = sqlx::query_as(
        "SELECT fingerprint, response_status, response_body, created_at, claimed_at
         FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user.get())
    .bind(&key.0)
    .fetch_optional(db)
    .await?;
    let Some(row) = row.filter(|row| row.created_at > now - KEY_LIFETIME) else {
        return Ok(None);
    };
    if row.fingerprint != fingerprint {
        return Ok(Some(Existing::Reused));
    }
    Ok(match (row.response_status, row.response_body) {
        (Some(status), Some(body)) => Some(Existing::Replay {
            status: u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK),
            body,
        }),
        _ if row.claimed_at <= now - CLAIM_LEASE => None,
        _ => Some(Existing::InProgress),
    })
}

/// Claim `key` for this request, or learn how it was used meanwhile.
pub async fn claim(
    db: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Result<Claim, Existing>, sqlx::Error> {
    for _ in 0..3 {
        let claim_id = Uuid::new_v4();
        // Insert, or take over a key that has expired or whose claim was
        // abandoned by the same request; anything else is left alone.
        let claimed: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO idempotency_keys
                 (user_id, idem_key, fingerprint, claim_id, claimed_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (user_id, idem_key) DO UPDATE
             SET fingerprint = EXCLUDED.fingerprint, claim_id = EXCLUDED.claim_id,
                 claimed_at = EXCLUDED.claimed_at, created_at = EXCLUDED.created_at,
                 response_status = NULL, response_body = NULL
             WHERE idempotency_keys.created_at <= $6
                OR (idempotency_keys.response_status IS NULL
                    AND idempotency_keys.fingerprint = EXCLUDED.fingerprint
                    AND idempotency_keys.claimed_at <= $7)
             RETURNING claim_id",
        )
        .bind(user.get())
        .bind(&key.0)
        .bind(fingerprint)
        .bind(claim_id)
        .bind(now)
        .bind(now - KEY_LIFETIME)
        .bind(now - CLAIM_LEASE)
        .fetch_optional(db)
        .await?;
        if claimed == Some(claim_id) {
            return Ok(Ok(Claim {
                user,
                key: key.0.clone(),
                claim_id,
            }));
        }
        if let Some(existing) = lookup(db, user, key, fingerprint, now).await? {
            return Ok(Err(existing));
        }
        // Released or expired in between: try again.
    }
    Ok(Err(Existing::InProgress))
}

/// Store the response of `claim`, inside the transaction of the effect.
/// `false` means the claim was taken over: the caller must roll back.
pub async fn complete(
    tx: &mut PgConnection,
    claim: &Claim,
    status: StatusCode,
    body: &[u8],
) -> Result<bool, sqlx::Error> {
    let stored = sqlx::query(
        "UPDATE idempotency_keys SET response_status = $4, response_body = $5
         WHERE user_id = $1 AND idem_key = $2 AND claim_id = $3 AND response_status IS NULL",
    )
    .bind(claim.user.get())
    .bind(&claim.key)
    .bind(claim.claim_id)
    .bind(i16::try_from(status.as_u16()).unwrap_or(200))
    .bind(body)
    .execute(tx)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// Give the key back after a failure that stored nothing.
pub async fn release(db: &PgPool, claim: Claim) {
    let released = sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE user_id = $1 AND idem_key = $2 AND claim_id = $3 AND response_status IS NULL",
    )
    .bind(claim.user.get())
    .bind(&claim.key)
    .bind(claim.claim_id)
    .execute(db)
    .await;
    if let Err(e) = released {
        // The claim lapses after CLAIM_LEASE; until then the key answers 409.
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}

/// The error answered when the claim was lost before the effect committed.
pub fn claim_lost() -> Problem {
    Problem::new(
        ErrorCode::IdempotencyInProgress,
        "another request with this Idempotency-Key took over",
    )
}
