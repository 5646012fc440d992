//! Every Redis key and script booking uses. Redis is the gate in front of
//! Postgres, never the truth: losing any of these keys can slow a request
//! down or let it reach Postgres, where the conditional write refuses it.
//!
//! Key layout (all under `REDIS_KEY_PREFIX`, written `{prefix}` below):
//!
//! | key | type | written by | meaning |
//! |---|---|---|---|
//! | `{prefix}:{c:<concert_id>}:active` | sorted set | gateway (admit), booking (ZREM after payment) | ticket ids (`jti`) admitted to book, scored by the end of their session in Unix ms |
//! | `{prefix}:{c:<concert_id>}:users` | hash | gateway (join) | user id → the ticket id they hold in that queue; booking reads it to end the session of a user who paid with a session token |
//! | `{prefix}:{c:<concert_id>}:epoch` | string | gateway (building the queue) | the queue's epoch; an access token of another epoch whose ticket is not in the active set may have lost its session with Redis (`auth::admission`) |
//! | `{prefix}:{revoked}:session:<jti>` | string, expires with the token | booking (logout) | the session is revoked (`shared::sessions`); read by both services |
//! | `{prefix}:{revoked}:loaded` | string | both (after copying `revoked_sessions` from Postgres) | the revocations are in this Redis; missing after a data loss, which makes the next check reload them |
//! | `{prefix}:login-failures:<user_id>` | sorted set, 15-minute `PX` | booking (login) | one member per failed (or in-flight) login of that user id in the last 15 minutes, scored by Redis time |
//! | `{prefix}:{s:<schedule_id>}:seat:<n>` | string, `PX` = hold time | booking | the reservation id that won seat `n`; `SET NX` is the first-come gate |
//! | `{prefix}:{s:<schedule_id>}:seats-version` | string, `PX` = 24 h | booking (after every hold, release and payment of the schedule; a seat-map reader that finds none) | a random UUID naming the schedule's current seat map: a replica's cached copy of the map is used only while this is still the version it was read under (`seats::snapshot`) |
//!
//! A schedule's seat locks and seat-map version share its hash tag, so one
//! `MGET` reads them all and one script changes a lock and the version
//! together, on one Redis Cluster slot.

use redis::Script;
use shared::ids::UserId;
use shared::ids::{ConcertId, ScheduleId};
use shared::infra::RedisConnection;
use shared::infra::{active_set_key, queue_epoch_key, user_tickets_key};
use std::time::Duration;
use uuid::Uuid;

use crate::domain::SeatNumber;

/// How long a seat-map version lives without a write: a day. When it is
/// gone, the next reader sets a new one, so this only bounds Redis's memory.
const SEATS_VERSION_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// A schedule's seat locks and seat-map version, read at one instant
/// ([`RedisGate::seat_state`]).
#[derive(Debug)]
pub struct SeatLocks {
    /// The seat map's current version; `None` when Redis has none.
    pub version: Option<Uuid>,
    /// At index `n - 1`: the reservation id in seat `n`'s lock, if it has
    /// one (the nil UUID for a value that is not a UUID).
    pub locks: Vec<Option<Uuid>>,
}

impl SeatLocks {
    /// From the values of [`RedisGate::seat_state_cmd`]'s `MGET`. A version
    /// that is missing (never set, expired, lost with Redis's data) or not a
    /// UUID is `None`.
    fn from_values(values: Vec<Option<String>>) -> Self {
        let mut values = values.into_iter();
        let version = values
            .next()
            .flatten()
            .and_then(|v| Uuid::parse_str(&v).ok());
        Self {
            version,
            locks: values
                .map(|v| v.map(|v| Uuid::parse_str(&v).unwrap_or(Uuid::nil())))
                .collect(),
        }
    }
}

/// Redis, with the key layout and scripts of this service.
#[derive(Clone)]
pub struct RedisGate {
    conn: RedisConnection,
    prefix: String,
    release_seat: Script,
    end_session: Script,
    restore_session: Script,
}

