//! `spawn_app()`: the real gateway on port 0, against a fresh Postgres
//! database and a random Redis key prefix on the real servers, with an
//! identity provider (a key and its JWKS served over HTTP) whose session
//! tokens the joins carry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gateway::state::AppState;
use gateway::ticker::{self, TickOutcome};
use gateway::{Application, Clock, ManualClock, Settings, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::ids::ConcertId;
use shared::testing::{self, IdentityProvider};
use sqlx::PgPool;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Knobs a test may turn; everything else is the production default.
#[derive(Clone)]
pub struct Config {
    pub tick_ms: u64,
    pub admit_per_tick: u32,
    pub max_active: u32,
    pub active_ttl_secs: u64,
    pub idle_timeout_secs: u64,
    /// Run the real ticker loop on the wall clock; otherwise the test ticks by
    /// hand with a manual clock.
    pub run_ticker: bool,
    /// Use the wall clock even without the ticker loop (tests that tick
    /// from several replicas at real tick boundaries).
    pub system_clock: bool,
    /// Reach Redis at this URL instead of the shared test server (a proxy).
    pub redis_url: Option<String>,
    /// The `iss`/`aud` session tokens must carry (booking's by default).
    pub identity: shared::tokens::IdentityPolicy,
    /// Reach Postgres through a proxy the test can cut ([`TestApp::postgres_proxy`]).
    pub postgres_proxy: bool,
    /// The rate limits (the production defaults unless a test says otherwise).
    pub limits: shared::limits::RateLimitSettings,
    /// Timeouts and request bounds (the production defaults unless a test
    /// says otherwise).
    pub serve: shared::serve::ServeSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tick_ms: 1000,
            admit_per_tick: 100,
            max_active: 1000,
            active_ttl_secs: 600,
            idle_timeout_secs: 120,
            run_ticker: false,
            system_clock: false,
            redis_url: None,
            identity: shared::tokens::IdentityPolicy::default(),
            postgres_proxy: false,
            limits: shared::limits::RateLimitSettings::default(),
            serve: shared::serve::ServeSettings::default(),
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub db: PgPool,
    pub db_url: String,
    pub prefix: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    pub clock: Option<Arc<ManualClock>>,
    pub config: Config,
    pub identity: Arc<IdentityProvider>,
    /// Between the gateway and Postgres, when [`Config::postgres_proxy`].
    pub postgres_proxy: Option<Arc<testing::TcpProxy>>,
}

pub fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../booking/migrations")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    shared::telemetry::init_test_logging();
    let (db_url, db) = testing::fresh_database(&migrations_dir()).await;
    let prefix = testing::random_prefix();
    let data_dir =
        std::env::temp_dir().join(format!("gateway-test-{}", uuid::Uuid::new_v4().simple()));
    let identity = Arc::new(IdentityProvider::start().await);
    if !config.postgres_proxy {
        return start(config, db_url, db, prefix, data_dir, identity).await;
    }
    let server = testing::postgres_server_url();
    let authority = server.rsplit_once('@').map_or(server.as_str(), |(_, a)| a);
    let authority = authority.split_once("://").map_or(authority, |(_, a)| a);
    let authority = authority.split('/').next().unwrap_or(authority).to_owned();
    let proxy = Arc::new(testing::TcpProxy::start(&authority).await);
    let via_proxy = db_url.replacen(&authority, &format!("127.0.0.1:{}", proxy.port()), 1);
    let mut app = start(config, via_proxy, db, prefix, data_dir, identity).await;
    app.postgres_proxy = Some(proxy);
    app
}

