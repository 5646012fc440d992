//! The *admitted* level: an access token for the concert concerned whose
//! ticket is still in that concert's active set.
//!
//! The check is one `ZSCORE`. A positive answer is remembered for at most
//! [`CACHE_MAX_AGE`], so a burst of requests from one user costs one round
//! trip; the process that revokes a ticket forgets its answer at once, and
//! other replicas within that second.

use std::time::{Duration, Instant};

use shared::ErrorCode;
use shared::cache::{BoundedCache, Budget, bounded};
use shared::ids::{ConcertId, UserId};
use uuid::Uuid;

use super::Caller;
use crate::error::ApiError;
use crate::redis_gate::RedisGate;

/// How long an "admitted" answer may be reused.
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(1);

/// Size of the cache of admission answers: fixed-size entries (a ticket id
/// and two numbers), 100,000 of them in at most 8 MiB.
pub const CACHE: Budget = Budget::mib(100_000, 8);

/// Checks and revokes admission.
pub struct Admission {
    gate: RedisGate,
    /// Ticket id → (end of its session in Unix ms, when that was read).
    recent: BoundedCache<Uuid, (f64, Instant)>,
}

impl Admission {
    pub fn new(gate: RedisGate) -> Self {
        Self {
            gate,
            recent: bounded(CACHE),
        }
    }

    /// `403 NOT_ADMITTED` for a session token (logged in, but not
    /// admitted) or an access token no longer in the active set at `now_ms`;
    /// `403 FORBIDDEN` for an access token of another concert.
    pub async fn require(
        &self,
        caller: &Caller,
        concert: ConcertId,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let claims = match caller {
            Caller::Access(claims) => claims,
            Caller::Session(_) => {
                return Err(reject(
                    "session_token",
                    ErrorCode::NotAdmitted,
                    "a session token cannot book; join the queue and wait for an access token",
                ));
            }
        };
        if claims.concert_id != concert {
            return Err(reject(
                "other_concert",
                ErrorCode::Forbidden,
                format!(
                    "the token is for concert {}, not concert {concert}",
                    claims.concert_id
                ),
            ));
        }
        let session_end = match self.recent.get(&claims.ticket_id) {
            Some((end, read_at)) if read_at.elapsed() < CACHE_MAX_AGE => Some(end),
            _ => {
                let end = self.gate.session_end_ms(concert, claims.ticket_id).await?;
                if let Some(end) = end {
                    self.recent.insert(claims.ticket_id, (end, Instant::now()));
                }
                end
            }
        };
        #[expect(clippy::cast_precision_loss, reason = "Unix ms are far below 2^53")]
        let now = now_ms as f64;
        match session_end {
            Some(end) if end > now => Ok(()),
            _ => Err(reject(
                "not_admitted",
                ErrorCode::NotAdmitted,
                "the access token is not (or no longer) admitted",
            )),
        }
    }

    /// End `user`'s session of `concert` (see [`RedisGate::end_session`])
    /// and forget any cached answer about the tickets removed.
    pub async fn end_session(
        &self,
        concert: ConcertId,
        user: UserId,
        ticket: Option<Uuid>,
    ) -> Result<(), redis::RedisError> {
        if let Some(ticket) = ticket {
            self.recent.remove(&ticket);
        }
        for removed in self.gate.end_session(concert, user, ticket).await? {
            self.recent.remove(&removed);
        }
        Ok(())
    }
}

fn reject(reason: &'static str, code: ErrorCode, detail: impl Into<String>) -> ApiError {
    metrics::counter!("token_rejections_total", "reason" => reason).increment(1);
    ApiError::new(code, detail)
}
