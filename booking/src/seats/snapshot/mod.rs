//! Per-schedule snapshots of the seat map, kept in each booking replica and
//! loaded only when the schedule's seats have changed.
//!
//! A snapshot is what Postgres says about every seat of one schedule (price,
//! and the live reservation with its owner, sale and end of hold) together
//! with the schedule's Redis seat locks (owner and end of each), labelled
//! with the schedule's seat-map *version* from Redis. Every change of a seat
//! gives the schedule a new random version: taking a lock changes it in the
//! same script (`lua/lock_seat.lua`), deleting one too (`lua/release_seat.lua`),
//! and a hold, release or payment changes it again after it commits and
//! before it answers. The handler reads the version in its admission round
//! trip, and a snapshot serves only requests that read its own version. A
//! snapshot is loaded *after* its version was read, so it contains every
//! write and every lock whose version had been set by then; a request that
//! comes after a write has answered (or after a lock was taken) reads that
//! version or a later one, and so never gets a snapshot older than the
//! write or without the lock. Versions are random UUIDs, never reused, so a
//! version lost with Redis's data and set again cannot match an old
//! snapshot.
//!
//! Time-based changes need no write: a snapshot keeps the end of each hold
//! and each lock, and the request's `now` decides whether it still holds the
//! seat (API.md: an expired hold shows as `available`, swept or not).
//!
//! Most reads send the same bytes: a snapshot renders, when it is loaded,
//! the map as anyone who owns none of its seats sees it, valid until the
//! next end of a hold or lock ([`Snapshot::body`]). Only the owners of a
//! live or timed-out hold or purchase of the schedule get a map rendered
//! for them (their `mine` flags).
//!
//! Two further bounds: a snapshot is used for at most [`MAX_AGE_MS`] (its
//! cache key carries the time window it was loaded in), which bounds how
//! long a map can lag if Redis fails over to a replica that missed a
//! version change; and the cache is a [`BoundedCache`] ([`SNAPSHOT_CACHE`]),
//! so memory stays bounded however many schedules are read.

use std::mem::size_of;
use std::sync::Arc;

use axum::body::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use shared::cache::{BoundedCache, Budget, Footprint, bounded};
use shared::ids::{ScheduleId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Seat, SeatMap, SeatStatus};
use crate::catalog::Schedule;
use crate::error::ApiError;
use crate::redis_gate::{RedisGate, SeatLock};

/// Size of the snapshot cache: 10,000 snapshots in at most 96 MiB (a
/// snapshot of 50 seats weighs about 5 KiB with its rendered map).
pub const SNAPSHOT_CACHE: Budget = Budget::mib(10_000, 96);

/// The longest a snapshot serves requests, in ms: a snapshot is loaded
/// again at least once per window of this length in which its schedule is
/// read.
pub const MAX_AGE_MS: i64 = 1_000;

/// One seat as Postgres and Redis had it when the snapshot was loaded.
#[derive(Debug, Clone, Copy)]
struct SnapshotSeat {
    seat_number: i32,
    /// KRW.
    price: i64,
    live: Option<Live>,
    lock: Option<Lock>,
}

/// A seat's live reservation (`held` or `confirmed`) in Postgres.
#[derive(Debug, Clone, Copy)]
struct Live {
    reservation_id: Uuid,
    user_id: i64,
    sold: bool,
    expires_at: DateTime<Utc>,
}

/// A seat's Redis lock.
#[derive(Debug, Clone, Copy)]
struct Lock {
    reservation_id: Uuid,
    /// When it expires; `None` for a lock without an expiry.
    until: Option<DateTime<Utc>>,
}

impl SnapshotSeat {
    /// The seat's status at `now`, and whether it is `caller`'s:
    /// - a purchase is `sold`;
    /// - a hold that has not timed out is `held`;
    /// - otherwise a live lock makes it `held` (a hold that won the seat in
    ///   Redis and is not yet written), unless the lock is the one of this
    ///   seat's own timed-out hold (it outlives the hold by the moment
    ///   between the hold's `now` and its `SET`);
    /// - otherwise it is `available`.
    fn status(&self, caller: Option<UserId>, now: DateTime<Utc>) -> (SeatStatus, bool) {
        let mine = |user_id: i64| caller.is_some_and(|c| c.get() == user_id);
        match (self.live, self.lock) {
            (Some(live), _) if live.sold => (SeatStatus::Sold, mine(live.user_id)),
            (Some(live), _) if live.expires_at > now => (SeatStatus::Held, mine(live.user_id)),
            (live, Some(lock))
                if lock.until.is_none_or(|until| until > now)
                    && live.is_none_or(|live| live.reservation_id != lock.reservation_id) =>
            {
                (SeatStatus::Held, false)
            }
            _ => (SeatStatus::Available, false),
        }
    }

    /// The instants at which this seat's status can change by time alone:
    /// the end of its hold and of its lock.
    fn ends(&self) -> impl Iterator<Item = DateTime<Utc>> {
        let hold = self
            .live
            .filter(|live| !live.sold)
            .map(|live| live.expires_at);
        hold.into_iter()
            .chain(self.lock.and_then(|lock| lock.until))
    }
}

