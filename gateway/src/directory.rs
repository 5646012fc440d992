//! Read-only lookups of users and concerts in Postgres, cached in process.
//!
//! A burst of joins asks about a few concerts and many distinct users. The
//! ids of all users that existed at startup are loaded once into a bit set;
//! other answers come from the cache (existing ids for minutes — they are never
//! deleted — unknown ids for a few seconds, so a user created a moment ago
//! can join right away and garbage ids cannot flood Postgres). Cache misses
//! for users are batched: lookups that arrive while a query runs are answered
//! together by the next `WHERE user_id = ANY($1)`, so ten thousand joins a
//! second become a few hundred queries, without adding latency when idle.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
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
    /// Every user id that existed when the process started, loaded once in
    /// the background: a flash crowd of users never seen before is answered
    /// from memory instead of Postgres.
    known_users: Arc<OnceLock<KnownUsers>>,
    users: Cache<i64, (bool, Instant)>,
    concerts: Cache<i64, (bool, Instant)>,
    user_lookups: Batcher<i64, bool, LookupFailed>,
}

impl Directory {
    /// Must be called inside a Tokio runtime: it starts the batching task.
    pub fn new(db: PgPool) -> Self {
        let known_users = Arc::new(OnceLock::new());
        tokio::spawn(load_known_users(db.clone(), Arc::clone(&known_users)));
        let pool = db.clone();
        let user_lookups =
            Batcher::spawn(MAX_BATCH, 1, move |ids| look_up_users(pool.clone(), ids));
        Self {
            db,
            known_users,
            users: Cache::new(500_000),
            concerts: Cache::new(10_000),
            user_lookups,
        }
    }

    pub async fn user_exists(&self, id: i64) -> Result<bool, ApiError> {
        if self
            .known_users
            .get()
            .is_some_and(|known| known.contains(id))
        {
            return Ok(true);
        }
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

    /// Whether the user ids of startup are loaded (until then every lookup
    /// takes the cache-and-Postgres path).
    pub fn preloaded(&self) -> bool {
        self.known_users.get().is_some()
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

/// User ids as a bit set (ids are dense: an identity column).
pub struct KnownUsers(Vec<u64>);

/// Largest user id the bit set covers (32 MiB of bits); users beyond it are
/// looked up in Postgres as before.
const MAX_KNOWN_USER_ID: i64 = 1 << 28;

impl KnownUsers {
    fn contains(&self, id: i64) -> bool {
        usize::try_from(id)
            .is_ok_and(|i| self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0))
    }
}

/// Fill the known users once. Users are never deleted, so a loaded id stays
/// valid; users created later are looked up (and cached) as they come.
async fn load_known_users(db: PgPool, known: Arc<OnceLock<KnownUsers>>) {
    // Until it succeeds (Postgres may be down at startup), every lookup takes
    // the cache-and-Postgres path, which is slower but just as correct.
    loop {
        match read_known_users(&db).await {
            Ok(users) => {
                let _ = known.set(users);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "could not preload the user ids; retrying in 5 s"),
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn read_known_users(db: &PgPool) -> Result<KnownUsers, sqlx::Error> {
    let max: Option<i64> = sqlx::query_scalar("SELECT max(user_id) FROM users")
        .fetch_one(db)
        .await?;
    let max = max.unwrap_or(0).clamp(0, MAX_KNOWN_USER_ID);
    let mut bits = vec![0u64; usize::try_from(max / 64 + 1).unwrap_or(0)];
    let mut ids = sqlx::query_scalar::<_, i64>("SELECT user_id FROM users WHERE user_id <= $1")
        .bind(max)
        .fetch(db);
    while let Some(id) = ids.try_next().await? {
        if let Ok(i) = usize::try_from(id) {
            bits[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(KnownUsers(bits))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_users_hold_exactly_the_loaded_ids() {
        let mut bits = vec![0u64; 3];
        for i in [1usize, 63, 64, 130] {
            bits[i / 64] |= 1 << (i % 64);
        }
        let known = KnownUsers(bits);
        let found: Vec<i64> = (-5..300).filter(|&id| known.contains(id)).collect();
        assert_eq!(found, vec![1, 63, 64, 130]);
    }
}