impl RedisGate {
    pub fn new(conn: RedisConnection, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            release_seat: Script::new(include_str!("lua/release_seat.lua")),
            end_session: Script::new(include_str!("lua/end_session.lua")),
            restore_session: Script::new(include_str!("lua/restore_session.lua")),
        }
    }

    /// The lock of one seat of one schedule.
    pub fn seat_key(&self, schedule: ScheduleId, seat: SeatNumber) -> String {
        self.seat_number_key(schedule, seat.get())
    }

    fn seat_number_key(&self, schedule: ScheduleId, seat: i32) -> String {
        format!("{}:{{s:{schedule}}}:seat:{seat}", self.prefix)
    }

    /// The version of a schedule's seat map (see the key layout above).
    fn seats_version_key(&self, schedule: ScheduleId) -> String {
        format!("{}:{{s:{schedule}}}:seats-version", self.prefix)
    }

    /// Take the seat for `reservation` for `ttl`, if nobody holds it:
    /// `SET key reservation NX PX ttl`. `false` means someone else won.
    pub async fn try_lock_seat(
        &self,
        schedule: ScheduleId,
        seat: SeatNumber,
        reservation: Uuid,
        ttl: Duration,
    ) -> Result<bool, redis::RedisError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.seat_key(schedule, seat))
            .arg(reservation.to_string())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    /// The `MGET` of [`SeatLocks`]: the version key first, then seats
    /// `1..=total_seats` (keys that share the schedule's hash tag, one
    /// Cluster slot).
    fn seat_state_cmd(&self, schedule: ScheduleId, total_seats: i32) -> redis::Cmd {
        let mut cmd = redis::cmd("MGET");
        cmd.arg(self.seats_version_key(schedule));
        for n in 1..=total_seats {
            cmd.arg(self.seat_number_key(schedule, n));
        }
        cmd
    }

    /// The end of the ticket's active session and the queue's epoch (as
    /// [`Self::session_end_ms`]) and the schedule's [`SeatLocks`]: what a
    /// seat-map read needs from Redis. The two reads are sent together and
    /// awaited together, so on one server they take one round trip (the
    /// multiplexed connection writes both before either answers). They are
    /// not one pipeline: the queue's keys (`{c:…}`) and the schedule's
    /// (`{s:…}`) are in different Redis Cluster slots, often on different
    /// masters, and a pipeline must stay within one slot.
    pub async fn session_end_and_seats(
        &self,
        concert: ConcertId,
        ticket: Uuid,
        schedule: ScheduleId,
        total_seats: i32,
    ) -> Result<((Option<f64>, Option<i64>), SeatLocks), redis::RedisError> {
        let seats = self.seat_state_cmd(schedule, total_seats);
        let mut conn = self.conn.clone();
        let (session, values) = tokio::try_join!(
            self.session_end_ms(concert, ticket),
            seats.query_async::<Vec<Option<String>>>(&mut conn),
        )?;
        Ok((session, SeatLocks::from_values(values)))
    }

    /// Give `schedule`'s seat map a new version: call it after a write of
    /// one of its seats has committed and before that write answers.
    pub async fn bump_seats_version(&self, schedule: ScheduleId) -> Result<(), redis::RedisError> {
        let _: () = redis::cmd("SET")
            .arg(self.seats_version_key(schedule))
            .arg(Uuid::new_v4().to_string())
            .arg("PX")
            .arg(SEATS_VERSION_TTL_MS)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Set a version for a schedule whose seat map has none (`SET NX`).
    /// `Some(version)` when this call set it; `None` when another process
    /// did at the same moment.
    pub async fn start_seats_version(
        &self,
        schedule: ScheduleId,
    ) -> Result<Option<Uuid>, redis::RedisError> {
        let version = Uuid::new_v4();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.seats_version_key(schedule))
            .arg(version.to_string())
            .arg("NX")
            .arg("PX")
            .arg(SEATS_VERSION_TTL_MS)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.map(|_| version))
    }

    /// Give the schedule's seat map a new version and, in the same step,
    /// delete the seat lock if `reservation` still owns it
    /// (`lua/release_seat.lua`). Call it after the hold's end has committed.
    pub async fn release_seat(
        &self,
        schedule: ScheduleId,
        seat: SeatNumber,
        reservation: Uuid,
    ) -> Result<bool, redis::RedisError> {
        let deleted: i64 = self
            .release_seat
            .key(self.seat_key(schedule, seat))
            .key(self.seats_version_key(schedule))
            .arg(reservation.to_string())
            .arg(Uuid::new_v4().to_string())
            .arg(SEATS_VERSION_TTL_MS)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(deleted == 1)
    }

    /// The end of the ticket's active session in Unix ms, if it is in the
    /// concert's active set, and the queue's epoch, if Redis has the queue:
    /// `ZSCORE` and `GET` in one round trip.
    pub async fn session_end_ms(
        &self,
        concert: ConcertId,
        ticket: Uuid,
    ) -> Result<(Option<f64>, Option<i64>), redis::RedisError> {
        redis::pipe()
            .cmd("ZSCORE")
            .arg(active_set_key(&self.prefix, concert))
            .arg(ticket.to_string())
            .cmd("GET")
            .arg(queue_epoch_key(&self.prefix, concert))
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Put back a session Redis lost (see `lua/restore_session.lua`).
    pub async fn restore_session(
        &self,
        concert: ConcertId,
        user: UserId,
        ticket: Uuid,
        ends_ms: i64,
    ) -> Result<(), redis::RedisError> {
        let _: i64 = self
            .restore_session
            .key(active_set_key(&self.prefix, concert))
            .key(user_tickets_key(&self.prefix, concert))
            .arg(ticket.to_string())
            .arg(user.get())
            .arg(ends_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// End `user`'s active session of `concert` (their queue ticket, and
    /// `ticket` when the caller used an access token, leave the active set):
    /// their access token stops working. Returns the ticket ids removed.
    pub async fn end_session(
        &self,
        concert: ConcertId,
        user: UserId,
        ticket: Option<Uuid>,
    ) -> Result<Vec<Uuid>, redis::RedisError> {
        let removed: Vec<String> = self
            .end_session
            .key(active_set_key(&self.prefix, concert))
            .key(user_tickets_key(&self.prefix, concert))
            .arg(user.get())
            .arg(ticket.map(|t| t.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed
            .iter()
            .filter_map(|t| Uuid::parse_str(t).ok())
            .collect())
    }

    /// The connection, for the few callers outside this module's layout
    /// (session revocation and login limits live in `shared`/`sessions`).
    pub fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let _pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
