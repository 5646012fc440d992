//! The admission ticker: at every tick boundary, for every concert with a
//! queue, run `tick.lua` once. Every gateway runs a ticker; the script's tick
//! guard makes exactly one of them do the work of each tick.

use std::time::{Duration, Instant};

use futures::future::join_all;
use redis::Value;
use shared::ids::ConcertId;

use crate::error::{ApiError, ApiResult};
use crate::keys::{self, invocation};
use crate::recovery;
use crate::state::AppState;

/// Most sessions ended and idle waiters dropped by one tick of one concert
/// (bounds the script's run time; the rest go on the next tick).
const BATCH_LIMIT: u32 = 10_000;
/// The window over which the admission rate is measured.
const RATE_WINDOW_MS: i64 = 60_000;

/// What one tick of one concert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// False when another gateway already ran this tick.
    pub ran: bool,
    pub admitted: u64,
    pub sessions_ended: u64,
    pub idle_dropped: u64,
    pub waiting: u64,
    pub active: u64,
    /// Users admitted over the rate window, and that window's length: the
    /// measured admission rate the ETA is computed from.
    pub admitted_in_window: u64,
    pub window_ms: u64,
    pub paused: bool,
    /// The cap and the batch size in force (the operator's or the default).
    pub max_active: u64,
    pub admit_per_tick: u64,
}

/// Run tick number `now_ms / tick_ms` for one concert. If Redis lost the
/// queue, rebuild it from Postgres first ([`recovery::restore_queue`]) and
/// run the tick on the rebuilt queue. The sessions the tick opened are kept
/// in Postgres; if that fails they still stand (logged and counted), only
/// without a copy that survives Redis.
pub async fn tick_concert(
    state: &AppState,
    concert: ConcertId,
    now_ms: i64,
) -> ApiResult<TickOutcome> {
    if let Err(e) = crate::availability::refresh(state, concert, now_ms).await {
        tracing::warn!(error = %e, concert = %concert, "seats could not be counted; the last count stands");
    }
    let mut reply = run_tick(state, concert, now_ms).await?;
    if reply.first().and_then(as_int) == Some(-1) {
        recovery::restore_queue(state, concert).await?;
        reply = run_tick(state, concert, now_ms).await?;
    }
    let ends_ms =
        now_ms.saturating_add(i64::try_from(state.settings.active_ttl.as_millis()).unwrap_or(0));
    let outcome = outcome(&reply);
    let admitted: Vec<(uuid::Uuid, i64)> = reply
        .get(11..)
        .unwrap_or_default()
        .chunks_exact(2)
        .filter_map(|pair| {
            let ticket: String = redis::from_redis_value_ref(&pair[0]).ok()?;
            let user: String = redis::from_redis_value_ref(&pair[1]).ok()?;
            Some((uuid::Uuid::parse_str(&ticket).ok()?, user.parse().ok()?))
        })
        .collect();
    if let Err(e) = recovery::record_sessions(state, concert, &admitted, ends_ms).await {
        metrics::counter!("postgres_errors_total").increment(1);
        tracing::warn!(error = %e, concert = %concert, "admitted, but the sessions could not be kept in Postgres");
    }
    if outcome.ran {
        crate::metrics::record_tick(concert, &outcome);
    }
    Ok(outcome)
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

fn outcome(reply: &[Value]) -> TickOutcome {
    let n = |i: usize| {
        reply
            .get(i)
            .and_then(as_int)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0)
    };
    TickOutcome {
        ran: n(0) == 1,
        admitted: n(1),
        sessions_ended: n(2),
        idle_dropped: n(3),
        waiting: n(4),
        active: n(5),
        admitted_in_window: n(6),
        window_ms: n(7),
        paused: n(8) == 1,
        max_active: n(9),
        admit_per_tick: n(10),
    }
}

async fn run_tick(
    state: &AppState,
    concert: ConcertId,
    now_ms: i64,
) -> redis::RedisResult<Vec<Value>> {
    let settings = &state.settings;
    let tick_ms = settings.tick_ms().max(1);
    let keys = state.queue_keys(concert);
    let mut conn = state.redis.clone();
    invocation(&keys::TICK, &keys)
        .arg(now_ms / tick_ms)
        .arg(now_ms)
        .arg(settings.admit_per_tick)
        .arg(settings.max_active)
        .arg(u64::try_from(settings.active_ttl.as_millis()).unwrap_or(u64::MAX))
        .arg(u64::try_from(settings.idle_timeout.as_millis()).unwrap_or(u64::MAX))
        .arg(BATCH_LIMIT)
        .arg(RATE_WINDOW_MS)
        .arg(tick_ms)
        .invoke_async(&mut conn)
        .await
}

/// The concerts that have a queue.
pub async fn concerts(state: &AppState) -> redis::RedisResult<Vec<ConcertId>> {
    let mut conn = state.redis.clone();
    let ids: Vec<Value> = redis::cmd("SMEMBERS")
        .arg(keys::concerts_key(&state.settings.key_prefix))
        .query_async(&mut conn)
        .await?;
    Ok(ids
        .iter()
        .filter_map(|v| redis::from_redis_value_ref::<i64>(v).ok())
        .filter_map(|id| ConcertId::new(id).ok())
        .collect())
}

/// One tick of every concert (pipelined on the multiplexed connection),
/// after making sure the set of queues is complete
/// ([`recovery::sync_registry`]; if Postgres cannot say, the queues Redis
/// knows are ticked anyway).
pub async fn tick_all(state: &AppState, now_ms: i64) -> ApiResult<Vec<(ConcertId, TickOutcome)>> {
    let started = Instant::now();
    if let Err(e) = recovery::sync_registry(state, now_ms).await {
        tracing::warn!(error = %e, "the set of queues could not be checked against Postgres");
    }
    let concerts = concerts(state).await.map_err(ApiError::from)?;
    let results = join_all(concerts.iter().map(|&c| tick_concert(state, c, now_ms))).await;
    metrics::histogram!("queue_tick_duration_seconds").record(started.elapsed().as_secs_f64());
    concerts
        .into_iter()
        .zip(results)
        .map(|(c, r)| r.map(|o| (c, o)))
        .collect()
}

/// Tick at every boundary of `QUEUE_TICK_MS` until shutdown. Aligning to the
/// boundaries makes all gateways compete for the same tick number at about
/// the same moment, and a tick is never skipped by drift.
pub async fn run(state: AppState) {
    let tick_ms = state.settings.tick_ms().max(1);
    while !state.shutdown.is_shutting_down() {
        let now = state.clock.now_ms();
        let next = (now.div_euclid(tick_ms) + 1) * tick_ms;
        let wait = u64::try_from(next - now).unwrap_or(0) + 1;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if let Err(e) = tick_all(&state, state.clock.now_ms()).await {
            match &e {
                ApiError::Postgres(_) => metrics::counter!("postgres_errors_total").increment(1),
                _ => metrics::counter!("redis_errors_total").increment(1),
            }
            tracing::warn!(error = %e, "admission tick failed; retrying next tick");
        }
    }
}
