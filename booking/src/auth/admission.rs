//! The *admitted* level: an access token for the concert concerned whose
//! ticket is still in that concert's active set.
//!
//! Every check reads Redis, uncached: one round trip (`ZSCORE` of the
//! ticket and `GET` of the queue's epoch, pipelined). So a token is refused
//! by every replica from the moment the payment or the leave that revoked it
//! has answered (API.md, Tokens and the Errors preamble): there is no window
//! in which another process still believes an old answer, for holds or for
//! reads. The cost is that round trip on each admitted request, the same
//! that every session-token check already pays (`shared::sessions`).
//!
//! A ticket missing from the active set was revoked (paid, left) or its
//! session ended — unless Redis lost it. The access token carries the
//! queue's epoch (`qep`): when Redis's epoch is another one (or none), the
//! queue was rebuilt after a loss, and Postgres's copy of the sessions
//! (`queue_sessions`, ended in the same transaction as a payment and before
//! a leave answers) decides. A session live there is put back in the active
//! set and the token keeps working until its `exp` (API.md, "Redis is not
//! the only copy"); a paid or left one stays refused.

use shared::ErrorCode;
use shared::ids::{ConcertId, UserId};
use shared::tokens::Claims;
use sqlx::PgPool;
use uuid::Uuid;

use super::Caller;
use crate::catalog::Schedule;
use crate::error::ApiError;
use crate::redis_gate::RedisGate;

/// Checks and revokes admission.
pub struct Admission {
    gate: RedisGate,
    db: PgPool,
}

impl Admission {
    pub fn new(gate: RedisGate, db: PgPool) -> Self {
        Self { gate, db }
    }

    /// `403 NOT_ADMITTED` for a session token (logged in, but not
    /// admitted) or an access token no longer in the active set at `now_ms`;
    /// `403 FORBIDDEN` for an access token of another concert. `503` when
    /// Redis (or, for a token whose session Redis lost, Postgres) cannot say.
    pub async fn require(
        &self,
        caller: &Caller,
        concert: ConcertId,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let claims = access_claims(caller, concert)?;
        let (session_end, epoch) = self.gate.session_end_ms(concert, claims.ticket_id).await?;
        self.decide(claims, concert, session_end, epoch, now_ms)
            .await
    }

    /// [`Self::require`] for `schedule`'s concert, reading the schedule's
    /// seat-map version at the same time (the seat map,
    /// `crate::seats`); the version (`None` when Redis has none) is returned
    /// only to an admitted caller.
    pub async fn require_with_seats_version(
        &self,
        caller: &Caller,
        schedule: &Schedule,
        now_ms: i64,
    ) -> Result<Option<Uuid>, ApiError> {
        let concert = schedule.concert_id;
        let claims = access_claims(caller, concert)?;
        let ((session_end, epoch), version) = self
            .gate
            .session_end_and_seats_version(concert, claims.ticket_id, schedule.schedule_id)
            .await?;
        self.decide(claims, concert, session_end, epoch, now_ms)
            .await?;
        Ok(version)
    }

    /// The verdict on an access token for `concert` whose ticket Redis
    /// scores `session_end` (Unix ms) in the active set, with the queue at
    /// `epoch`.
    async fn decide(
        &self,
        claims: &Claims,
        concert: ConcertId,
        session_end: Option<f64>,
        epoch: Option<i64>,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        #[expect(clippy::cast_precision_loss, reason = "Unix ms are far below 2^53")]
        let now = now_ms as f64;
        if session_end.is_some_and(|end| end > now) {
            return Ok(());
        }
        let same_epoch = epoch.is_some() && epoch == claims.queue_epoch;
        if session_end.is_none()
            && !same_epoch
            && self
                .restore(concert, claims.user_id, claims.ticket_id, now_ms)
                .await?
        {
            return Ok(());
        }
        Err(reject(
            "not_admitted",
            ErrorCode::NotAdmitted,
            "the access token is not (or no longer) admitted",
        ))
    }

    /// Whether Postgres has the ticket's session live at `now_ms`; if so it
    /// goes back into the active set.
    async fn restore(
        &self,
        concert: ConcertId,
        user: UserId,
        ticket: Uuid,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        let ends: Option<i64> = sqlx::query_scalar(
            "SELECT ends_ms FROM queue_sessions
             WHERE ticket_id = $1 AND concert_id = $2 AND user_id = $3
               AND ended_ms IS NULL AND ends_ms > $4",
        )
        .bind(ticket)
        .bind(concert.get())
        .bind(user.get())
        .bind(now_ms)
        .fetch_optional(&self.db)
        .await?;
        let Some(ends) = ends else {
            return Ok(false);
        };
        self.gate
            .restore_session(concert, user, ticket, ends)
            .await?;
        metrics::counter!("sessions_restored_total").increment(1);
        tracing::info!(concert = %concert, ticket = %ticket, "put back an active session Redis had lost");
        Ok(true)
    }

    /// End `user`'s session of `concert` (see [`RedisGate::end_session`]).
    pub async fn end_session(
        &self,
        concert: ConcertId,
        user: UserId,
        ticket: Option<Uuid>,
    ) -> Result<(), redis::RedisError> {
        self.gate.end_session(concert, user, ticket).await?;
        Ok(())
    }
}

/// The access token's claims if it is one for `concert`: `403
/// NOT_ADMITTED` for a session token (logged in, but not admitted), `403
/// FORBIDDEN` for an access token of another concert.
fn access_claims(caller: &Caller, concert: ConcertId) -> Result<&Claims, ApiError> {
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
    Ok(claims)
}

fn reject(reason: &'static str, code: ErrorCode, detail: impl Into<String>) -> ApiError {
    metrics::counter!("token_rejections_total", "reason" => reason).increment(1);
    ApiError::new(code, detail)
}
