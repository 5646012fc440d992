//! Per-schedule snapshots of the seat map, kept in each booking replica and
//! read from Postgres only when the schedule's seats have changed.
//!
//! A snapshot is what Postgres says about every seat of one schedule (price,
//! and the live reservation with its owner, sale and end of hold), labelled
//! with the schedule's seat-map *version* from Redis. Every write that
//! changes a seat (hold, release, payment) gives the schedule a new random
//! version after it commits and before it answers; the handler reads the
//! version together with the seat locks in one `MGET`, and a snapshot serves
//! only requests that read its own version. A snapshot is loaded *after*
//! its version was read, so it contains every write whose new version had
//! been set by then; a request that comes after a write has answered reads
//! that write's version or a later one, and so never gets a snapshot older
//! than the write. Versions are random UUIDs, never reused, so a version
//! lost with Redis's data and set again cannot match an old snapshot.
//!
//! Time-based changes need no write: a snapshot keeps each hold's end, and
//! the request's `now` decides whether it still holds the seat (API.md: an
//! expired hold shows as `available`, swept or not).
//!
//! Two further bounds: a snapshot is used for at most [`MAX_AGE_MS`] (its
//! cache key carries the time window it was loaded in), which bounds how
//! long a map can lag if Redis fails over to a replica that missed a
//! version change; and the cache is a [`BoundedCache`] ([`SNAPSHOT_CACHE`]),
//! so memory stays bounded however many schedules are read.

use std::mem::size_of;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::cache::{BoundedCache, Budget, Footprint, bounded};
use shared::ids::{ScheduleId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;
use crate::redis_gate::RedisGate;

/// Size of the snapshot cache: 10,000 snapshots in at most 64 MiB (a
/// snapshot of 50 seats weighs about 2 KiB).
pub const SNAPSHOT_CACHE: Budget = Budget::mib(10_000, 64);

/// The longest a snapshot serves requests, in ms: a snapshot is loaded
/// again at least once per window of this length in which its schedule is
/// read.
pub const MAX_AGE_MS: i64 = 1_000;

/// The state of one seat at a time `now`, for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupancy {
    Available,
    /// Held by a hold that has not timed out; `mine` when the caller's.
    Held {
        mine: bool,
    },
    /// Bought; `mine` when by the caller.
    Sold {
        mine: bool,
    },
}

/// One seat as Postgres had it when the snapshot was loaded.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotSeat {
    pub seat_number: i32,
    /// KRW.
    pub price: i64,
    live: Option<Live>,
}

/// A seat's live reservation (`held` or `confirmed`).
#[derive(Debug, Clone, Copy)]
struct Live {
    reservation_id: Uuid,
    user_id: i64,
    sold: bool,
    expires_at: DateTime<Utc>,
}

impl SnapshotSeat {
    /// The seat's state at `now` for `caller`: a hold whose time has run out
    /// is nobody's and `available`.
    pub fn state(&self, caller: UserId, now: DateTime<Utc>) -> Occupancy {
        match self.live {
            Some(live) if live.sold => Occupancy::Sold {
                mine: live.user_id == caller.get(),
            },
            Some(live) if live.expires_at > now => Occupancy::Held {
                mine: live.user_id == caller.get(),
            },
            _ => Occupancy::Available,
        }
    }

    /// Whether `reservation` is this seat's hold that has timed out: its
    /// Redis lock may outlive it by the moment between the hold's `now` and
    /// the `SET`, and must not make it look held then.
    pub fn timed_out_hold_is(&self, reservation: Uuid, now: DateTime<Utc>) -> bool {
        self.live.is_some_and(|live| {
            live.reservation_id == reservation && !live.sold && live.expires_at <= now
        })
    }
}

/// Every seat of one schedule, in seat-number order.
#[derive(Debug)]
pub struct Snapshot {
    pub seats: Vec<SnapshotSeat>,
}

impl Footprint for Snapshot {
    fn footprint(&self) -> usize {
        size_of::<Self>() + self.seats.capacity() * size_of::<SnapshotSeat>()
    }
}

/// The cache key: a snapshot of `schedule` at `version`, loaded in time
/// window `window` (Unix ms / [`MAX_AGE_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    schedule: ScheduleId,
    version: Uuid,
    window: i64,
}

shared::fixed_footprint!(Key);

/// The snapshots of this replica.
pub struct SeatMaps {
    db: PgPool,
    cache: BoundedCache<Key, Arc<Snapshot>>,
}

impl SeatMaps {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            cache: bounded(SNAPSHOT_CACHE),
        }
    }

    /// The snapshot of `schedule` for a request that read `version` from
    /// Redis at `now`: the cached one, or one loaded now (concurrent
    /// requests for the same version wait for one load). With no version
    /// in Redis, one is set first (`SET NX`); if another process sets it at
    /// the same moment, this request reads Postgres without caching.
    /// `503` when Postgres or Redis cannot answer.
    pub async fn snapshot(
        &self,
        redis: &RedisGate,
        schedule: ScheduleId,
        version: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let version = match version {
            Some(version) => version,
            None => match redis.start_seats_version(schedule).await? {
                Some(version) => version,
                None => {
                    count("uncached");
                    return Ok(Arc::new(self.load(schedule).await?));
                }
            },
        };
        let key = Key {
            schedule,
            version,
            window: now.timestamp_millis().div_euclid(MAX_AGE_MS),
        };
        let guard = match self.cache.get_value_or_guard_async(&key).await {
            Ok(found) => {
                count("hit");
                return Ok(found);
            }
            Err(guard) => guard,
        };
        count("loaded");
        let snapshot = Arc::new(self.load(schedule).await?);
        let _ = guard.insert(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Every seat of `schedule` with its live reservation, from Postgres.
    async fn load(&self, schedule: ScheduleId) -> Result<Snapshot, sqlx::Error> {
        type Row = (
            i32,
            i64,
            Option<Uuid>,
            Option<i64>,
            Option<bool>,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT s.seat_number, s.price, r.reservation_id, r.user_id,
                    r.status = 'confirmed', r.expires_at
             FROM seats s
             LEFT JOIN reservations r
                    ON r.schedule_id = s.schedule_id
                   AND r.seat_number = s.seat_number
                   AND r.status IN ('held', 'confirmed')
             WHERE s.schedule_id = $1
             ORDER BY s.seat_number",
        )
        .bind(schedule.get())
        .fetch_all(&self.db)
        .await?;
        let seats = rows
            .into_iter()
            .map(
                |(seat_number, price, reservation_id, user_id, sold, expires_at)| {
                    let live = match (reservation_id, user_id, sold, expires_at) {
                        (Some(reservation_id), Some(user_id), Some(sold), Some(expires_at)) => {
                            Some(Live {
                                reservation_id,
                                user_id,
                                sold,
                                expires_at,
                            })
                        }
                        _ => None,
                    };
                    SnapshotSeat {
                        seat_number,
                        price,
                        live,
                    }
                },
            )
            .collect();
        Ok(Snapshot { seats })
    }
}

/// `seat_map_snapshots_total{outcome}`: `hit`, `loaded` or `uncached`.
fn count(outcome: &'static str) {
    metrics::counter!("seat_map_snapshots_total", "outcome" => outcome).increment(1);
}
