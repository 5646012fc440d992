//! Lookups of concerts and schedules, the existence checks (`404`) that come
//! before admission on every booking request.
//!
//! Concerts and schedules never change or disappear once created, so a found
//! one is cached for the life of the process; concurrent misses for the same
//! id wait for one query. A burst of holds on one schedule therefore reaches
//! Postgres only when it wins its seat in Redis.

use chrono::{DateTime, Utc};
use shared::ErrorCode;
use shared::cache::{BoundedCache, Budget, bounded};
use shared::ids::{ConcertId, ScheduleId};
use sqlx::PgPool;

use crate::domain::SeatNumber;
use crate::error::ApiError;

/// What the hot paths need to know about a schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub schedule_id: ScheduleId,
    pub concert_id: ConcertId,
    pub starts_at: DateTime<Utc>,
    pub total_seats: i32,
}

impl Schedule {
    /// `404 SEAT_NOT_FOUND` unless `seat` is one of `1..=total_seats`.
    pub fn require_seat(&self, seat: SeatNumber) -> Result<(), ApiError> {
        if seat.get() <= self.total_seats {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::SeatNotFound,
                format!("schedule {} has no seat {seat}", self.schedule_id),
            ))
        }
    }
}

shared::fixed_footprint!(Schedule);

/// Sizes of the caches: fixed-size entries, so the count bounds the bytes.
pub const SCHEDULE_CACHE: Budget = Budget::mib(100_000, 16);
pub const CONCERT_CACHE: Budget = Budget::mib(10_000, 1);

pub struct Catalog {
    db: PgPool,
    schedules: BoundedCache<ScheduleId, Schedule>,
    concerts: BoundedCache<ConcertId, ()>,
}

impl Catalog {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            schedules: bounded(SCHEDULE_CACHE),
            concerts: bounded(CONCERT_CACHE),
        }
    }

    /// The schedule, or `404 SCHEDULE_NOT_FOUND`.
    pub async fn schedule(&self, id: ScheduleId) -> Result<Schedule, ApiError> {
        let guard = match self.schedules.get_value_or_guard_async(&id).await {
            Ok(found) => return Ok(found),
            Err(guard) => guard,
        };
        let row: Option<(i64, DateTime<Utc>, i32)> = sqlx::query_as(
            "SELECT concert_id, starts_at, total_seats FROM schedules WHERE schedule_id = $1",
        )
        .bind(id.get())
        .fetch_optional(&self.db)
        .await?;
        let (concert_id, starts_at, total_seats) = row.ok_or_else(|| {
            ApiError::new(
                ErrorCode::ScheduleNotFound,
                format!("schedule {id} does not exist"),
            )
        })?;
        let schedule = Schedule {
            schedule_id: id,
            concert_id: ConcertId::new(concert_id).map_err(ApiError::Internal)?,
            starts_at,
            total_seats,
        };
        let _ = guard.insert(schedule);
        Ok(schedule)
    }

    /// `404 CONCERT_NOT_FOUND` unless the concert exists.
    pub async fn require_concert(&self, id: ConcertId) -> Result<(), ApiError> {
        let guard = match self.concerts.get_value_or_guard_async(&id).await {
            Ok(()) => return Ok(()),
            Err(guard) => guard,
        };
        let found: Option<i64> =
            sqlx::query_scalar("SELECT concert_id FROM concerts WHERE concert_id = $1")
                .bind(id.get())
                .fetch_optional(&self.db)
                .await?;
        if found.is_none() {
            return Err(ApiError::new(
                ErrorCode::ConcertNotFound,
                format!("concert {id} does not exist"),
            ));
        }
        let _ = guard.insert(());
        Ok(())
    }
}
