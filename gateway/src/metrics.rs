//! The gateway's Prometheus series beyond the HTTP ones of
//! `shared::telemetry` (`http_requests_total`, `http_request_duration_seconds`).
//!
//! | name | type | labels | set by |
//! |---|---|---|---|
//! | `queue_joins_total` | counter | | a first join |
//! | `queue_admissions_total` | counter | `concert` | the tick that admitted |
//! | `queue_drops_total` | counter | `reason` = `idle`, `left`, `session_over` | ticks, polls, leaves |
//! | `queue_waiting`, `queue_active` | gauge | `concert` | the tick this gateway ran |
//! | `queue_admissions_per_second` | gauge | `concert` | the measured rate the ETA uses |
//! | `queue_paused`, `queue_max_active`, `queue_admit_per_tick` | gauge | `concert` | the settings in force at that tick |
//! | `queue_tick_duration_seconds` | histogram | | one round of ticks |
//! | `queue_wait_predicted_seconds` | histogram | | the ETA answered on a first join |
//! | `queue_wait_duration_seconds` | histogram | | actual join-to-admission time |
//! | `queue_eta_range_total` | counter | `outcome` = `inside`, `below`, `above` | per admitted user whose ticket carried an estimate: whether the real wait fell inside `eta_range_seconds` shown when the ticket was issued (below `low`, above `high`) |
//! | `queue_eta_relative_error` | histogram | | per such user: `\|eta_seconds - real wait\| / real wait` of that estimate |
//! | `tokens_issued_total` | counter | `kind` = `ticket`, `access` | signing |
//! | `token_rejections_total` | counter | `reason` | verification |
//! | `redis_errors_total`, `postgres_errors_total` | counter | | failed calls |
//! | `redis_sentinel_reconnects_total` | counter | | with Sentinel: a new primary connection after a failure (`shared::redis_conn`) |
//! | `service_ready` | gauge | | the `/readyz` verdict, every 5 s |
//! | `db_pool_connections` | gauge | `state` = `in_use`, `idle` | every 5 s |
//! | `redis_recoveries_total` | counter | | queues this gateway rebuilt from Postgres after Redis lost them |
//! | `redis_last_recovery_timestamp_seconds` | gauge | | when this gateway last did (Unix seconds) |
//!
//! Gauges of a concert are set by whichever gateway ran the tick, so with
//! several replicas aggregate them with `max by (concert)`.

use std::time::Duration;

use shared::ids::ConcertId;
use shared::tokens::{Claims, ShownEta};

use crate::health;
use crate::queue::{Place, QueueStatus, Waiting};
use crate::state::AppState;
use crate::ticker::TickOutcome;

/// How often readiness and the pool are read into gauges.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What one tick of one concert did (only the gateway that ran it records).
#[expect(clippy::cast_precision_loss, reason = "gauge values far below 2^52")]
pub fn record_tick(concert: ConcertId, outcome: &TickOutcome) {
    let label = concert.to_string();
    metrics::counter!("queue_admissions_total", "concert" => label.clone())
        .increment(outcome.admitted);
    metrics::counter!("queue_drops_total", "reason" => "session_over")
        .increment(outcome.sessions_ended);
    metrics::counter!("queue_drops_total", "reason" => "idle").increment(outcome.idle_dropped);
    metrics::gauge!("queue_waiting", "concert" => label.clone()).set(outcome.waiting as f64);
    metrics::gauge!("queue_active", "concert" => label.clone()).set(outcome.active as f64);
    let rate = admission_rate(outcome.admitted_in_window, outcome.window_ms);
    metrics::gauge!("queue_admissions_per_second", "concert" => label.clone()).set(rate);
    let paused = if outcome.paused { 1.0 } else { 0.0 };
    metrics::gauge!("queue_paused", "concert" => label.clone()).set(paused);
    metrics::gauge!("queue_max_active", "concert" => label.clone()).set(outcome.max_active as f64);
    metrics::gauge!("queue_admit_per_tick", "concert" => label).set(outcome.admit_per_tick as f64);
}

/// Users per second over the measured window: the rate `eta_seconds` uses.
#[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
pub fn admission_rate(admitted: u64, window_ms: u64) -> f64 {
    if window_ms == 0 {
        return 0.0;
    }
    admitted as f64 * 1000.0 / window_ms as f64
}

