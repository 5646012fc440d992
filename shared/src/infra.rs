//! Connections to Redis and Postgres with the timeouts that turn an outage
//! into a quick `503` instead of a hung request, and the shared Redis key
//! that both services use: a concert's active set.
//!
//! Hot paths use one multiplexed Redis connection ([`RedisConnection`]):
//! every request pipelines onto it, nothing is checked out, and it reconnects
//! by itself when Redis comes back — or, with Sentinel, when another server
//! has become the primary (`crate::redis_conn`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, ServerErrorKind};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::ids::ConcertId;
pub use crate::redis_conn::{ClusterSettings, RedisConnection, RedisTopology, SentinelSettings};

/// How long a Redis command may take before the request gives up with 503.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a request waits for a Postgres connection before giving up with 503.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long connecting to a Redis server may take.
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Connect to Redis as `topology` says (API.md "Configuration"), retrying
/// for up to `patience` at start: to `url` (`REDIS_URL`); to the primary the
/// Sentinels name (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`), followed
/// across failovers; or to the Redis Cluster of `REDIS_CLUSTER_NODES`. With
/// Sentinel or Cluster, `url` only supplies credentials (and, with Sentinel,
/// the database).
pub async fn connect_redis(
    url: &str,
    topology: &RedisTopology,
    patience: Duration,
) -> Result<RedisConnection, redis::RedisError> {
    connect_redis_with_timeout(url, topology, patience, REDIS_TIMEOUT).await
}

/// [`connect_redis`] with `response_timeout` instead of [`REDIS_TIMEOUT`]
/// for every command: the services take it from their settings
/// (`redis_timeout`), which tests on a loaded machine lengthen.
pub async fn connect_redis_with_timeout(
    url: &str,
    topology: &RedisTopology,
    patience: Duration,
    response_timeout: Duration,
) -> Result<RedisConnection, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let attempt = match topology {
            RedisTopology::Server => {
                ConnectionManager::new_with_config(client.clone(), config.clone())
                    .await
                    .map(RedisConnection::direct)
            }
            RedisTopology::Sentinel(sentinel) => {
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(Some(response_timeout))
                    .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT));
                RedisConnection::sentinel(sentinel, url, config).await
            }
            RedisTopology::Cluster(cluster) => {
                RedisConnection::cluster(cluster, url, REDIS_CONNECT_TIMEOUT, response_timeout)
                    .await
            }
        };
        match attempt {
            Ok(conn) => return Ok(conn),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "Redis is not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A Postgres pool that connects lazily, so a service starts (and reports
/// not-ready) while Postgres is down, and recovers when it returns.
pub fn postgres_pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(options))
}

/// The hash tag all keys of one concert share, e.g. `tq:{c:42}`, so that the
/// scripts touching them run on a single Redis Cluster slot.
pub fn concert_key_base(prefix: &str, concert: ConcertId) -> String {
    format!("{prefix}:{{c:{concert}}}")
}

/// The active set of a concert: sorted set of ticket ids (the `jti` of
/// access tokens) scored by the end of their session in Unix milliseconds.
/// Written by the gateway's ticker; read (admission check) and trimmed
/// (revocation after payment) by booking.
pub fn active_set_key(prefix: &str, concert: ConcertId) -> String {
    format!("{}:active", concert_key_base(prefix, concert))
}

/// A concert's user → ticket hash (`{base}:users`): the ticket each user
/// holds in that concert's queue. Written by the gateway at join; read by
/// booking to end a user's session after a payment made with a session token.
pub fn user_tickets_key(prefix: &str, concert: ConcertId) -> String {
    format!("{}:users", concert_key_base(prefix, concert))
}

/// The epoch of a concert's queue (`{base}:epoch`): a random number the
/// gateway writes when it builds the queue's keys in this Redis (the first
/// time, or after a data loss rebuilt them from Postgres), and that it puts
/// in every ticket and access token as `qep`. A token of another epoch that
/// Redis knows nothing about was lost with Redis, not revoked (API.md,
/// "Redis is not the only copy"). Read by booking's admission check.
pub fn queue_epoch_key(prefix: &str, concert: ConcertId) -> String {
    format!("{}:epoch", concert_key_base(prefix, concert))
}

