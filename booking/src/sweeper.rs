//! Background upkeep: marks holds whose time has run out as `expired`, and
//! forgets idempotency keys older than 24 hours.
//!
//! Expiry is also lazy (readers treat a timed-out hold as expired, and the
//! next taker of the seat expires it in its own transaction), so the sweeper
//! only tidies up. It works in batches locked with `FOR UPDATE SKIP LOCKED`,
//! so several replicas sweep side by side without waiting on each other or
//! on a payment that holds a reservation's lock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::domain;
use crate::idempotency::KEY_LIFETIME;

/// Rows per statement: small enough to keep locks short.
const BATCH: i64 = 500;

/// Sweep every `interval` until `stop` turns true.
pub async fn run(db: PgPool, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let now = domain::now();
        match expire_holds(&db, now).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("hold_expiries_total").increment(n);
                tracing::debug!(expired = n, "expired timed-out holds");
            }
            Err(e) => tracing::warn!(error = %e, "sweeping expired holds failed"),
        }
        if let Err(e) = forget_old_keys(&db, now).await {
            tracing::warn!(error = %e, "sweeping old idempotency keys failed");
        }
    }
}

/// Mark every hold that timed out before `now` as `expired`; returns how many.
pub async fn expire_holds(db: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let done = sqlx::query(
            "WITH due AS (
                 SELECT reservation_id FROM reservations
                 WHERE status = 'held' AND expires_at <= $1
                 ORDER BY expires_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE reservations r SET status = 'expired', updated_at = $1
             FROM due WHERE r.reservation_id = due.reservation_id",
        )
        .bind(now)
        .bind(BATCH)
        .execute(db)
        .await?
        .rows_affected();
        total += done;
        if done < BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// Delete idempotency keys older than their lifetime.
pub async fn forget_old_keys(db: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN (
                 SELECT user_id, idem_key FROM idempotency_keys
                 WHERE created_at <= $1
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED
             )",
        )
        .bind(now - KEY_LIFETIME)
        .bind(BATCH)
        .execute(db)
        .await?
        .rows_affected();
        total += done;
        if done < BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}
