//! The reservations table: taking a hold, reading one, releasing one.
//!
//! A hold is one transaction whose every step is conditional, so that it is
//! correct on its own even when the Redis lock in front of it was lost:
//! the user's row is locked (the per-user limit cannot be raced by the same
//! user), a timed-out hold of the seat is moved to `expired`, the user's live
//! reservations are counted, and the insert is guarded by the live-seat unique
//! index (a concurrent winner makes it fail, which means "seat taken").

use chrono::{DateTime, Utc};
use shared::ids::{ScheduleId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::SeatNumber;
use crate::error::is_constraint;

/// The index that allows one live (held or confirmed) reservation per seat.
pub const LIVE_SEAT_INDEX: &str = "reservations_live_seat_uidx";

/// A reservation as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    pub reservation_id: Uuid,
    pub user_id: i64,
    pub schedule_id: i64,
    pub seat_number: i32,
    pub price: i64,
    pub status: String,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "reservation_id, user_id, schedule_id, seat_number, price, status, expires_at";

/// A hold to take.
pub struct NewHold {
    pub reservation_id: Uuid,
    pub user: UserId,
    pub schedule: ScheduleId,
    pub seat: SeatNumber,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_per_user: i64,
}

pub enum HoldOutcome {
    Held(ReservationRow),
    /// Someone else holds or bought the seat.
    SeatTaken,
    /// The user already holds or owns the maximum for this schedule.
    LimitReached,
    /// The token's user does not exist here.
    UnknownUser,
}

pub async fn hold(db: &PgPool, hold: &NewHold) -> Result<HoldOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let user: Option<i64> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = $1 FOR NO KEY UPDATE")
            .bind(hold.user.get())
            .fetch_optional(&mut *tx)
            .await?;
    if user.is_none() {
        return Ok(HoldOutcome::UnknownUser);
    }
    let expired = sqlx::query(
        "UPDATE reservations SET status = 'expired', updated_at = $3
         WHERE schedule_id = $1 AND seat_number = $2
           AND status = 'held' AND expires_at <= $3",
    )
    .bind(hold.schedule.get())
    .bind(hold.seat.get())
    .bind(hold.now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations
         WHERE user_id = $1 AND schedule_id = $2
           AND status IN ('held', 'confirmed')
           AND (status = 'confirmed' OR expires_at > $3)",
    )
    .bind(hold.user.get())
    .bind(hold.schedule.get())
    .bind(hold.now)
    .fetch_one(&mut *tx)
    .await?;
    if live >= hold.max_per_user {
        return Ok(HoldOutcome::LimitReached);
    }
    let inserted = sqlx::query_as::<_, ReservationRow>(&format!(
        "INSERT INTO reservations
             (reservation_id, user_id, schedule_id, seat_number, price, status,
              expires_at, created_at, updated_at)
         SELECT $1, $2, schedule_id, seat_number, price, 'held', $5, $6, $6
         FROM seats WHERE schedule_id = $3 AND seat_number = $4
         RETURNING {COLUMNS}"
    ))
    .bind(hold.reservation_id)
    .bind(hold.user.get())
    .bind(hold.schedule.get())
    .bind(hold.seat.get())
    .bind(hold.expires_at)
    .bind(hold.now)
    .fetch_optional(&mut *tx)
    .await;
    let row = match inserted {
        Ok(Some(row)) => row,
        // The seat row exists (the schedule said so); no row means a
        // concurrent delete, which the API never does: treat as taken.
        Ok(None) => return Ok(HoldOutcome::SeatTaken),
        Err(e) if is_constraint(&e, LIVE_SEAT_INDEX) => return Ok(HoldOutcome::SeatTaken),
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    if expired > 0 {
        metrics::counter!("hold_expiries_total").increment(expired);
    }
    Ok(HoldOutcome::Held(row))
}

/// One reservation, whoever owns it.
pub async fn find(db: &PgPool, id: Uuid) -> Result<Option<ReservationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reservations WHERE reservation_id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub enum CancelOutcome {
    Cancelled(ReservationRow),
    /// Not held any more; the current row says why.
    NotHeld(ReservationRow),
    Missing,
}

/// Release a hold of `user` that has not timed out at `now`.
pub async fn cancel(
    db: &PgPool,
    id: Uuid,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<CancelOutcome, sqlx::Error> {
    let cancelled = sqlx::query_as(&format!(
        "UPDATE reservations SET status = 'cancelled', updated_at = $3
         WHERE reservation_id = $1 AND user_id = $2
           AND status = 'held' AND expires_at > $3
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user.get())
    .bind(now)
    .fetch_optional(db)
    .await?;
    if let Some(row) = cancelled {
        return Ok(CancelOutcome::Cancelled(row));
    }
    Ok(match find(db, id).await? {
        Some(row) => CancelOutcome::NotHeld(row),
        None => CancelOutcome::Missing,
    })
}
