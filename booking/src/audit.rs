//! The invariant audit: every `AUDIT_INTERVAL_SECS`, count the seats held or
//! sold more than once and the balances that differ from their ledger, and
//! export both as gauges that must stay 0 (`oversold_seats`,
//! `ledger_mismatched_balances`).
//!
//! The schema's constraints already forbid both; the audit is the alarm that
//! tells an operator if a migration, a manual fix or a bug ever got past them.
//! It is one read-only statement, so it sees one snapshot (a payment seen
//! half-done cannot pass for a mismatch) and takes no lock a writer waits
//! for; a statement timeout bounds it. Replicas take a Postgres advisory
//! lock, so at most one of them scans at a time: one that finds it taken
//! skips the round and keeps its last reading, and the random delay between
//! rounds keeps replicas from colliding every time.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::domain;

/// The advisory lock that keeps replicas from auditing at the same time.
const LOCK_KEY: i64 = 0x7469_636b_6175_6474;

/// What the audit found; both must be 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditReport {
    /// Seats with more than one live (held, not timed out, or confirmed)
    /// reservation, whose reservations were paid more than once, or with a
    /// confirmed reservation that no payment covers.
    pub oversold_seats: i64,
    /// Users whose balance is not the sum of their charges minus payments.
    pub ledger_mismatches: i64,
}

/// Run the audit once. `None` when another replica is auditing right now.
pub async fn check(db: &PgPool, now: DateTime<Utc>) -> Result<Option<AuditReport>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL statement_timeout = '10s'")
        .execute(&mut *tx)
        .await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let (oversold_seats, ledger_mismatches): (i64, i64) = sqlx::query_as(
        "WITH live AS (
             SELECT schedule_id, seat_number FROM reservations
             WHERE status = 'confirmed' OR (status = 'held' AND expires_at > $1)
             GROUP BY schedule_id, seat_number HAVING count(*) > 1
         ), paid AS (
             SELECT r.schedule_id, r.seat_number
             FROM payment_reservations p JOIN reservations r USING (reservation_id)
             GROUP BY r.schedule_id, r.seat_number HAVING count(*) > 1
         ), unpaid AS (
             SELECT r.schedule_id, r.seat_number FROM reservations r
             WHERE r.status = 'confirmed'
               AND NOT EXISTS (SELECT 1 FROM payment_reservations p
                               WHERE p.reservation_id = r.reservation_id)
         ), ledger AS (
             SELECT user_id, sum(CASE kind WHEN 'charge' THEN amount ELSE -amount END) AS total
             FROM balance_ledger GROUP BY user_id
         )
         SELECT
             (SELECT count(*) FROM (SELECT * FROM live UNION SELECT * FROM paid
                                    UNION SELECT * FROM unpaid) seats),
             (SELECT count(*) FROM balances b LEFT JOIN ledger l USING (user_id)
              WHERE b.balance <> COALESCE(l.total, 0))",
    )
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(AuditReport {
        oversold_seats,
        ledger_mismatches,
    }))
}

/// Audit about every `interval` until `stop` turns true.
pub async fn run(db: PgPool, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        match check(&db, domain::now()).await {
            Ok(Some(report)) => {
                record(&report);
                metrics::counter!("audit_runs_total", "result" => "ok").increment(1);
                metrics::histogram!("audit_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                if report.oversold_seats > 0 || report.ledger_mismatches > 0 {
                    tracing::error!(
                        oversold_seats = report.oversold_seats,
                        ledger_mismatches = report.ledger_mismatches,
                        "the invariant audit found violations"
                    );
                }
            }
            Ok(None) => {
                metrics::counter!("audit_runs_total", "result" => "skipped").increment(1);
            }
            Err(e) => {
                metrics::counter!("audit_runs_total", "result" => "error").increment(1);
                metrics::counter!("postgres_errors_total").increment(1);
                tracing::warn!(error = %e, "the invariant audit failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(with_jitter(interval)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Export a report as the two gauges.
#[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
pub fn record(report: &AuditReport) {
    metrics::gauge!("oversold_seats").set(report.oversold_seats as f64);
    metrics::gauge!("ledger_mismatched_balances").set(report.ledger_mismatches as f64);
}

/// `interval` plus up to a fifth more, at random.
fn with_jitter(interval: Duration) -> Duration {
    let spread = u64::try_from(interval.as_millis() / 5).unwrap_or(0).max(1);
    let random = RandomState::new().hash_one(Instant::now());
    interval + Duration::from_millis(random % spread)
}
