//! Test support: every test gets its own Postgres database and Redis key
//! prefix on the real servers, so tests run in parallel on shared servers.
//! [`TcpProxy`] sits between a service and Redis or Postgres so a test can cut
//! the connection (an outage), stall it (a server that answers late) and
//! restore it without touching the servers other tests use.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};

mod metrics;
mod openapi;

pub use metrics::{
    assert_junk_adds_no_series, assert_moved, metric_sum, metric_value, scrape_metrics,
    scrape_metrics_until, send_junk, series,
};
pub use openapi::{
    PROBED_METHODS, assert_routes_documented, document_gaps, documented_operations, router_paths,
    served_openapi, undocumented_operations,
};

/// Postgres server URL for tests (`TEST_DATABASE_URL`, without a database name).
pub fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis URL for tests (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// How tests reach Redis: the Redis Cluster whose seeds
/// `TEST_REDIS_CLUSTER_NODES` names (comma-separated `host:port`, as
/// `scripts/cluster-tests.sh` sets it), else the server at [`redis_url`].
///
/// # Panics
/// When `TEST_REDIS_CLUSTER_NODES` is malformed.
pub fn redis_topology() -> crate::infra::RedisTopology {
    match std::env::var("TEST_REDIS_CLUSTER_NODES") {
        Ok(list) if !list.trim().is_empty() => crate::infra::RedisTopology::Cluster(
            crate::infra::ClusterSettings::parse(&list)
                .expect("TEST_REDIS_CLUSTER_NODES is a list of host:port"),
        ),
        _ => crate::infra::RedisTopology::Server,
    }
}

/// How long a Redis command of a service under test may take (the services'
/// `redis_timeout`; `REDIS_TIMEOUT`, 1.5 s, in production). The services run
/// in the test process, unoptimised, next to the test's own clients, on a
/// machine that other builds and tests keep busy: a reply can wait longer
/// than 1.5 s for the CPU there, and a request would answer `503` although
/// Redis is fine. Tests of a Redis outage cut the connection (an error at
/// once); the failover tests keep `REDIS_TIMEOUT`.
pub const TEST_REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A connection to the tests' Redis ([`redis_topology`]).
///
/// # Panics
/// When Redis does not answer within 5 s.
pub async fn test_redis() -> crate::infra::RedisConnection {
    crate::infra::connect_redis(
        &redis_url(),
        &redis_topology(),
        std::time::Duration::from_secs(5),
    )
    .await
    .expect("the test Redis is reachable")
}

/// A Redis key prefix no other test uses.
pub fn random_prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

/// Serve `jwks` at `http://127.0.0.1:<port>/.well-known/jwks.json` for the
/// rest of the test; returns that URL. A real HTTP endpoint, like any issuer's.
pub async fn serve_jwks(jwks: crate::tokens::Jwks) -> String {
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the JWKS server");
    let port = listener.local_addr().expect("JWKS address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}/.well-known/jwks.json")
}

/// An identity provider for tests of the gateway alone: a signing key whose
/// JWKS is served over HTTP, and session tokens in booking's format.
pub struct IdentityProvider {
    pub signer: crate::tokens::Signer,
    pub jwks_url: String,
}

impl IdentityProvider {
    pub async fn start() -> Self {
        let signer = crate::tokens::Signer::generate();
        let jwks_url = serve_jwks(crate::tokens::Jwks {
            keys: vec![signer.jwk()],
        })
        .await;
        Self { signer, jwks_url }
    }

    /// A session token of `user`, valid for an hour from now.
    pub fn session(&self, user: i64) -> String {
        crate::tokens::encode_session(&self.signer, &self.session_claims(user))
    }

    /// Fresh session claims of `user` (a new `jti`), valid for an hour.
    pub fn session_claims(&self, user: i64) -> crate::tokens::SessionClaims {
        let now = crate::unix_now();
        crate::tokens::SessionClaims {
            user_id: crate::ids::UserId::new(user).expect("a positive user id"),
            session_id: Some(uuid::Uuid::new_v4().to_string()),
            issued_at: now,
            expires_at: now + 3600,
        }
    }
}

/// A fresh database with `migrations` applied. Returns its URL and a pool.
/// Databases are named `test_<uuid>`; the test command drops old ones.
pub async fn fresh_database(migrations: &Path) -> (String, PgPool) {
    let server = postgres_server_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("Postgres is reachable for tests (see scripts/services.sh)");
    admin
        // The name is a UUID of ours, not input: safe to put in the SQL.
        .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .expect("create the test database");
    let url = format!("{server}/{name}");
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await
        .expect("connect to the test database");
    sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("read migrations")
        .run(&pool)
        .await
        .expect("apply migrations");
    (url, pool)
}

/// A TCP forwarder that can be cut, stalled and restored.
pub struct TcpProxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
    stall: Arc<Stall>,
}

