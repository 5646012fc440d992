//! The Redis connection both services use: one multiplexed connection that
//! every request pipelines onto, to a fixed server (`REDIS_URL`), to the
//! primary that Redis Sentinel names (`REDIS_SENTINELS` and
//! `REDIS_SENTINEL_MASTER`), followed across failovers, or to a Redis Cluster
//! (`REDIS_CLUSTER_NODES`), API.md "Configuration". Which one is chosen once,
//! from the configuration ([`RedisTopology`]); every script and command of
//! both services then runs unchanged on any of them.
//!
//! On a Redis Cluster the crate's cluster connection sends each command to
//! the master of its key's slot (one multiplexed connection per master),
//! follows `MOVED`/`ASK` redirections, and learns the new slot map when a
//! replica has taken over from a failed master; a script is loaded on every
//! master when a node answers `NOSCRIPT`. A command or pipeline must stay
//! within one slot: every key a script or pipeline touches shares a hash tag
//! (ARCHITECTURE.md, "Redis keys").
//!
//! Why a wrapper: the `redis` crate's `ConnectionManager` reconnects to the
//! address it was built with, so after Sentinel promotes a replica it would
//! keep dialling the dead primary until a restart. In Sentinel mode a
//! [`RedisConnection`] holds one `MultiplexedConnection` to the current
//! primary instead. A command that fails because that connection broke, timed
//! out, or reached a primary that has since been demoted (`READONLY`) wakes a
//! background task, which asks the Sentinels one at a time (each within
//! [`SENTINEL_TIMEOUT`]) for the primary, checks with `ROLE` that the server
//! is one (both done by the crate's `SentinelClient`), connects, and swaps the
//! new connection in; until then it retries with a backoff of 100 ms doubling
//! to 500 ms. Commands are never retried here: the request whose command failed
//! answers `503 UNAVAILABLE` with `Retry-After` (its command may or may not
//! have run, as with any dropped connection), and later ones reach the new
//! primary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, Pipeline,
    RedisError, RedisFuture, RedisResult, Value,
};
use tokio::sync::Notify;

mod topology;
pub use topology::{ClusterSettings, RedisTopology, SentinelSettings};

/// How long one Sentinel may take to name the primary (including the
/// `ROLE` check of the server it names) before the next Sentinel is asked.
pub const SENTINEL_TIMEOUT: Duration = Duration::from_secs(1);

/// A cheap-to-clone handle on the service's Redis connection; use it like
/// any `redis::aio::ConnectionLike` (`query_async`, pipelines, scripts).
/// Errors are the `redis` crate's; a broken connection is re-established in
/// the background (see the module documentation).
#[derive(Clone)]
pub struct RedisConnection(Link);

#[derive(Clone)]
enum Link {
    /// `REDIS_URL`: the crate's manager, which reconnects to that address.
    Direct(ConnectionManager),
    /// The primary named by Sentinel.
    Sentinel(Arc<Follower>),
    /// The masters of a Redis Cluster, one connection each (the crate's).
    Cluster(ClusterConnection),
}

impl RedisConnection {
    /// Wrap a connection to one fixed server.
    pub fn direct(manager: ConnectionManager) -> Self {
        Self(Link::Direct(manager))
    }

    /// Find the primary through the Sentinels of `settings` and follow it
    /// across failovers. `url` (`REDIS_URL`) gives the user name, password,
    /// database number and protocol for the primary; its host is not used.
    /// Fails when no Sentinel names a reachable primary (the caller retries).
    pub async fn sentinel(
        settings: &SentinelSettings,
        url: &str,
        config: AsyncConnectionConfig,
    ) -> RedisResult<Self> {
        // The series exists from the start, so `increase()` sees the first one.
        metrics::counter!("redis_sentinel_reconnects_total").increment(0);
        let mut resolver = Resolver::new(settings, url, config)?;
        let (conn, primary) = resolver.connect_primary().await?;
        tracing::info!(%primary, master = %settings.master, "Redis primary found through Sentinel");
        let wake = Arc::new(Notify::new());
        let follower = Arc::new(Follower {
            current: RwLock::new((conn, 0)),
            reconnecting: AtomicBool::new(false),
            wake: Arc::clone(&wake),
        });
        tokio::spawn(follow(Arc::downgrade(&follower), wake, resolver));
        Ok(Self(Link::Sentinel(follower)))
    }
}

