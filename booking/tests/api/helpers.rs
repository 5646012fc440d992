//! `spawn_app()`: the real booking service on port 0, against a fresh
//! Postgres database, a random Redis key prefix and a real HTTP JWKS endpoint
//! publishing the test signer's key (standing in for the gateway), with its
//! session key given through `SESSION_PRIVATE_KEY_FILE`, and typed helpers
//! for the tests.

use std::path::Path;
use std::time::Duration;

use booking::settings::CorsOrigins;
use booking::{Application, Settings};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shared::ids::{ConcertId, UserId};
use shared::infra::RedisConnection;
use shared::infra::{active_set_key, user_tickets_key};
use shared::limits::RateLimitSettings;
use shared::serve::ServeSettings;
use shared::testing::{
    TEST_REDIS_TIMEOUT, TcpProxy, fresh_database, random_prefix, redis_url, serve_jwks,
};
use shared::tokens::{Audience, Claims, Jwks, SessionClaims, Signer, encode, encode_session};
use sqlx::PgPool;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The password of users made by [`TestApp::create_user`].
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub redis: RedisConnection,
    pub prefix: String,
    /// Signs access tokens and tickets, as the gateway would.
    pub signer: Signer,
    /// Booking's session key (the file `SESSION_PRIVATE_KEY_FILE` names).
    pub session_signer: Signer,
    pub settings: Settings,
}

