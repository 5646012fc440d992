//! Seat availability of a concert, for `seats_available` and "Sold out"
//! (API.md, Gateway).
//!
//! Booking's Postgres is the truth. The ticker counts a concert's seats at
//! most every [`CHECK_MS`] per gateway (one query per concert, never per
//! poll) and writes the result into the queue's config hash (`sold_out`,
//! `seats_available`), where the scripts read it: sold out, waiting and
//! pre-queue tickets are answered `sold_out` and dropped, joins take no
//! place, and ticks admit nobody.

use shared::ids::ConcertId;
use sqlx::PgPool;

use crate::error::ApiResult;
use crate::state::AppState;

/// How old the count may be, in milliseconds (API.md: at most 5 s).
pub const CHECK_MS: i64 = 4_000;

/// The seats of a concert's upcoming schedules (starting after Postgres's
/// `now()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub total: i64,
    /// Paid for (a `confirmed` reservation).
    pub sold: i64,
    /// Neither sold nor held by a live hold.
    pub available: i64,
}

impl Seats {
    /// Every seat of every upcoming schedule is sold; a concert without
    /// upcoming seats is not sold out (there is nothing to sell, and
    /// nothing was bought).
    pub fn sold_out(&self) -> bool {
        self.total > 0 && self.sold >= self.total
    }
}

/// Count `concert`'s seats in one query. At most one live reservation
/// exists per seat (booking's `reservations_live_seat_uidx`), so the join
/// yields one row per seat.
pub async fn count(db: &PgPool, concert: ConcertId) -> Result<Seats, sqlx::Error> {
    let (total, sold, available): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*),
                COUNT(*) FILTER (WHERE r.status = 'confirmed'),
                COUNT(*) FILTER (WHERE r.reservation_id IS NULL)
         FROM schedules s
         JOIN seats st ON st.schedule_id = s.schedule_id
         LEFT JOIN reservations r
           ON r.schedule_id = st.schedule_id AND r.seat_number = st.seat_number
          AND (r.status = 'confirmed' OR (r.status = 'held' AND r.expires_at > now()))
         WHERE s.concert_id = $1 AND s.starts_at > now()",
    )
    .bind(concert.get())
    .fetch_one(db)
    .await?;
    Ok(Seats {
        total,
        sold,
        available,
    })
}

/// Count `concert`'s seats into its config hash unless this gateway did
/// less than [`CHECK_MS`] ago. Errors: Postgres or Redis unavailable.
pub async fn refresh(state: &AppState, concert: ConcertId, now_ms: i64) -> ApiResult<()> {
    if state
        .seat_checks
        .get(&concert)
        .is_some_and(|at| (0..CHECK_MS).contains(&now_ms.saturating_sub(at)))
    {
        return Ok(());
    }
    let seats = count(&state.db, concert).await?;
    let keys = state.queue_keys(concert);
    let mut conn = state.redis.clone();
    let () = redis::cmd("HSET")
        .arg(keys.config())
        .arg("sold_out")
        .arg(u8::from(seats.sold_out()))
        .arg("seats_available")
        .arg(seats.available)
        .query_async(&mut conn)
        .await?;
    state.seat_checks.insert(concert, now_ms);
    Ok(())
}

/// Forget when `concert` was last counted (its queue was rebuilt), so the
/// next tick counts again.
pub fn forget(state: &AppState, concert: ConcertId) {
    state.seat_checks.remove(&concert);
}