/// Every seat of one schedule, in seat-number order, and the map as anyone
/// who owns none of them sees it.
#[derive(Debug)]
pub struct Snapshot {
    schedule_id: ScheduleId,
    seats: Vec<SnapshotSeat>,
    /// The users of the schedule's live reservations, sorted: the callers
    /// whose map differs from [`Self::shared`] by their `mine` flags.
    owners: Vec<i64>,
    /// The map for any other caller, rendered at load time …
    shared: Bytes,
    /// … and the times between which it stays so: `[from, until)`, bounded
    /// by the ends of holds and locks before and after the load (`None`: no
    /// such end).
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// From what Postgres and Redis said at `now`.
    fn new(
        schedule_id: ScheduleId,
        seats: Vec<SnapshotSeat>,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let mut owners: Vec<i64> = seats
            .iter()
            .filter_map(|seat| seat.live.map(|live| live.user_id))
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let ends = || seats.iter().flat_map(SnapshotSeat::ends);
        let from = ends().filter(|end| *end <= now).max();
        let until = ends().filter(|end| *end > now).min();
        let mut snapshot = Self {
            schedule_id,
            seats,
            owners,
            shared: Bytes::new(),
            from,
            until,
        };
        snapshot.shared = snapshot.render(None, now)?;
        Ok(snapshot)
    }

    /// The seat map as `caller` sees it at `now`, as a JSON body
    /// ([`SeatMap`]): the shared rendering when `caller` owns no seat of the
    /// schedule and no hold or lock has ended between the load and `now`,
    /// else one rendered for this call.
    pub fn body(&self, caller: UserId, now: DateTime<Utc>) -> Result<Bytes, ApiError> {
        let steady =
            self.from.is_none_or(|from| from <= now) && self.until.is_none_or(|until| now < until);
        if steady && self.owners.binary_search(&caller.get()).is_err() {
            Ok(self.shared.clone())
        } else {
            self.render(Some(caller), now)
        }
    }

    fn render(&self, caller: Option<UserId>, now: DateTime<Utc>) -> Result<Bytes, ApiError> {
        let map = SeatMap {
            schedule_id: self.schedule_id,
            seats: self
                .seats
                .iter()
                .map(|seat| {
                    let (status, mine) = seat.status(caller, now);
                    Seat {
                        seat_number: seat.seat_number,
                        status,
                        price: seat.price,
                        mine,
                    }
                })
                .collect(),
        };
        let body = serde_json::to_vec(&map).map_err(|e| {
            tracing::error!(error = %e, "the seat map could not be rendered");
            ApiError::Client(shared::Problem::internal())
        })?;
        Ok(Bytes::from(body))
    }
}

impl Footprint for Snapshot {
    fn footprint(&self) -> usize {
        size_of::<Self>()
            + self.seats.capacity() * size_of::<SnapshotSeat>()
            + self.owners.capacity() * size_of::<i64>()
            + self.shared.len()
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
    /// the same moment, this request loads a snapshot without caching it.
    /// `503` when Postgres or Redis cannot answer.
    pub async fn snapshot(
        &self,
        redis: &RedisGate,
        schedule: &Schedule,
        version: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let version = match version {
            Some(version) => version,
            None => match redis.start_seats_version(schedule.schedule_id).await? {
                Some(version) => version,
                None => {
                    count("uncached");
                    return Ok(Arc::new(self.load(redis, schedule, now).await?));
                }
            },
        };
        let key = Key {
            schedule: schedule.schedule_id,
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
        let snapshot = Arc::new(self.load(redis, schedule, now).await?);
        let _ = guard.insert(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Every seat of `schedule` with its live reservation from Postgres and
    /// its lock from Redis, read at the same time (either order is safe: a
    /// lock is deleted only after its hold's end has committed, so a seat
    /// is missing from both reads only if it is free).
    async fn load(
        &self,
        redis: &RedisGate,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, ApiError> {
        let (rows, locks) = tokio::try_join!(
            async {
                self.rows(schedule.schedule_id)
                    .await
                    .map_err(ApiError::from)
            },
            async {
                redis
                    .seat_locks(schedule.schedule_id, schedule.total_seats)
                    .await
                    .map_err(ApiError::from)
            },
        )?;
        let read_at = Utc::now();
        let mut seats: Vec<SnapshotSeat> = rows
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
                        lock: None,
                    }
                },
            )
            .collect();
        for SeatLock {
            seat_number,
            reservation,
            ttl_ms,
        } in locks
        {
            let seat = usize::try_from(seat_number - 1)
                .ok()
                .and_then(|i| seats.get_mut(i))
                .filter(|seat| seat.seat_number == seat_number);
            if let Some(seat) = seat {
                seat.lock = Some(Lock {
                    reservation_id: reservation,
                    until: ttl_ms.map(|ms| read_at + TimeDelta::milliseconds(ms)),
                });
            }
        }
        Snapshot::new(schedule.schedule_id, seats, now)
    }

    /// Every seat of `schedule` with its live reservation, from Postgres.
    async fn rows(&self, schedule: ScheduleId) -> Result<Vec<Row>, sqlx::Error> {
        sqlx::query_as(
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
        .await
    }
}

/// A seat with its live reservation: number, price, and reservation id,
/// user id, sold, end of hold (all `NULL` without one).
type Row = (
    i32,
    i64,
    Option<Uuid>,
    Option<i64>,
    Option<bool>,
    Option<DateTime<Utc>>,
);

/// `seat_map_snapshots_total{outcome}`: `hit`, `loaded` or `uncached`.
fn count(outcome: &'static str) {
    metrics::counter!("seat_map_snapshots_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests;
