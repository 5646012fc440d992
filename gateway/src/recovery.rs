//! Healing a queue that Redis lost (API.md, "Redis is not the only copy").
//!
//! Redis holds the working copy of every queue; Postgres keeps what must
//! survive it: the concerts that have a queue and their operators' settings
//! (`queue_settings`, written by the admin `PATCH` before Redis) and the
//! active sessions (`queue_sessions`, written by the ticker that admitted
//! them and ended by a leave or a payment). Tickets carry their join
//! sequence number (`seq`) and every token the queue's epoch (`qep`).
//!
//! A queue's keys are built by `restore.lua`, which writes the epoch key
//! last. Every other script answers "lost" while that key is missing, and
//! whoever gets that answer first (a join, a poll, a leave, the ticker within
//! one tick) calls [`restore_queue`] and tries again:
//!
//! - the settings come back from Postgres (a paused queue stays paused, a
//!   scheduled opening keeps its time, seed and commitment, and pre-queue
//!   tickets come back at their draw numbers when polled);
//! - the live sessions go back into the active set (they count against
//!   `max_active`, and their access tokens keep working at booking);
//! - a new epoch is picked, so a ticket of the old one that Redis does not
//!   know is put back at its `seq` when its holder polls (`status.lua`), for
//!   one idle timeout;
//! - joins after the loss get numbers above every earlier ticket's, and for
//!   a short while ([`resume_grace_ms`]) only earlier tickets are admitted,
//!   so a waiter who polls a little late is not overtaken.
//!
//! The set of concerts the ticker ticks (`tq:{concerts}:ids`) is copied back from
//! `queue_settings` when its marker is missing, and every
//! [`REGISTRY_SYNC_MS`] anyway. A rebuild of a queue that existed before is
//! a recovery: counted in `redis_recoveries_total`, logged, and reported by
//! `/readyz`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use redis::Value;
use shared::ids::ConcertId;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::keys::{self, invocation};
use crate::state::AppState;

/// How often the ticker copies the set of queues from Postgres even when
/// its marker is there (a failover to a lagging replica can lose a member
/// and keep the marker), and prunes sessions that ended long ago.
pub const REGISTRY_SYNC_MS: i64 = 10_000;
/// A queue first built less than this long ago is being built for the first
/// time (several gateways may do it at once, for the first joins), not
/// recovered: nothing of an earlier epoch can exist yet.
pub const FRESH_QUEUE_MS: i64 = 10_000;
/// Sessions that ended this long ago are deleted from Postgres.
const SESSION_RETENTION_MS: i64 = 3_600_000;

/// Concerts share this many locks for their rebuilds (see [`restore_queue`]).
const REBUILD_STRIPES: usize = 32;

/// The latest recovery this process made, and how many it made.
#[derive(Debug, Default)]
pub struct Recoveries {
    last: Mutex<Option<(i64, ConcertId)>>,
    count: AtomicI64,
    registry_synced_ms: AtomicI64,
    /// One rebuild at a time per concert (striped by concert id).
    rebuilding: [tokio::sync::Mutex<()>; REBUILD_STRIPES],
}

impl Recoveries {
    /// When (Unix ms) and for which concert this process last rebuilt a
    /// lost queue, and how many it rebuilt since it started.
    pub fn last(&self) -> Option<(i64, ConcertId, i64)> {
        let last = *self.last.lock().ok()?;
        last.map(|(at, concert)| (at, concert, self.count.load(Ordering::Relaxed)))
    }

