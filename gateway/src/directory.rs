//! Read-only lookups of users and concerts in Postgres, cached in process.
//!
//! A burst of joins asks about the same few concerts and many users; the
//! cache keeps that from becoming a burst of SQL. Existing ids are cached for
//! minutes (they are never deleted); unknown ids for a few seconds, so a user
//! created a moment ago can join right away and garbage ids cannot flood
//! Postgres either.

use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use sqlx::PgPool;

const FOUND_TTL: Duration = Duration::from_secs(300);
const MISSING_TTL: Duration = Duration::from_secs(2);

pub struct Directory {
    db: PgPool,
    users: Cache<i64, (bool, Instant)>,
    concerts: Cache<i64, (bool, Instant)>,
}

impl Directory {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            users: Cache::new(200_000),
            concerts: Cache::new(10_000),
        }
    }

    pub async fn user_exists(&self, id: i64) -> Result<bool, sqlx::Error> {
        let sql = "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1)";
        cached(&self.users, &self.db, id, sql).await
    }

    pub async fn concert_exists(&self, id: i64) -> Result<bool, sqlx::Error> {
        let sql = "SELECT EXISTS (SELECT 1 FROM concerts WHERE concert_id = $1)";
        cached(&self.concerts, &self.db, id, sql).await
    }
}

async fn cached(
    cache: &Cache<i64, (bool, Instant)>,
    db: &PgPool,
    id: i64,
    sql: &'static str,
) -> Result<bool, sqlx::Error> {
    if let Some((found, at)) = cache.get(&id) {
        let ttl = if found { FOUND_TTL } else { MISSING_TTL };
        if at.elapsed() < ttl {
            return Ok(found);
        }
    }
    let found: bool = sqlx::query_scalar(sql).bind(id).fetch_one(db).await?;
    cache.insert(id, (found, Instant::now()));
    Ok(found)
}
