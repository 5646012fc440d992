//! A payment is one transaction over one or more reservations: lock them
//! (in id order, so two payments naming the same reservations cannot
//! deadlock), check every one is the user's and still held, debit the sum
//! with one conditional UPDATE (no row means "insufficient", and nothing has
//! changed), write one payment row, one `payment_reservations` row per
//! reservation (its primary key allows one payment per reservation), one
//! ledger entry, the confirmations, the end of the user's queue sessions of
//! those concerts in `queue_sessions` (so a loss of Redis cannot bring the
//! paid access token back), and the idempotent response. Either all of it
//! commits or none of it does (API.md, Booking: "all or nothing").

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ids::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{ReservationStatus, rfc3339};
use crate::error::is_constraint;
use crate::idempotency::{self, Claim};

/// The primary key that allows one payment per reservation.
const ONE_PAYMENT_PER_RESERVATION: &str = "payment_reservations_pkey";

/// The body of `201 Created`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub payment_id: Uuid,
    /// Only in answers to the single form `{"reservation_id"}`: the one
    /// reservation paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<Uuid>,
    /// The reservations paid, in the order of the request.
    pub reservation_ids: Vec<Uuid>,
    /// The sum of the reservations' prices, KRW, debited once.
    #[schema(minimum = 0)]
    pub amount: i64,
    /// The balance after the payment, KRW.
    #[schema(minimum = 0)]
    pub balance: i64,
    /// RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub paid_at: DateTime<Utc>,
}

/// A reservation the payment confirmed: what the caller needs to drop its
/// seat lock and end the session of its concert.
#[derive(Debug, Clone, Copy)]
pub struct PaidSeat {
    pub reservation_id: Uuid,
    pub concert_id: i64,
    pub schedule_id: i64,
    pub seat_number: i32,
}

/// How a payment ended. Every variant but `Paid` changed nothing.
pub enum PayOutcome {
    /// Committed; `body` is the serialised [`Payment`] (also stored for replays).
    Paid { body: Vec<u8>, seats: Vec<PaidSeat> },
    /// This reservation does not exist or is another user's.
    NotFound(Uuid),
    /// This reservation is already confirmed.
    AlreadyPaid(Uuid),
    /// This hold timed out, was released or expired.
    HoldExpired(Uuid),
    /// The balance is below `total`, the sum of the prices (KRW).
    InsufficientBalance { total: i64 },
    /// The idempotency claim was taken over; nothing was written.
    ClaimLost,
}

#[derive(sqlx::FromRow)]
struct Locked {
    reservation_id: Uuid,
    user_id: i64,
    concert_id: i64,
    schedule_id: i64,
    seat_number: i32,
    price: i64,
    status: String,
    expires_at: DateTime<Utc>,
}

/// Pay `ids` (distinct, in the request's order) for `user` at `now`.
/// `single` shapes the answer of the single form (`"reservation_id"`).
/// When several reservations fail, the first of `ids` that fails answers.
pub async fn pay(
    db: &PgPool,
    ids: &[Uuid],
    single: bool,
    user: UserId,
    now: DateTime<Utc>,
    claim: Option<&Claim>,
) -> Result<PayOutcome, sqlx::Error> {
    let mut tx = db.begin().await?;
    let locked: Vec<Locked> = sqlx::query_as(
        "SELECT r.reservation_id, r.user_id, s.concert_id, r.schedule_id, r.seat_number,
                r.price, r.status, r.expires_at
         FROM reservations r JOIN schedules s USING (schedule_id)
         WHERE r.reservation_id = ANY($1)
         ORDER BY r.reservation_id
         FOR UPDATE OF r",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        match locked.iter().find(|r| r.reservation_id == *id) {
            Some(r) if r.user_id == user.get() => rows.push(r),
            _ => return Ok(PayOutcome::NotFound(*id)),
        }
    }
    for r in &rows {
        match ReservationStatus::parse(&r.status).map(|s| s.at(r.expires_at, now)) {
            Some(ReservationStatus::Held) => {}
            Some(ReservationStatus::Confirmed) => {
                return Ok(PayOutcome::AlreadyPaid(r.reservation_id));
            }
            _ => return Ok(PayOutcome::HoldExpired(r.reservation_id)),
        }
    }
    // At most MAX_SEATS_PER_USER (≤ 1000) prices of ≤ 10,000,000 each.
    let total: i64 = rows.iter().map(|r| r.price).sum();

    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE balances SET balance = balance - $2, updated_at = $3
         WHERE user_id = $1 AND balance >= $2
         RETURNING balance",
    )
    .bind(user.get())
    .bind(total)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(balance) = balance else {
        return Ok(PayOutcome::InsufficientBalance { total });
    };

    let payment = Payment {
        payment_id: Uuid::new_v4(),
        reservation_id: single.then(|| ids[0]),
        reservation_ids: ids.to_vec(),
        amount: total,
        balance,
        paid_at: now,
    };
    sqlx::query(
        "INSERT INTO payments (payment_id, user_id, amount, paid_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(payment.payment_id)
    .bind(user.get())
    .bind(total)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let prices: Vec<i64> = rows.iter().map(|r| r.price).collect();
    let inserted = sqlx::query(
        "INSERT INTO payment_reservations (reservation_id, payment_id, amount)
         SELECT id, $2, price FROM UNNEST($1::uuid[], $3::bigint[]) AS p (id, price)",
    )
    .bind(ids)
    .bind(payment.payment_id)
    .bind(&prices)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        // Unreachable while the row locks above hold; the key is the backstop.
        Err(e) if is_constraint(&e, ONE_PAYMENT_PER_RESERVATION) => {
            return Ok(PayOutcome::AlreadyPaid(ids[0]));
        }
        Err(e) => return Err(e),
    }
    sqlx::query(
        "INSERT INTO balance_ledger (user_id, kind, amount, balance_after, payment_id, at)
         VALUES ($1, 'payment', $2, $3, $4, $5)",
    )
    .bind(user.get())
    .bind(total)
    .bind(balance)
    .bind(payment.payment_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE reservations SET status = 'confirmed', updated_at = $2
         WHERE reservation_id = ANY($1) AND status = 'held'",
    )
    .bind(ids)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let concerts: Vec<i64> = rows.iter().map(|r| r.concert_id).collect();
    sqlx::query(
        "UPDATE queue_sessions SET ended_ms = $3
         WHERE user_id = $1 AND ended_ms IS NULL AND concert_id = ANY($2)",
    )
    .bind(user.get())
    .bind(&concerts)
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
    let seats = rows
        .iter()
        .map(|r| PaidSeat {
            reservation_id: r.reservation_id,
            concert_id: r.concert_id,
            schedule_id: r.schedule_id,
            seat_number: r.seat_number,
        })
        .collect();
    Ok(PayOutcome::Paid { body, seats })
}