    fn record(&self, at_ms: i64, concert: ConcertId) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((at_ms, concert));
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// How long after a recovery only tickets issued before the loss are
/// admitted: the longest a polling waiter waits between two polls (the
/// largest `poll_after_ms` the gateway answers, plus a quarter for clients'
/// jitter) and two ticks. With the defaults, about 21 s.
pub fn resume_grace_ms(state: &AppState) -> i64 {
    let settings = &state.settings;
    let tick = u64::try_from(settings.tick.as_millis()).unwrap_or(u64::MAX);
    let idle = u64::try_from(settings.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let longest = crate::queue::poll_after_ms(Some(u64::MAX / 1000), false, tick, idle)
        .max(crate::queue::poll_after_ms(None, true, tick, idle));
    i64::try_from(longest.saturating_mul(5) / 4 + 2 * tick).unwrap_or(i64::MAX)
}

#[derive(sqlx::FromRow)]
struct StoredSettings {
    paused: bool,
    admit_per_tick: Option<i32>,
    max_active: Option<i32>,
    created_ms: i64,
    opens_at_ms: Option<i64>,
    draw_seed: Option<String>,
    draw_base: Option<i64>,
}

/// Build `concert`'s queue in Redis from Postgres if its epoch key is
/// missing (the first time, or after a data loss); nothing when another
/// caller already did. Returns whether this call rebuilt a queue that
/// existed before (a recovery). Errors: Postgres or Redis unavailable (503).
pub async fn restore_queue(state: &AppState, concert: ConcertId) -> ApiResult<bool> {
    // One rebuild per concert at a time in this process: the first joins of
    // a new concert (or every request after a loss) all find the epoch
    // missing, and each would otherwise take a Postgres connection for the
    // same rebuild. Those that waited find the epoch written and go on.
    let stripe = usize::try_from(concert.get()).unwrap_or(0) % REBUILD_STRIPES;
    let _one = state.recoveries.rebuilding[stripe].lock().await;
    let built: bool = redis::cmd("EXISTS")
        .arg(shared::infra::queue_epoch_key(
            &state.settings.key_prefix,
            concert,
        ))
        .query_async(&mut state.redis.clone())
        .await?;
    if built {
        return Ok(false);
    }
    let now = state.clock.now_ms();
    sqlx::query(
        "INSERT INTO queue_settings (concert_id, created_ms) VALUES ($1, $2)
         ON CONFLICT (concert_id) DO NOTHING",
    )
    .bind(concert.get())
    .bind(now)
    .execute(&state.db)
    .await?;
    let stored: StoredSettings = sqlx::query_as(
        "SELECT paused, admit_per_tick, max_active, created_ms, opens_at_ms, draw_seed, draw_base
         FROM queue_settings WHERE concert_id = $1",
    )
    .bind(concert.get())
    .fetch_one(&state.db)
    .await?;
    let fresh = now.saturating_sub(stored.created_ms) < FRESH_QUEUE_MS;
    let sessions: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT ticket_id, user_id, ends_ms FROM queue_sessions
         WHERE concert_id = $1 AND ended_ms IS NULL AND ends_ms > $2",
    )
    .bind(concert.get())
    .bind(now)
    .fetch_all(&state.db)
    .await?;

    let seats = crate::availability::count(&state.db, concert).await?;

    let mut conn = state.redis.clone();
    let () = redis::cmd("SADD")
        .arg(keys::concerts_key(&state.settings.key_prefix))
        .arg(concert.get())
        .query_async(&mut conn)
        .await?;
    // A queue seen for the first time has nothing to put back.
    let (restore_until, resume_until) = if fresh {
        (0, 0)
    } else {
        let idle = i64::try_from(state.settings.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        (
            now.saturating_add(idle),
            now.saturating_add(resume_grace_ms(state)),
        )
    };
    let setting = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    let keys = state.queue_keys(concert);
    let mut call = invocation(&keys::RESTORE, &keys);
    call.arg(new_epoch())
        .arg(now)
        .arg(u8::from(stored.paused))
        .arg(setting(stored.admit_per_tick))
        .arg(setting(stored.max_active))
        .arg(restore_until)
        .arg(resume_until);
    // The scheduled opening and its draw survive the loss unchanged.
    match (stored.opens_at_ms, &stored.draw_seed, stored.draw_base) {
        (Some(opens_at), Some(seed), Some(base)) => call
            .arg(opens_at)
            .arg(base)
            .arg(seed)
            .arg(crate::draw::commitment(seed)),
        _ => call.arg("").arg("").arg("").arg(""),
    };
    call.arg(u8::from(seats.sold_out()));
    for (ticket, user, ends) in &sessions {
        call.arg(ticket.to_string()).arg(user).arg(ends);
    }
    let rebuilt: i64 = call.invoke_async(&mut conn).await?;
    if rebuilt == 1 {
        crate::availability::forget(state, concert);
    }
    let recovered = rebuilt == 1 && !fresh;
    if recovered {
        state.recoveries.record(now, concert);
        metrics::counter!("redis_recoveries_total").increment(1);
        #[expect(clippy::cast_precision_loss, reason = "Unix seconds far below 2^52")]
        metrics::gauge!("redis_last_recovery_timestamp_seconds").set(now as f64 / 1000.0);
        tracing::warn!(
            concert = %concert,
            sessions = sessions.len(),
            paused = stored.paused,
            "Redis had lost this queue; rebuilt it from Postgres"
        );
    }
    Ok(recovered)
}

/// A new epoch: random, positive, below 2^53 (exact in any JSON reader).
fn new_epoch() -> i64 {
    let (high, _) = Uuid::new_v4().as_u64_pair();
    i64::try_from(high >> 11).unwrap_or(1).max(1)
}

/// Whether a batched script's reply for one request is "the queue was lost".
pub fn is_lost(reply: &Value) -> bool {
    matches!(reply, Value::BulkString(bytes) if bytes == b"x")
}

/// Make sure `tq:{concerts}:ids` names every queue Postgres knows: when its
/// marker is missing (Redis lost it) or every [`REGISTRY_SYNC_MS`]. Also
/// prunes sessions that ended long ago.
pub async fn sync_registry(state: &AppState, now_ms: i64) -> ApiResult<()> {
    let prefix = &state.settings.key_prefix;
    let mut conn = state.redis.clone();
    let loaded: bool = redis::cmd("EXISTS")
        .arg(keys::concerts_loaded_key(prefix))
        .query_async(&mut conn)
        .await?;
    let last = state.recoveries.registry_synced_ms.load(Ordering::Relaxed);
    if loaded && now_ms.saturating_sub(last) < REGISTRY_SYNC_MS && last <= now_ms {
        return Ok(());
    }
    let concerts: Vec<i64> = sqlx::query_scalar("SELECT concert_id FROM queue_settings")
        .fetch_all(&state.db)
        .await?;
    let mut pipe = redis::pipe();
    if !concerts.is_empty() {
        pipe.cmd("SADD")
            .arg(keys::concerts_key(prefix))
            .arg(&concerts)
            .ignore();
    }
    pipe.cmd("SET")
        .arg(keys::concerts_loaded_key(prefix))
        .arg(1)
        .ignore();
    let () = pipe.query_async(&mut conn).await?;
    state
        .recoveries
        .registry_synced_ms
        .store(now_ms, Ordering::Relaxed);
    if !loaded {
        tracing::info!(
            queues = concerts.len(),
            "copied the set of queues from Postgres into Redis"
        );
    }
    sqlx::query("DELETE FROM queue_sessions WHERE ends_ms < $1")
        .bind(now_ms.saturating_sub(SESSION_RETENTION_MS))
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Keep the sessions a tick just opened in Postgres (`queue_sessions`), so
/// a loss of Redis does not lose them. `admitted` is (ticket, user) pairs.
pub async fn record_sessions(
    state: &AppState,
    concert: ConcertId,
    admitted: &[(Uuid, i64)],
    ends_ms: i64,
) -> Result<(), sqlx::Error> {
    if admitted.is_empty() {
        return Ok(());
    }
    let (tickets, users): (Vec<Uuid>, Vec<i64>) = admitted.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO queue_sessions (ticket_id, concert_id, user_id, ends_ms)
         SELECT t, $2, u, $4 FROM UNNEST($1::uuid[], $3::bigint[]) AS s(t, u)
         ON CONFLICT (ticket_id) DO UPDATE SET ends_ms = EXCLUDED.ends_ms, ended_ms = NULL",
    )
    .bind(&tickets)
    .bind(concert.get())
    .bind(&users)
    .bind(ends_ms)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Mark a ticket's session as given up (a leave), before Redis forgets it,
/// so a later loss of Redis does not bring it back.
pub async fn end_session(state: &AppState, ticket: Uuid, now_ms: i64) -> ApiResult<()> {
    sqlx::query(
        "UPDATE queue_sessions SET ended_ms = $2 WHERE ticket_id = $1 AND ended_ms IS NULL",
    )
    .bind(ticket)
    .bind(now_ms)
    .execute(&state.db)
    .await
    .map_err(ApiError::from)?;
    Ok(())
}