/// Knobs a test may turn before the service starts.
pub struct Options {
    pub hold_ttl: Duration,
    pub max_seats_per_user: u32,
    pub sweep_interval: Duration,
    pub admin_token: Option<&'static str>,
    /// Reach Postgres through this proxy (which must forward to the test server).
    pub postgres_proxy: Option<u16>,
    /// Reach Redis through this proxy.
    pub redis_proxy: Option<u16>,
    /// How long a Redis command may take ([`TEST_REDIS_TIMEOUT`] unless a
    /// test says otherwise).
    pub redis_timeout: Duration,
    /// The rate limits (the production defaults unless a test says otherwise).
    pub limits: RateLimitSettings,
    /// Timeouts and request bounds (the production defaults unless a test
    /// says otherwise).
    pub serve: ServeSettings,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            hold_ttl: Duration::from_secs(300),
            max_seats_per_user: 4,
            sweep_interval: Duration::from_secs(1),
            admin_token: Some(ADMIN_TOKEN),
            postgres_proxy: None,
            redis_proxy: None,
            redis_timeout: TEST_REDIS_TIMEOUT,
            limits: RateLimitSettings::default(),
            serve: ServeSettings::default(),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    shared::telemetry::init_test_logging();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let (database_url, db) = fresh_database(&migrations).await;
    let signer = Signer::generate();
    let jwks_url = serve_jwks(Jwks {
        keys: vec![signer.jwk()],
    })
    .await;
    let prefix = random_prefix();
    let data_dir = std::env::temp_dir().join(format!("booking-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).expect("a data directory");
    let session_signer = Signer::generate();
    let session_key = data_dir.join("session-key.pem");
    std::fs::write(&session_key, session_signer.to_pkcs8_pem()).expect("write the session key");
    let settings = Settings {
        database_url: with_port(&database_url, options.postgres_proxy).into(),
        database_max_connections: 20,
        redis_url: with_port(&redis_url(), options.redis_proxy).into(),
        redis_topology: if options.redis_proxy.is_some() {
            shared::infra::RedisTopology::Server
        } else {
            shared::testing::redis_topology()
        },
        redis_timeout: options.redis_timeout,
        redis_key_prefix: prefix.clone(),
        addr: "127.0.0.1:0".parse().expect("a socket address"),
        admin_token: options.admin_token.map(Into::into),
        jwks_url,
        hold_ttl: options.hold_ttl,
        max_seats_per_user: options.max_seats_per_user,
        cors_allowed_origins: CorsOrigins::List(vec![
            "http://127.0.0.1:8080".parse().expect("origin"),
        ]),
        run_migrations: true,
        sweep_interval: options.sweep_interval,
        audit_interval: Duration::from_secs(1),
        session_ttl: Duration::from_secs(3600),
        session_private_key_file: Some(session_key),
        data_dir,
        limits: options.limits,
        serve: options.serve,
    };
    let address = start(settings.clone()).await;
    // Through a proxy the service reaches the one server at TEST_REDIS_URL
    // (outage tests), so the test's own checks go there too, even when the
    // other tests run on a Redis Cluster.
    let redis = if options.redis_proxy.is_some() {
        shared::infra::connect_redis(
            &redis_url(),
            &shared::infra::RedisTopology::Server,
            Duration::from_secs(5),
        )
        .await
        .expect("the test Redis is reachable")
    } else {
        shared::testing::test_redis().await
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client");
    TestApp {
        address,
        client,
        db,
        redis,
        prefix,
        signer,
        session_signer,
        settings,
    }
}

async fn start(settings: Settings) -> String {
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

/// A proxy in front of the test Postgres or Redis server.
pub async fn proxy_to(url: &str) -> TcpProxy {
    TcpProxy::start(&authority(url)).await
}

/// `url` with its host:port replaced by 127.0.0.1:`port`, when given.
fn with_port(url: &str, port: Option<u16>) -> String {
    match port {
        None => url.to_owned(),
        Some(port) => url.replacen(&authority(url), &format!("127.0.0.1:{port}"), 1),
    }
}

fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// An access token of `user` for `concert`, admitted (in the active set).
pub struct Access {
    pub token: String,
    pub ticket_id: Uuid,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sign a token of `audience` for `user` and `concert`.
    pub fn token(&self, user: i64, concert: i64, audience: Audience) -> (String, Uuid) {
        let now = shared::unix_now();
        let ticket_id = Uuid::new_v4();
        let claims = Claims {
            audience,
            user_id: UserId::new(user).expect("a user id"),
            concert_id: ConcertId::new(concert).expect("a concert id"),
            ticket_id,
            issued_at: now,
            expires_at: now + 600,
            queue_epoch: None,
            seq: None,
            shown_eta: None,
        };
        (encode(&self.signer, &claims), ticket_id)
    }

    /// Another booking process on the same database, Redis prefix and keys
    /// (a replica behind the load balancer); returns its address.
    pub async fn replica(&self) -> String {
        start(self.settings.clone()).await
    }

    /// A session token of `user`, as a login would answer it (signed with
    /// booking's session key, a fresh `jti`, an hour long).
    pub fn session(&self, user: i64) -> String {
        let now = shared::unix_now();
        let claims = SessionClaims {
            user_id: UserId::new(user).expect("a user id"),
            session_id: Some(Uuid::new_v4().to_string()),
            issued_at: now,
            expires_at: now + 3600,
        };
        encode_session(&self.session_signer, &claims)
    }

    /// Log in through the API.
    pub async fn login(&self, user: i64, password: &str) -> Response {
        self.client
            .post(self.url("/v1/sessions"))
            .json(&json!({ "user_id": user, "password": password }))
            .send()
            .await
            .expect("POST /v1/sessions")
    }

    /// A queue ticket (not an access token).
    pub fn ticket(&self, user: i64, concert: i64) -> String {
        self.token(user, concert, Audience::Queue).0
    }

    /// An access token whose ticket is in the concert's active set, and is
    /// the user's ticket of that queue (as the gateway's admission leaves it).
    pub async fn admit(&self, user: i64, concert: i64) -> Access {
        let (token, ticket_id) = self.token(user, concert, Audience::Booking);
        let session_end_ms = (shared::unix_now() + 600) * 1000;
        let concert = ConcertId::new(concert).expect("a concert id");
        let () = redis::pipe()
            .cmd("ZADD")
            .arg(active_set_key(&self.prefix, concert))
            .arg(session_end_ms)
            .arg(ticket_id.to_string())
            .ignore()
            .cmd("HSET")
            .arg(user_tickets_key(&self.prefix, concert))
            .arg(user)
            .arg(ticket_id.to_string())
            .ignore()
            .query_async(&mut self.redis.clone())
            .await
            .expect("ZADD + HSET");
        Access { token, ticket_id }
    }

    pub async fn in_active_set(&self, concert: i64, ticket_id: Uuid) -> bool {
        let key = active_set_key(&self.prefix, ConcertId::new(concert).expect("a concert id"));
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(key)
            .arg(ticket_id.to_string())
            .query_async(&mut self.redis.clone())
            .await
            .expect("ZSCORE");
        score.is_some()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> Response {
        self.post(path, ADMIN_TOKEN, body).await
    }

    /// A user created through the admin API, with the password [`PASSWORD`].
    pub async fn create_user(&self, name: &str) -> i64 {
        let response = self
            .admin_post(
                "/v1/admin/users",
                &json!({ "name": name, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("user JSON");
        body["user_id"].as_i64().expect("user_id")
    }

    /// `count` users created directly in the database (for crowds).
    pub async fn create_users(&self, count: i64) -> Vec<i64> {
        sqlx::query_scalar(
            "INSERT INTO users (name) SELECT 'user ' || n FROM generate_series(1, $1) AS n
             RETURNING user_id",
        )
        .bind(count)
        .fetch_all(&self.db)
        .await
        .expect("insert users")
    }

    /// A concert with one schedule a month from now, 50 seats at `price`.
    pub async fn create_concert(&self, price: i64) -> (i64, i64) {
        let starts_at = chrono::Utc::now() + chrono::Duration::days(30);
        let body = json!({
            "title": "Test Concert",
            "venue": "Test Hall",
            "schedules": [{ "starts_at": starts_at, "price": price, "seats": 50 }],
        });
        let response = self.admin_post("/v1/admin/concerts", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("concert JSON");
        let concert = body["concert_id"].as_i64().expect("concert_id");
        let schedule = body["schedules"][0]["schedule_id"]
            .as_i64()
            .expect("schedule_id");
        (concert, schedule)
    }

    pub async fn hold_seat(&self, token: &str, schedule: i64, seat: i64) -> Response {
        self.post(
            "/v1/reservations",
            token,
            &json!({ "schedule_id": schedule, "seat_number": seat }),
        )
        .await
    }

    /// Hold a seat that must be free; returns the reservation id.
    pub async fn hold_ok(&self, token: &str, schedule: i64, seat: i64) -> String {
        let response = self.hold_seat(token, schedule, seat).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("reservation JSON");
        body["reservation_id"]
            .as_str()
            .expect("reservation_id")
            .to_owned()
    }

    pub async fn pay(&self, token: &str, reservation: &str, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url("/v1/payments"))
            .bearer_auth(token)
            .json(&json!({ "reservation_id": reservation }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("POST /v1/payments")
    }

    /// `POST /v1/payments` with `{"reservation_ids": reservations}`.
    pub async fn pay_many(
        &self,
        token: &str,
        reservations: &[String],
        key: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url("/v1/payments"))
            .bearer_auth(token)
            .json(&json!({ "reservation_ids": reservations }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("POST /v1/payments")
    }

    /// The seat map of `schedule` as `token` sees it (must answer 200).
    pub async fn seat_map(&self, token: &str, schedule: i64) -> Value {
        let response = self
            .get(&format!("/v1/schedules/{schedule}/seats"), token)
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("seat map JSON");
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The Redis lock of one seat (booking's `redis_gate` layout).
    pub fn seat_lock_key(&self, schedule: i64, seat: i64) -> String {
        format!("{}:{{s:{schedule}}}:seat:{seat}", self.prefix)
    }

    fn seats_version_key(&self, schedule: i64) -> String {
        format!("{}:{{s:{schedule}}}:seats-version", self.prefix)
    }

    /// Take seat `seat` for `reservation` with booking's own lock script, as
    /// a hold does before it writes Postgres: `true` when it was taken.
    pub async fn lock_seat(&self, schedule: i64, seat: i64, reservation: Uuid) -> bool {
        let won: i64 = redis::Script::new(include_str!("../../src/lua/lock_seat.lua"))
            .key(self.seat_lock_key(schedule, seat))
            .key(self.seats_version_key(schedule))
            .arg(reservation.to_string())
            .arg(60_000)
            .arg(Uuid::new_v4().to_string())
            .arg(60_000)
            .invoke_async(&mut self.redis.clone())
            .await
            .unwrap();
        won == 1
    }

    /// Delete `reservation`'s lock of seat `seat` with booking's own release
    /// script, as the end of a hold does.
    pub async fn release_seat_lock(&self, schedule: i64, seat: i64, reservation: Uuid) {
        let _: i64 = redis::Script::new(include_str!("../../src/lua/release_seat.lua"))
            .key(self.seat_lock_key(schedule, seat))
            .key(self.seats_version_key(schedule))
            .arg(reservation.to_string())
            .arg(Uuid::new_v4().to_string())
            .arg(60_000)
            .invoke_async(&mut self.redis.clone())
            .await
            .unwrap();
    }

    pub async fn charge(&self, token: &str, user: i64, amount: i64, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!("/v1/users/{user}/balance/charge")))
            .bearer_auth(token)
            .json(&json!({ "amount": amount }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("POST charge")
    }

    /// Add `amount` to `user`'s balance through the API (and so the ledger).
    pub async fn fund(&self, user: i64, amount: i64) {
        let response = self.charge(&self.session(user), user, amount, None).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    pub async fn balance_of(&self, user: i64) -> i64 {
        sqlx::query_scalar("SELECT balance FROM balances WHERE user_id = $1")
            .bind(user)
            .fetch_one(&self.db)
            .await
            .expect("balance")
    }

    /// Charges minus payments in the user's ledger.
    pub async fn ledger_total(&self, user: i64) -> i64 {
        sqlx::query_scalar(
            "SELECT COALESCE(sum(CASE kind WHEN 'charge' THEN amount ELSE -amount END), 0)::BIGINT
             FROM balance_ledger WHERE user_id = $1",
        )
        .bind(user)
        .fetch_one(&self.db)
        .await
        .expect("ledger total")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.db)
            .await
            .expect("count query")
    }
}

/// Assert a problem+json answer with `status` and `code`; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["code"], code, "problem body {body}");
    assert_eq!(body["status"], status);
    body
}
