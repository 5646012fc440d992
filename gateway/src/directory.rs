//! Read-only lookups of users and concerts in Postgres, cached in process.
//!
//! A burst of joins asks about a few concerts and many distinct users. Known
//! answers come from the cache (existing ids for minutes — they are never
//! deleted — unknown ids for a few seconds, so a user created a moment ago
//! can join right away and garbage ids cannot flood Postgres). Cache misses
//! for users are batched: lookups that arrive while a query runs are answered
//! together by the next `WHERE user_id = ANY($1)`, so ten thousand joins a
//! second become a few hundred queries, without adding latency when idle.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use shared::batch::{self, BatchError, Batcher};
use sqlx::PgPool;

use crate::error::ApiError;

const FOUND_TTL: Duration = Duration::from_secs(300);
const MISSING_TTL: Duration = Duration::from_secs(2);
/// Most user ids looked up by one query.
const MAX_BATCH: usize = 1024;

/// A lookup failed; `unavailable` when Postgres could not be reached.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("user lookup failed (postgres unavailable: {unavailable})")]
pub struct LookupFailed {
    unavailable: bool,
}

impl From<LookupFailed> for ApiError {
    fn from(e: LookupFailed) -> Self {
        if e.unavailable {
            ApiError::Problem(shared::Problem::unavailable())
        } else {
            ApiError::Protocol("user lookup failed".into())
        }
    }
}

pub struct Directory {
    db: PgPool,
    users: Cache<i64, (bool, Instant)>,
    concerts: Cache<i64, (bool, Instant)>,
    user_lookups: Batcher<i64, bool, LookupFailed>,
}

impl Directory {
    /// Must be called inside a Tokio runtime: it starts the batching task.
    pub fn new(db: PgPool) -> Self {
        let pool = db.clone();
        let user_lookups =
            Batcher::spawn(MAX_BATCH, 1, move |ids| look_up_users(pool.clone(), ids));
        Self {
            db,
            users: Cache::new(500_000),
            concerts: Cache::new(10_000),
            user_lookups,
        }
    }

    pub async fn user_exists(&self, id: i64) -> Result<bool, ApiError> {
        if let Some(found) = fresh(&self.users, id) {
            return Ok(found);
        }
        let found = self.user_lookups.call(id).await.map_err(|e| match e {
            BatchError::Failed(e) => ApiError::from(e),
            BatchError::Stopped => ApiError::Protocol("user lookup task stopped".into()),
        })?;
        self.users.insert(id, (found, Instant::now()));
        Ok(found)
    }

    pub async fn concert_exists(&self, id: i64) -> Result<bool, ApiError> {
        if let Some(found) = fresh(&self.concerts, id) {
            return Ok(found);
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

fn fresh(cache: &Cache<i64, (bool, Instant)>, id: i64) -> Option<bool> {
    let (found, at) = cache.get(&id)?;
    let ttl = if found { FOUND_TTL } else { MISSING_TTL };
    (at.elapsed() < ttl).then_some(found)
}

/// Answer a batch of user lookups with one query.
async fn look_up_users(db: PgPool, batch: Vec<i64>) -> Vec<Result<bool, LookupFailed>> {
    let ids: Vec<i64> = batch
        .iter()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let result: Result<Vec<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&db)
            .await;
    match result {
        Ok(found) => {
            let found: HashSet<i64> = found.into_iter().collect();
            batch.iter().map(|id| Ok(found.contains(id))).collect()
        }
        Err(e) => {
            let unavailable = shared::infra::pg_is_unavailable(&e);
            tracing::warn!(error = %e, "user lookup failed");
            batch::all(batch.len(), &LookupFailed { unavailable })
        }
    }
}