/// The version of the set of concerts (`{prefix}:concerts-version`): a
/// random string that booking replaces each time it creates a concert,
/// after the commit and before it answers. A gateway remembers "no such
/// concert" together with the version it read *before* asking Postgres, and
/// believes that answer only while the version is unchanged, so a concert is
/// found the moment its creation answered (API.md, Errors).
pub fn concerts_version_key(prefix: &str) -> String {
    format!("{prefix}:concerts-version")
}

/// Mark the set of concerts as changed (see [`concerts_version_key`]).
pub async fn concerts_changed(
    redis: &mut RedisConnection,
    prefix: &str,
) -> Result<(), redis::RedisError> {
    redis::cmd("SET")
        .arg(concerts_version_key(prefix))
        .arg(uuid::Uuid::new_v4().simple().to_string())
        .query_async(redis)
        .await
}

/// Whether a Redis error means "Redis is unreachable" (→ 503) rather than a
/// bug. `READONLY` is one: a primary that Sentinel has just demoted answers
/// it until the connection follows the new primary; so is `NOREPLICAS`, and
/// on a Redis Cluster `CLUSTERDOWN`, `TRYAGAIN` and a slot whose master
/// cannot be reached (during a failover).
pub fn redis_is_unavailable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(
                ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::ReadOnly
            ) | redis::ErrorKind::ClusterConnectionNotFound
        )
        // A primary with `min-replicas-to-write` refuses writes while too
        // few replicas are connected (docs/operations.md, Redis failover).
        || e.code() == Some("NOREPLICAS")
}

/// Whether a Postgres error means "Postgres is unreachable or overloaded" (→ 503).
pub fn pg_is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // 08: connection exception; 53: insufficient resources; 57P: operator intervention.
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")
        }),
        _ => false,
    }
}

/// The answer for a failed Redis command: 503 when Redis is unreachable,
/// an opaque 500 otherwise. The cause is logged and counted, never sent.
pub fn redis_problem(e: &redis::RedisError) -> crate::Problem {
    metrics::counter!("redis_errors_total").increment(1);
    if redis_is_unavailable(e) {
        tracing::warn!(error = %e, "Redis is unavailable");
        crate::Problem::unavailable()
    } else {
        tracing::error!(error = %e, "Redis command failed");
        crate::Problem::internal()
    }
}

/// The answer for a failed Postgres call: 503 when Postgres is unreachable,
/// an opaque 500 otherwise. The cause is logged and counted, never sent.
pub fn pg_problem(e: &sqlx::Error) -> crate::Problem {
    metrics::counter!("postgres_errors_total").increment(1);
    if pg_is_unavailable(e) {
        tracing::warn!(error = %e, "Postgres is unavailable");
        crate::Problem::unavailable()
    } else {
        tracing::error!(error = %e, "Postgres query failed");
        crate::Problem::internal()
    }
}

#[cfg(test)]
mod tests {
    use redis::{ErrorKind, RedisError};

    use super::redis_is_unavailable;

    #[test]
    fn a_demoted_primary_or_missing_replicas_are_outages_not_bugs() {
        // As they arrive from a server.
        let reply = |wire: &[u8]| -> RedisError {
            redis::parse_redis_value(wire)
                .and_then(redis::Value::extract_error)
                .expect_err("an error reply")
        };
        let readonly = reply(b"-READONLY You can't write against a read only replica.\r\n");
        let noreplicas = reply(b"-NOREPLICAS Not enough good replicas to write.\r\n");
        let script = reply(b"-ERR Error running script\r\n");
        assert_eq!(
            readonly.kind(),
            ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        );
        assert!(redis_is_unavailable(&readonly));
        assert!(redis_is_unavailable(&noreplicas));
        assert!(!redis_is_unavailable(&script));
    }
}
