//! The budget of one user's writes, across replicas (API.md, Limits):
//! `RATE_LIMIT_USER_PER_MIN` writes per minute (logins, joins, holds,
//! releases, payments, charges), all of them usable at once, refilling
//! evenly. A GCRA in Redis: one atomic script (`user.lua`) on one key per
//! user, `{prefix}:{u:<user_id>}:writes` (the hash tag keeps it on one Redis
//! Cluster slot, like every key of a user).

use std::time::Duration;

use crate::infra::RedisConnection;
use redis::Script;

use super::rate_limited;
use crate::ids::UserId;
use crate::problem::Problem;

/// The per-user write budget.
#[derive(Clone)]
pub struct UserLimiter {
    conn: RedisConnection,
    prefix: String,
    per_min: u32,
    script: Script,
}

impl UserLimiter {
    /// `per_min` writes per minute per user under `prefix`; `0` turns it off.
    pub fn new(conn: RedisConnection, prefix: impl Into<String>, per_min: u32) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            per_min,
            script: Script::new(include_str!("user.lua")),
        }
    }

    /// The Redis key of `user`'s budget.
    pub fn key(&self, user: UserId) -> String {
        format!("{}:{{u:{user}}}:writes", self.prefix)
    }

    /// Count one write of `user`. `Ok(Err(429 RATE_LIMITED))` over budget.
    /// When Redis cannot be reached the write is let through (the limit
    /// protects capacity, not correctness; the write's own Redis or Postgres
    /// step answers 503 if they are really gone), logged and counted in
    /// `rate_limit_errors_total`.
    pub async fn check(&self, user: UserId) -> Result<(), Problem> {
        if self.per_min == 0 {
            return Ok(());
        }
        let interval_us = 60_000_000 / u64::from(self.per_min);
        let wait_us: Result<u64, redis::RedisError> = self
            .script
            .key(self.key(user))
            .arg(interval_us.max(1))
            .arg(self.per_min)
            .invoke_async(&mut self.conn.clone())
            .await;
        match wait_us {
            Ok(0) => Ok(()),
            Ok(wait) => Err(rate_limited(
                "user",
                Duration::from_micros(wait),
                "too many writes by this user; retry after the given seconds",
            )),
            Err(e) => {
                metrics::counter!("rate_limit_errors_total").increment(1);
                tracing::warn!(error = %e, "the per-user rate limit could not be checked; letting the write through");
                Ok(())
            }
        }
    }
}
