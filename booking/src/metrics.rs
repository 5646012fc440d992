//! The booking service's Prometheus series beyond the HTTP ones of
//! `shared::telemetry` (`http_requests_total`, `http_request_duration_seconds`).
//!
//! | name | type | labels | set by |
//! |---|---|---|---|
//! | `holds_total` | counter | `outcome` = `won`, `lost_redis`, `lost_postgres`, `limit` | a hold |
//! | `hold_expiries_total` | counter | | holds found timed out (sweeper or next taker) |
//! | `seat_map_snapshots_total` | counter | `outcome` = `hit`, `loaded`, `uncached` | a seat-map read: its schedule's snapshot was cached, loaded from Postgres, or read without caching (`seats::snapshot`) |
//! | `payments_total` | counter | `outcome` | a payment |
//! | `charges_total` | counter | `outcome` | a top-up |
//! | `token_rejections_total` | counter | `reason` | authentication and admission |
//! | `redis_errors_total`, `postgres_errors_total` | counter | | failed calls |
//! | `redis_sentinel_reconnects_total` | counter | | with Sentinel: a new primary connection after a failure (`shared::redis_conn`) |
//! | `oversold_seats`, `ledger_mismatched_balances` | gauge | | the invariant audit (`crate::audit`), must be 0 |
//! | `audit_runs_total` | counter | `result` = `ok`, `skipped`, `error` | the audit |
//! | `audit_duration_seconds` | histogram | | the audit |
//! | `service_ready` | gauge | | the `/readyz` verdict, every 5 s |
//! | `db_pool_connections` | gauge | `state` = `in_use`, `idle` | every 5 s |
//! | `db_pool_max_connections` | gauge | | every 5 s |

use std::time::Duration;

use tokio::sync::watch;

use crate::health;
use crate::state::AppState;

/// How often readiness and the pool are read into gauges.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Every few seconds until `stop` turns true: the readiness verdict and the
/// Postgres pool.
pub async fn run_upkeep(state: AppState, mut stop: watch::Receiver<bool>) {
    // Error counters exist from the start, so `increase()` sees the first one.
    metrics::counter!("redis_errors_total").increment(0);
    metrics::counter!("postgres_errors_total").increment(0);
    loop {
        let ready = health::check(&state).await.is_ok();
        metrics::gauge!("service_ready").set(if ready { 1.0 } else { 0.0 });
        shared::telemetry::record_pool(&state.db);
        tokio::select! {
            () = tokio::time::sleep(UPKEEP_INTERVAL) => {}
            _ = stop.changed() => break,
        }
    }
    metrics::gauge!("service_ready").set(0.0);
}