impl RedisConnection {
    /// Connect to the Redis Cluster of `settings`: ask the seeds for the
    /// slot map and connect to every master. `url` (`REDIS_URL`) gives the
    /// user name, password and protocol (a cluster has only database 0);
    /// its host is not used. A command answers within `response_timeout`
    /// in all, redirections and retries during a failover included, so a
    /// request during a failover gets `503` instead of waiting. Fails when
    /// no seed answers (the caller retries).
    pub async fn cluster(
        settings: &ClusterSettings,
        url: &str,
        connection_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Self> {
        let auth = url.into_connection_info()?;
        let auth = auth.redis_settings();
        let mut builder = ClusterClientBuilder::new(
            settings
                .nodes
                .iter()
                .map(|(host, port)| ConnectionAddr::Tcp(host.clone(), *port)),
        )
        .connection_timeout(connection_timeout)
        .response_timeout(response_timeout)
        .use_protocol(auth.protocol());
        if let Some(user) = auth.username() {
            builder = builder.username(user);
        }
        if let Some(password) = auth.password() {
            builder = builder.password(password);
        }
        let conn = builder.build()?.get_async_connection().await?;
        tracing::info!(
            seeds = settings.nodes.len(),
            "connected to the Redis Cluster"
        );
        Ok(Self(Link::Cluster(conn)))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Link::Direct(manager) => manager.req_packed_command(cmd),
            Link::Cluster(cluster) => cluster.req_packed_command(cmd),
            Link::Sentinel(follower) => {
                let follower = Arc::clone(follower);
                Box::pin(async move {
                    let (mut conn, generation) = follower.current();
                    let result = conn.req_packed_command(cmd).await;
                    follower.observe(generation, &result);
                    result
                })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Link::Direct(manager) => manager.req_packed_commands(pipeline, offset, count),
            Link::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
            Link::Sentinel(follower) => {
                let follower = Arc::clone(follower);
                Box::pin(async move {
                    let (mut conn, generation) = follower.current();
                    let result = conn.req_packed_commands(pipeline, offset, count).await;
                    follower.observe(generation, &result);
                    result
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Link::Direct(manager) => manager.get_db(),
            Link::Cluster(cluster) => cluster.get_db(),
            Link::Sentinel(follower) => follower.current().0.get_db(),
        }
    }
}

/// Whether `e` says the connection no longer reaches a writable primary.
fn needs_new_primary(e: &RedisError) -> bool {
    crate::infra::redis_is_unavailable(e)
        || e.kind() == ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// The connection to the current primary, shared by every handle.
struct Follower {
    /// The connection and its generation (bumped at each swap), so that
    /// errors of an already replaced connection do not trigger another.
    current: RwLock<(MultiplexedConnection, u64)>,
    /// A reconnection is under way; further errors need not wake the task.
    reconnecting: AtomicBool,
    wake: Arc<Notify>,
}

impl Follower {
    fn current(&self) -> (MultiplexedConnection, u64) {
        let guard = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (guard.0.clone(), guard.1)
    }

    fn generation(&self) -> u64 {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
    }

    fn observe<T>(&self, generation: u64, result: &RedisResult<T>) {
        let Err(e) = result else { return };
        if needs_new_primary(e)
            && self.generation() == generation
            && !self.reconnecting.swap(true, Ordering::SeqCst)
        {
            tracing::warn!(error = %e, "Redis primary connection failed; asking Sentinel");
            self.wake.notify_one();
        }
    }

    fn replace(&self, conn: MultiplexedConnection) {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *guard = (conn, guard.1 + 1);
        drop(guard);
        self.reconnecting.store(false, Ordering::SeqCst);
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // Let the background task see that nobody needs it any more.
        self.wake.notify_one();
    }
}

/// Reconnect whenever a handle reports a broken primary, until every handle
/// is gone.
async fn follow(follower: Weak<Follower>, wake: Arc<Notify>, mut resolver: Resolver) {
    loop {
        wake.notified().await;
        let mut backoff = Duration::from_millis(100);
        loop {
            if follower.strong_count() == 0 {
                return;
            }
            match resolver.connect_primary().await {
                Ok((conn, primary)) => {
                    let Some(follower) = follower.upgrade() else {
                        return;
                    };
                    follower.replace(conn);
                    metrics::counter!("redis_sentinel_reconnects_total").increment(1);
                    tracing::info!(%primary, "connected to the Redis primary named by Sentinel");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no Redis primary yet; asking Sentinel again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    }
}

/// One `SentinelClient` per Sentinel, so that a Sentinel that does not
/// answer costs [`SENTINEL_TIMEOUT`] and the next one is asked (the crate's
/// client walks its list without a time limit).
struct Resolver {
    sentinels: Vec<SentinelClient>,
    /// The Sentinel to ask first: the last one that answered.
    next: usize,
    config: AsyncConnectionConfig,
}

impl Resolver {
    fn new(
        settings: &SentinelSettings,
        url: &str,
        config: AsyncConnectionConfig,
    ) -> RedisResult<Self> {
        let info = url.into_connection_info()?;
        let auth = info.redis_settings();
        let sentinels = settings
            .sentinels
            .iter()
            .map(|(host, port)| {
                let mut builder = SentinelClientBuilder::new(
                    [ConnectionAddr::Tcp(host.clone(), *port)],
                    settings.master.clone(),
                    SentinelServerType::Master,
                )?
                .set_client_to_redis_db(auth.db())
                .set_client_to_redis_protocol(auth.protocol());
                if let Some(user) = auth.username() {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(password) = auth.password() {
                    builder = builder.set_client_to_redis_password(password);
                }
                builder.build()
            })
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(Self {
            sentinels,
            next: 0,
            config,
        })
    }

    /// Ask the Sentinels in turn for the primary and connect to it; returns
    /// the connection and the primary's address (for logs).
    async fn connect_primary(&mut self) -> RedisResult<(MultiplexedConnection, String)> {
        let count = self.sentinels.len();
        let mut last_error = None;
        for i in 0..count {
            let index = (self.next + i) % count;
            let sentinel = &mut self.sentinels[index];
            let attempt = async {
                let client = sentinel.async_get_client().await?;
                let primary = client.get_connection_info().addr().to_string();
                let conn = client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?;
                Ok::<_, RedisError>((conn, primary))
            };
            match tokio::time::timeout(SENTINEL_TIMEOUT, attempt).await {
                Ok(Ok(found)) => {
                    self.next = index;
                    return Ok(found);
                }
                Ok(Err(e)) => last_error = Some(e),
                Err(_) => {
                    last_error = Some(RedisError::from((
                        ErrorKind::Io,
                        "a Sentinel did not answer in time",
                    )));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            RedisError::from((ErrorKind::EmptySentinelList, "no Sentinel configured"))
        }))
    }
}
