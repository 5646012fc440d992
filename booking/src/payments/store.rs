//! A payment is one transaction: lock the reservation, check it is the
//! user's and still held, debit the balance with a conditional UPDATE (no
//! row means "insufficient", and nothing has changed), write the payment
//! (unique per reservation), the ledger entry, the confirmation, the end of
//! the user's queue session of that concert in `queue_sessions` (so a loss
//! of Redis cannot bring the paid access token back), and the idempotent
//! response. Either all of it commits or none of it does.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ids::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{ReservationStatus, rfc3339};
use crate::error::is_constraint;
use crate::idempotency::{self, Claim};

/// The unique constraint that allows one payment per reservation.
const ONE_PAYMENT_PER_RESERVATION: &str = "payments_reservation_id_key";

/// The body of `201 Created`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub payment_id: Uuid,
    pub reservation_id: Uuid,
    /// The price paid, KRW.
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub amount: i64,
    /// The balance after the payment, KRW.
    #[schema(minimum = 0)]
    pub balance: i64,
    /// RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub paid_at: DateTime<Utc>,
}

pub enum PayOutcome {
    /// Committed; `body` is the serialised [`Payment`] (also stored for replays).
    Paid {
        body: Vec<u8>,
        schedule_id: i64,
        seat_number: i32,
    },
    NotFound,
    AlreadyPaid,
    HoldExpired,
    InsufficientBalance,
    /// The idempotency claim was taken over; nothing was written.
    ClaimLost,
}

#[derive(sqlx::FromRow)]
struct Locked {
    user_id: i64,
    schedule_id: i64,
    seat_number: i32,
    price: i64,
    status: String,
    expires_at: DateTime<Utc>,
}

pub async fn pay(
    db: &PgPool,
    reservation_id: Uuid,
    user: UserId,
    now: DateTime<Utc>,
    claim: Option<&Claim>,
) -> Result<PayOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let locked: Option<Locked> = sqlx::query_as(
        "SELECT user_id, schedule_id, seat_number, price, status, expires_at
         FROM reservations WHERE reservation_id = $1 FOR UPDATE",
    )
    .bind(reservation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = locked.filter(|r| r.user_id == user.get()) else {
        return Ok(PayOutcome::NotFound);
    };
    match ReservationStatus::parse(&r.status).map(|s| s.at(r.expires_at, now)) {
        Some(ReservationStatus::Held) => {}
        Some(ReservationStatus::Confirmed) => return Ok(PayOutcome::AlreadyPaid),
        _ => return Ok(PayOutcome::HoldExpired),
    }

    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE balances SET balance = balance - $2, updated_at = $3
         WHERE user_id = $1 AND balance >= $2
         RETURNING balance",
    )
    .bind(user.get())
    .bind(r.price)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(balance) = balance else {
        return Ok(PayOutcome::InsufficientBalance);
    };

    let payment = Payment {
        payment_id: Uuid::new_v4(),
        reservation_id,
        amount: r.price,
        balance,
        paid_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO payments (payment_id, reservation_id, user_id, amount, paid_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(payment.payment_id)
    .bind(reservation_id)
    .bind(user.get())
    .bind(payment.amount)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_constraint(&e, ONE_PAYMENT_PER_RESERVATION) => {
            return Ok(PayOutcome::AlreadyPaid);
        }
        Err(e) => return Err(e),
    }
    sqlx::query(
        "INSERT INTO balance_ledger (user_id, kind, amount, balance_after, payment_id, at)
         VALUES ($1, 'payment', $2, $3, $4, $5)",
    )
    .bind(user.get())
    .bind(payment.amount)
    .bind(balance)
    .bind(payment.payment_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE reservations SET status = 'confirmed', updated_at = $2
         WHERE reservation_id = $1 AND status = 'held'",
    )
    .bind(reservation_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE queue_sessions SET ended_ms = $3
         WHERE user_id = $1 AND ended_ms IS NULL
           AND concert_id = (SELECT concert_id FROM schedules WHERE schedule_id = $2)",
    )
    .bind(user.get())
    .bind(r.schedule_id)
    .bind(now.timestamp_millis())
    .execute(&mut *tx)
    .await?;

    let body = serde_json::to_vec(&payment).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    if let Some(claim) = claim
        && !idempotency::complete(&mut tx, claim, axum::http::StatusCode::CREATED, &body).await?
    {
        return Ok(PayOutcome::ClaimLost);
    }
    tx.commit().await?;
    Ok(PayOutcome::Paid {
        body,
        schedule_id: r.schedule_id,
        seat_number: r.seat_number,
    })
}
