//! Every Redis key and script of the gateway, in one place.
//!
//! All keys live under `REDIS_KEY_PREFIX` (`tq` below). The keys of one
//! concert share the hash tag `{c:<id>}`, so each script touches a single
//! Redis Cluster slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tq:{c:42}:seq` | string | join counter; a waiter's score, so FIFO order has no ties |
//! | `tq:{c:42}:waiting` | zset | ticket id → join sequence number |
//! | `tq:{c:42}:active` | zset | ticket id → end of the session (Unix ms); read by booking |
//! | `tq:{c:42}:seen` | zset | ticket id → last poll (Unix ms), waiting tickets only |
//! | `tq:{c:42}:users` | hash | user id → ticket id (re-joining keeps ticket and place) |
//! | `tq:{c:42}:tickets` | hash | ticket id → user id |
//! | `tq:{c:42}:config` | hash | `paused`, `admit_per_tick`, `max_active`, and for a scheduled opening `opens_at` (Unix ms), `draw_base`, `draw_seed` (secret until the opening), `draw_commitment` (the operators' settings, copied from Postgres's `queue_settings`); `drawn` once the pre-queue was drawn; `sold_out` (0/1) and `seats_available`, from the ticker's count in Postgres (at most [`crate::availability::CHECK_MS`] old); after a data loss also `resume_seq`, `resume_until` (see `restore.lua`) |
//! | `tq:{c:42}:tick` | string | last tick number run: the exactly-once guard |
//! | `tq:{c:42}:admits` | zset | `<tick>:<admitted>` → tick time, the last minute of ticks |
//! | `tq:{c:42}:stats` | hash | `admitted_last_minute`, `window_ms` (the measured rate); `ticks` and `admitted_sq`, the number of ticks in the window and the sum of the squares of their admissions (the rate's spread, for `eta_range_seconds`: [`crate::queue::eta`]) |
//! | `tq:{c:42}:epoch` | string | the queue's epoch: written last when the keys are built (`restore.lua`); missing means Redis lost the queue (see [`crate::recovery`]) |
//! | `tq:{concerts}:ids` | set | concert ids with a queue, so the ticker knows what to tick (copied from Postgres's `queue_settings`) |
//! | `tq:{concerts}:loaded` | string | `tq:{concerts}:ids` was copied from Postgres into this Redis; missing after a data loss |
//!
//! The registry of concerts is the only key the gateway shares across
//! concerts. Its set and its marker share the hash tag `{concerts}`: they
//! are written in one pipeline, and on a Redis Cluster they live on the
//! same master, so a failover that loses the set loses the marker with it
//! and the next tick copies the set back from Postgres. The ticker reads the
//! set (`SMEMBERS`, one key) instead of scanning the keyspace, so it never
//! asks every node of a cluster.
//!
//! Scripts are `.lua` files run with EVALSHA (reloaded on NOSCRIPT by
//! `redis::Script`). Every script receives the eleven per-concert keys in the
//! order of [`QueueKeys::all`]. All but `restore.lua` answer "lost" (`x`, or
//! `-1` from the tick) and change nothing while the epoch is missing.

use std::sync::LazyLock;

use redis::Script;
use shared::ids::ConcertId;
use shared::infra::{active_set_key, concert_key_base, queue_epoch_key, user_tickets_key};

/// The keys of one concert's queue.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    all: [String; 11],
}

impl shared::cache::Footprint for QueueKeys {
    fn footprint(&self) -> usize {
        self.all
            .iter()
            .map(shared::cache::Footprint::footprint)
            .sum()
    }
}

impl QueueKeys {
    pub fn new(prefix: &str, concert: ConcertId) -> Self {
        let base = concert_key_base(prefix, concert);
        let k = |name: &str| format!("{base}:{name}");
        Self {
            all: [
                k("seq"),
                k("waiting"),
                active_set_key(prefix, concert),
                k("seen"),
                user_tickets_key(prefix, concert),
                k("tickets"),
                k("config"),
                k("tick"),
                k("admits"),
                k("stats"),
                queue_epoch_key(prefix, concert),
            ],
        }
    }

    /// The keys in the order every script expects them.
    pub fn all(&self) -> &[String; 11] {
        &self.all
    }

    pub fn config(&self) -> &str {
        &self.all[6]
    }

    pub fn active(&self) -> &str {
        &self.all[2]
    }

    pub fn waiting(&self) -> &str {
        &self.all[1]
    }
}

/// The set of concert ids that have a queue: `{prefix}:{concerts}:ids`.
pub fn concerts_key(prefix: &str) -> String {
    format!("{prefix}:{{concerts}}:ids")
}

/// The marker that [`concerts_key`] was copied from Postgres into this
/// Redis: `{prefix}:{concerts}:loaded`, in the same Cluster slot.
pub fn concerts_loaded_key(prefix: &str) -> String {
    format!("{prefix}:{{concerts}}:loaded")
}

const STATUS_FN: &str = include_str!("scripts/status_fn.lua");

fn with_status_fn(body: &str) -> Script {
    Script::new(&format!("{STATUS_FN}\n{body}"))
}

pub static JOIN: LazyLock<Script> =
    LazyLock::new(|| with_status_fn(include_str!("scripts/join.lua")));
pub static STATUS: LazyLock<Script> =
    LazyLock::new(|| with_status_fn(include_str!("scripts/status.lua")));
pub static LEAVE: LazyLock<Script> =
    LazyLock::new(|| with_status_fn(include_str!("scripts/leave.lua")));
pub static TICK: LazyLock<Script> =
    LazyLock::new(|| with_status_fn(include_str!("scripts/tick.lua")));
pub static RESTORE: LazyLock<Script> =
    LazyLock::new(|| with_status_fn(include_str!("scripts/restore.lua")));
pub static STATS: LazyLock<Script> =
    LazyLock::new(|| with_status_fn(include_str!("scripts/stats.lua")));

/// An invocation of `script` with all the queue keys of a concert.
pub fn invocation<'a>(script: &'a Script, keys: &QueueKeys) -> redis::ScriptInvocation<'a> {
    let mut inv = script.prepare_invoke();
    for key in keys.all() {
        inv.key(key);
    }
    inv
}
