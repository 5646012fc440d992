//! Test support: every test gets its own Postgres database and Redis key
//! prefix on the real servers, so tests run in parallel on shared servers.
//! [`TcpProxy`] sits between a service and Redis or Postgres so a test can cut
//! the connection (an outage) and restore it without touching the servers
//! other tests use.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// Postgres server URL for tests (`TEST_DATABASE_URL`, without a database name).
pub fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis URL for tests (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis key prefix no other test uses.
pub fn random_prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
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
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
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

/// A TCP forwarder that can be cut and restored.
pub struct TcpProxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
}

impl TcpProxy {
    /// Forward a local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = broadcast::channel(1);
        let target = target.to_owned();
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut_rx = cut2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {},
                        _ = cut_rx.recv() => {},
                    }
                });
            }
        });
        Self { port, up, cut }
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
}
