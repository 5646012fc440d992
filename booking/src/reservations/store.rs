//! The reservations table: taking a hold, reading one, releasing one.
//!
//! A hold is one transaction (the `hold_seat` function, one round trip) whose
//! every step is conditional, so that it is
//! correct on its own even when the Redis lock in front of it was lost:
//! the user's row is locked (the per-user limit cannot be raced by the same
//! user), a timed-out hold of the seat is moved to `expired`, the user's live
//! reservations are counted, and the insert is guarded by the live-seat unique
//! index (a concurrent winner makes it fail, which means "seat taken").

use chrono::{DateTime, Utc};
use shared::ids::{ScheduleId, UserId};
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use crate::domain::SeatNumber;

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

/// Take a hold with the `hold_seat` function (migration 0003): the steps
/// described at the top of this module, in one round trip.
pub async fn hold(db: &PgPool, hold: &NewHold) -> Result<HoldOutcome, sqlx::Error> {
    let row: HoldRow = sqlx::query_as("SELECT * FROM hold_seat($1, $2, $3, $4, $5, $6, $7)")
        .bind(hold.reservation_id)
        .bind(hold.user.get())
        .bind(hold.schedule.get())
        .bind(hold.seat.get())
        .bind(hold.now)
        .bind(hold.expires_at)
        .bind(i32::try_from(hold.max_per_user).unwrap_or(i32::MAX))
        .fetch_one(db)
        .await?;
    if row.expired > 0 {
        metrics::counter!("hold_expiries_total").increment(u64::try_from(row.expired).unwrap_or(0));
    }
    Ok(match (row.outcome.as_str(), row.reservation) {
        ("held", Some(reservation)) => HoldOutcome::Held(reservation),
        ("limit", _) => HoldOutcome::LimitReached,
        ("unknown_user", _) => HoldOutcome::UnknownUser,
        _ => HoldOutcome::SeatTaken,
    })
}

/// The row `hold_seat` returns.
struct HoldRow {
    outcome: String,
    expired: i32,
    reservation: Option<ReservationRow>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for HoldRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        let outcome: String = row.try_get("outcome")?;
        let reservation = if outcome == "held" {
            Some(ReservationRow::from_row(row)?)
        } else {
            None
        };
        Ok(Self {
            outcome,
            expired: row.try_get("expired")?,
            reservation,
        })
    }
}

/// One reservation, whoever owns it.
pub async fn find(db: &PgPool, id: Uuid) -> Result<Option<ReservationRow>, sqlx::Error> {
    // `COLUMNS` is a constant of this file: no input in the SQL.
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reservations WHERE reservation_id = $1"
    )))
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
    let cancelled = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE reservations SET status = 'cancelled', updated_at = $3
         WHERE reservation_id = $1 AND user_id = $2
           AND status = 'held' AND expires_at > $3
         RETURNING {COLUMNS}"
    )))
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