/// The ETA a user is told when joining: half of the ETA-accuracy picture.
#[expect(clippy::cast_precision_loss, reason = "seconds far below 2^52")]
pub fn record_predicted_wait(status: &QueueStatus) {
    if let QueueStatus::Waiting(Waiting {
        eta_seconds: Some(eta),
        ..
    }) = status
    {
        metrics::histogram!("queue_wait_predicted_seconds").record(*eta as f64);
    }
}

/// The other half: on the first poll that finds the user active (the first
/// time this gateway signs the session's access token), the time from the
/// ticket's issue to the admission. The admission time is exact: the tick
/// set the session's end to admission + `ACTIVE_TTL_SECS`.
#[expect(clippy::cast_precision_loss, reason = "seconds far below 2^52")]
pub fn record_admitted_wait(state: &AppState, ticket: &Claims, place: Place) {
    let Place::Active { session_end_ms, .. } = place else {
        return;
    };
    if state
        .tokens
        .has_access_token(ticket.ticket_id, session_end_ms.div_euclid(1000))
    {
        return;
    }
    let ttl_ms = i64::try_from(state.settings.active_ttl.as_millis()).unwrap_or(i64::MAX);
    let admitted_ms = session_end_ms.saturating_sub(ttl_ms);
    let waited_ms = admitted_ms.saturating_sub(ticket.issued_at.saturating_mul(1000));
    metrics::histogram!("queue_wait_duration_seconds").record(waited_ms.max(0) as f64 / 1000.0);
    if let Some(shown) = ticket.shown_eta {
        let (outcome, error) = eta_calibration(shown, admitted_ms);
        metrics::counter!("queue_eta_range_total", "outcome" => outcome).increment(1);
        metrics::histogram!("queue_eta_relative_error").record(error);
    }
}

/// How an estimate shown at `shown.at_ms` compares with an admission at
/// `admitted_ms`: `inside`, `below` or `above` the range, and the relative
/// error of `eta_seconds`, `|eta - real| / real` (real waits under one
/// second count as one second).
#[expect(clippy::cast_precision_loss, reason = "seconds far below 2^52")]
pub fn eta_calibration(shown: ShownEta, admitted_ms: i64) -> (&'static str, f64) {
    let real_ms = admitted_ms.saturating_sub(shown.at_ms).max(0);
    let [low, high] = shown.range_seconds;
    let as_ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let outcome = if real_ms < as_ms(low) {
        "below"
    } else if real_ms > as_ms(high) {
        "above"
    } else {
        "inside"
    };
    let real = real_ms.max(1000) as f64 / 1000.0;
    (outcome, (shown.eta_seconds as f64 - real).abs() / real)
}

/// Every few seconds until shutdown: the readiness verdict and the pool.
pub async fn run_upkeep(state: AppState) {
    // Error counters exist from the start, so `increase()` sees the first one.
    metrics::counter!("redis_errors_total").increment(0);
    metrics::counter!("postgres_errors_total").increment(0);
    metrics::counter!("redis_recoveries_total").increment(0);
    while !state.shutdown.is_shutting_down() {
        let ready = health::check(&state).await.is_ok();
        metrics::gauge!("service_ready").set(if ready { 1.0 } else { 0.0 });
        shared::telemetry::record_pool(&state.db);
        tokio::time::sleep(UPKEEP_INTERVAL).await;
    }
    metrics::gauge!("service_ready").set(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_is_judged_against_the_real_wait() {
        let shown = ShownEta {
            at_ms: 10_000,
            eta_seconds: 10,
            range_seconds: [8, 13],
        };
        assert_eq!(eta_calibration(shown, 20_000), ("inside", 0.0));
        assert_eq!(eta_calibration(shown, 18_000), ("inside", 0.25));
        assert_eq!(eta_calibration(shown, 17_999).0, "below");
        assert_eq!(eta_calibration(shown, 23_001).0, "above");
        assert_eq!(eta_calibration(shown, 30_000), ("above", 0.5));
    }

    #[test]
    fn the_rate_is_admissions_over_the_window() {
        assert!((admission_rate(120, 60_000) - 2.0).abs() < 1e-9);
        assert!(admission_rate(0, 0).abs() < 1e-9);
        assert!(admission_rate(5, 0).abs() < 1e-9);
    }
}