/// When the proxy holds back what clients send (see [`TcpProxy::stall_on`]).
struct Stall {
    /// Stall once a client sends these bytes.
    trigger: Mutex<Option<Vec<u8>>>,
    /// Whether client bytes are held back now.
    stalled: watch::Sender<bool>,
}

impl TcpProxy {
    /// Forward a local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = broadcast::channel(1);
        let stall = Arc::new(Stall {
            trigger: Mutex::new(None),
            stalled: watch::Sender::new(false),
        });
        let target = target.to_owned();
        let (up2, cut2, stall2) = (up.clone(), cut.clone(), stall.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut_rx = cut2.subscribe();
                let stall = stall2.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    tokio::select! {
                        _ = forward_client(from_client, &mut to_server, &stall) => {},
                        _ = tokio::io::copy(&mut from_server, &mut to_client) => {},
                        _ = cut_rx.recv() => {},
                    }
                });
            }
        });
        Self {
            port,
            up,
            cut,
            stall,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drop every open connection and refuse new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    /// Accept connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// From the first read from a client that contains `pattern` on, hold
    /// back everything clients send (that read included) until
    /// [`Self::resume`]: the server then gets it all, in order, late —
    /// a server that is slow, not gone.
    pub fn stall_on(&self, pattern: &[u8]) {
        assert!(!pattern.is_empty(), "a pattern to stall on");
        *self.stall.trigger.lock().expect("the trigger") = Some(pattern.to_vec());
    }

    /// Whether the proxy is holding client bytes back now.
    pub fn stalled(&self) -> bool {
        *self.stall.stalled.borrow()
    }

    /// Send on what [`Self::stall_on`] held back, and everything after it.
    pub fn resume(&self) {
        self.stall.stalled.send_replace(false);
    }
}

/// Copy what a client sends to the server, holding it back while the
/// proxy is stalled.
async fn forward_client(mut from: OwnedReadHalf, to: &mut OwnedWriteHalf, stall: &Stall) {
    let mut stalled = stall.stalled.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        {
            let mut trigger = stall.trigger.lock().expect("the trigger");
            if trigger
                .as_deref()
                .is_some_and(|p| chunk.windows(p.len()).any(|w| w == p))
            {
                *trigger = None;
                stall.stalled.send_replace(true);
            }
        }
        while *stalled.borrow_and_update() {
            if stalled.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}

/// A Redis server of one test's own, started by `scripts/redis-scratch.sh`
/// on a free port, without persistence: [`ScratchRedis::restart_empty`] is a
/// production restart that lost every key. Killed when dropped.
pub struct ScratchRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: std::sync::Mutex<Option<tokio::process::Child>>,
}

impl ScratchRedis {
    /// Start the server and wait until it answers `PING`.
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("its address").port()
        };
        let dir =
            std::env::temp_dir().join(format!("redis-scratch-{}", uuid::Uuid::new_v4().simple()));
        let server = Self {
            port,
            dir,
            child: std::sync::Mutex::new(None),
        };
        server.spawn().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (`SIGKILL`) and start a new, empty one on the same port.
    pub async fn restart_empty(&self) {
        let child = self.child.lock().expect("the child").take();
        if let Some(mut child) = child {
            child.kill().await.expect("kill redis-server");
        }
        self.spawn().await;
    }

    async fn spawn(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-scratch.sh");
        let child = tokio::process::Command::new(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/redis-scratch.sh starts");
        *self.child.lock().expect("the child") = Some(child);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ping = async {
                let client = redis::Client::open(self.url())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            if ping.await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the scratch Redis did not answer within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ScratchRedis {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && let Some(child) = child.as_mut()
        {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Delete every key under `prefix` (`<prefix>:*`): what a `FLUSHDB` does to
/// one test's keys, without touching the other tests sharing the server.
pub async fn delete_prefix(redis: &mut crate::infra::RedisConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(redis)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(redis)
            .await
            .expect("DEL");
    }
}

#[cfg(test)]
mod tests {
    use super::metric_sum;

    #[test]
    fn metric_sum_adds_the_matching_samples() {
        let text = "# TYPE x counter\nx{a=\"1\",b=\"2\"} 3\nx{a=\"1\",b=\"3\"} 4\ny 5\nx_total 9\n";
        assert_eq!(metric_sum(text, "x", &[("a", "1")]), Some(7.0));
        assert_eq!(metric_sum(text, "x", &[("b", "3")]), Some(4.0));
        assert_eq!(metric_sum(text, "y", &[]), Some(5.0));
        assert_eq!(metric_sum(text, "x", &[("a", "2")]), None);
        assert_eq!(metric_sum(text, "z", &[]), None);
    }
}
