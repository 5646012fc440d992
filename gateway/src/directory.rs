//! Read-only lookups of concerts in Postgres, cached in process.
//!
//! A burst of joins asks about a few concerts, so answers are cached:
//! existing concerts for minutes (they are never deleted), unknown ids for a
//! few seconds, so garbage ids cannot flood Postgres. Users are not looked
//! up: a join's user comes from a session token, whose issuer vouches for it.

use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use sqlx::PgPool;

use crate::error::ApiError;

const FOUND_TTL: Duration = Duration::from_secs(300);
const MISSING_TTL: Duration = Duration::from_secs(2);

pub struct Directory {
    db: PgPool,
    concerts: Cache<i64, (bool, Instant)>,
}

impl Directory {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            concerts: Cache::new(10_000),
        }
    }

    /// Whether concert `id` exists (`503` when Postgres cannot say).
    pub async fn concert_exists(&self, id: i64) -> Result<bool, ApiError> {
        if let Some((found, at)) = self.concerts.get(&id) {
            let ttl = if found { FOUND_TTL } else { MISSING_TTL };
            if at.elapsed() < ttl {
                return Ok(found);
            }
        }
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM concerts WHERE concert_id = $1)")
                .bind(id)
                .fetch_one(&self.db)
                .await?;
        self.concerts.insert(id, (found, Instant::now()));
        Ok(found)
    }
}
