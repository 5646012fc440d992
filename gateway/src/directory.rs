//! Read-only lookups of concerts in Postgres, cached in process.
//!
//! A burst of joins asks about a few concerts, so answers are cached:
//! existing concerts for minutes (they are never deleted), unknown ids for
//! a few seconds, so garbage ids (on the public stats endpoint, say) cost
//! no Postgres query each. A "no such concert" is believed only while the
//! concerts' version in Redis (`shared::infra::concerts_version_key`) is the
//! one read before Postgres answered: booking replaces it when it creates a
//! concert, before answering, so a concert is found the moment its creation
//! answered, on every gateway. Checking the version is one `GET` instead of
//! a Postgres query. Users are not looked up: a join's user comes from a
//! session token, whose issuer vouches for it.

use std::time::{Duration, Instant};

use shared::cache::{BoundedCache, Budget, bounded};
use shared::infra::RedisConnection;
use sqlx::PgPool;

use crate::error::ApiError;

const FOUND_TTL: Duration = Duration::from_secs(300);
/// The longest an unknown id is believed unknown, even with an unchanged
/// version (concerts inserted with SQL behind booking's back are found
/// within this time).
const MISSING_TTL: Duration = Duration::from_secs(2);

/// Existing concerts: fixed-size entries, 10,000 in at most 2 MiB.
pub const FOUND_CACHE: Budget = Budget::mib(10_000, 2);
/// Unknown ids with the version they were read at: 100,000 in at most 16 MiB.
pub const MISSING_CACHE: Budget = Budget::mib(100_000, 16);

pub struct Directory {
    db: PgPool,
    redis: RedisConnection,
    version_key: String,
    found: BoundedCache<i64, Instant>,
    missing: BoundedCache<i64, (String, Instant)>,
}

impl Directory {
    pub fn new(db: PgPool, redis: RedisConnection, prefix: &str) -> Self {
        Self {
            db,
            redis,
            version_key: shared::infra::concerts_version_key(prefix),
            found: bounded(FOUND_CACHE),
            missing: bounded(MISSING_CACHE),
        }
    }

    /// Whether concert `id` exists (`503` when Redis or Postgres cannot say).
    pub async fn concert_exists(&self, id: i64) -> Result<bool, ApiError> {
        if self
            .found
            .get(&id)
            .is_some_and(|at| at.elapsed() < FOUND_TTL)
        {
            return Ok(true);
        }
        let version = self.version().await?;
        if let Some((seen, at)) = self.missing.get(&id)
            && seen == version
            && at.elapsed() < MISSING_TTL
        {
            return Ok(false);
        }
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM concerts WHERE concert_id = $1)")
                .bind(id)
                .fetch_one(&self.db)
                .await?;
        if found {
            self.missing.remove(&id);
            self.found.insert(id, Instant::now());
        } else {
            self.missing.insert(id, (version, Instant::now()));
        }
        Ok(found)
    }

    /// The current version of the set of concerts; one is created when
    /// Redis has none (first start, or after a loss of its data).
    async fn version(&self) -> Result<String, ApiError> {
        let mut conn = self.redis.clone();
        let (version,): (String,) = redis::pipe()
            .cmd("SET")
            .arg(&self.version_key)
            .arg(uuid::Uuid::new_v4().simple().to_string())
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&self.version_key)
            .query_async(&mut conn)
            .await?;
        Ok(version)
    }
}