async fn start(
    config: Config,
    db_url: String,
    db: PgPool,
    prefix: String,
    data_dir: PathBuf,
    identity: Arc<IdentityProvider>,
) -> TestApp {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        database_url: db_url.clone(),
        redis_url: config.redis_url.clone().unwrap_or_else(testing::redis_url),
        redis_topology: if config.redis_url.is_some() {
            shared::infra::RedisTopology::Server
        } else {
            testing::redis_topology()
        },
        redis_timeout: testing::TEST_REDIS_TIMEOUT,
        key_prefix: prefix.clone(),
        admin_token: Some(ADMIN_TOKEN.to_owned().into()),
        tick: Duration::from_millis(config.tick_ms),
        admit_per_tick: config.admit_per_tick,
        max_active: config.max_active,
        active_ttl: Duration::from_secs(config.active_ttl_secs),
        idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        data_dir: data_dir.clone(),
        jwt_private_key_file: None,
        jwt_previous_key_files: Vec::new(),
        run_ticker: config.run_ticker,
        db_pool_size: 4,
        booking_public_url: "http://127.0.0.1:8081".into(),
        identity_jwks_url: identity.jwks_url.clone(),
        identity: config.identity.clone(),
        limits: config.limits.clone(),
        serve: config.serve.clone(),
    };
    let (clock, dyn_clock): (Option<Arc<ManualClock>>, Arc<dyn Clock>) =
        if config.run_ticker || config.system_clock {
            (None, Arc::new(SystemClock))
        } else {
            let c = Arc::new(ManualClock::starting_now());
            (Some(c.clone()), c)
        };
    let app = Application::build_with_clock(settings, dyn_clock)
        .await
        .expect("gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .unwrap();
    TestApp {
        address,
        state,
        db,
        db_url,
        prefix,
        data_dir,
        client,
        clock,
        config,
        identity,
        postgres_proxy: None,
    }
}

impl TestApp {
    /// Another gateway on the same Postgres, Redis prefix and signing key.
    pub async fn replica(&self, config: Config) -> TestApp {
        start(
            config,
            self.db_url.clone(),
            self.db.clone(),
            self.prefix.clone(),
            self.data_dir.clone(),
            Arc::clone(&self.identity),
        )
        .await
    }

    pub async fn create_users(&self, n: usize) -> Vec<i64> {
        sqlx::query_scalar("INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, $1) g RETURNING user_id")
            .bind(i64::try_from(n).unwrap())
            .fetch_all(&self.db)
            .await
            .unwrap()
    }

    pub async fn create_concert(&self) -> i64 {
        sqlx::query_scalar("INSERT INTO concerts (title, venue) VALUES ('Test concert', 'Test hall') RETURNING concert_id")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Join as `user`, with a session token of the identity provider.
    /// Have this gateway fetch the identity provider's keys (JWKS) before a
    /// burst of joins: `user` joins a concert made for it (201). The gateway
    /// fetches them on the first join; the test's key server runs in the test
    /// process, which a burst keeps busy, so a fetch during the burst can miss
    /// its 2 s timeout and that join answers `503` (the contract's answer when
    /// the keys cannot be fetched), which is not what a burst test is about.
    pub async fn fetch_identity_keys(&self, user: i64) {
        let concert = self.create_concert().await;
        let (status, body) = self.join(concert, user).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub async fn join(&self, concert: i64, user: i64) -> (StatusCode, Value) {
        self.join_with(concert, Some(&self.identity.session(user)), &json!({}))
            .await
    }

    /// Join with `session` as the bearer token (none when `None`) and `body`.
    pub async fn join_with(
        &self,
        concert: i64,
        session: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url(&format!("/v1/concerts/{concert}/queue")))
            .json(body);
        if let Some(session) = session {
            request = request.bearer_auth(session);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Join and return the ticket (panics unless the join succeeded).
    pub async fn join_ok(&self, concert: i64, user: i64) -> Value {
        let (status, body) = self.join(concert, user).await;
        assert!(status.is_success(), "join failed: {status} {body}");
        body
    }

    pub async fn poll(&self, concert: i64, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(&format!("/v1/concerts/{concert}/queue/status")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn leave(&self, concert: i64, token: &str) -> StatusCode {
        self.client
            .delete(self.url(&format!("/v1/concerts/{concert}/queue/me")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn stats(&self, concert: i64) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/v1/concerts/{concert}/queue")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn patch_queue(&self, concert: i64, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .patch(self.url(&format!("/v1/admin/concerts/{concert}/queue")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Move the manual clock forward.
    pub fn advance(&self, ms: u64) {
        self.clock
            .as_ref()
            .expect("a manual clock")
            .advance_ms(i64::try_from(ms).unwrap());
    }

    /// Advance by one tick and run it for every concert (manual clock).
    pub async fn tick(&self) -> Vec<(ConcertId, TickOutcome)> {
        self.advance(self.config.tick_ms);
        ticker::tick_all(&self.state, self.state.clock.now_ms())
            .await
            .expect("tick runs")
    }

    /// The ticket ids in the active set, oldest admission first.
    pub async fn active_tickets(&self, concert: i64) -> Vec<String> {
        let key = self
            .state
            .queue_keys(ConcertId::new(concert).unwrap())
            .active()
            .to_owned();
        let mut conn = self.state.redis.clone();
        redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}
