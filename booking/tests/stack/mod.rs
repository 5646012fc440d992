//! Real gateway and booking services started inside a test process, on one
//! Postgres database and one Redis key prefix: booking is the gateway's
//! identity provider (`IDENTITY_JWKS_URL`), the gateway the issuer of
//! booking's access tokens (`JWKS_URL`). The end-to-end, survival and
//! failover tests start their stacks from these settings and change only
//! what they are about (ticks, replicas, Sentinel, limits).

#![allow(dead_code, reason = "each test binary uses part of the stack")]

use std::path::Path;
use std::time::Duration;

use booking::settings::CorsOrigins;
use reqwest::StatusCode;
use serde_json::Value;
use shared::infra::RedisTopology;

/// The admin token of every stack.
pub const ADMIN: &str = "stack-admin-token";

/// Where the services find Redis: a URL, Sentinels or a Redis Cluster (the
/// URL then only gives credentials and, with Sentinel, the database number).
#[derive(Clone)]
pub struct RedisTarget {
    pub url: String,
    pub topology: RedisTopology,
}

impl RedisTarget {
    /// The test Redis (`TEST_REDIS_URL`, or the cluster of
    /// `TEST_REDIS_CLUSTER_NODES`).
    pub fn test_server() -> Self {
        Self {
            url: shared::testing::redis_url(),
            topology: shared::testing::redis_topology(),
        }
    }
}

/// Booking on `db_url` and `prefix`, trusting the gateway at `gateway`:
/// production defaults, a one-second sweep and audit, migrations run.
pub fn booking_settings(
    db_url: &str,
    prefix: &str,
    redis: &RedisTarget,
    gateway: &str,
    data_dir: &Path,
) -> booking::Settings {
    booking::Settings {
        database_url: db_url.to_owned().into(),
        database_max_connections: 10,
        redis_url: redis.url.clone().into(),
        redis_topology: redis.topology.clone(),
        redis_timeout: shared::infra::REDIS_TIMEOUT,
        redis_key_prefix: prefix.to_owned(),
        addr: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(ADMIN.into()),
        jwks_url: format!("{gateway}/.well-known/jwks.json"),
        hold_ttl: Duration::from_secs(300),
        max_seats_per_user: 4,
        cors_allowed_origins: CorsOrigins::List(vec![gateway.parse().unwrap()]),
        run_migrations: true,
        sweep_interval: Duration::from_secs(1),
        audit_interval: Duration::from_secs(1),
        session_ttl: Duration::from_secs(3600),
        session_private_key_file: None,
        data_dir: data_dir.to_owned(),
        limits: shared::limits::RateLimitSettings::default(),
        serve: shared::serve::ServeSettings::default(),
    }
}

/// The gateway on `db_url` and `prefix`, whose identity provider is the
/// booking at `booking`: 100 ms ticks admitting 100, the ticker on.
pub fn gateway_settings(
    db_url: &str,
    prefix: &str,
    redis: &RedisTarget,
    booking: &str,
    data_dir: &Path,
) -> gateway::Settings {
    gateway::Settings {
        addr: "127.0.0.1:0".into(),
        database_url: db_url.to_owned(),
        redis_url: redis.url.clone(),
        redis_topology: redis.topology.clone(),
        redis_timeout: shared::infra::REDIS_TIMEOUT,
        key_prefix: prefix.to_owned(),
        admin_token: Some(ADMIN.to_owned().into()),
        tick: Duration::from_millis(100),
        admit_per_tick: 100,
        max_active: 1000,
        active_ttl: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(120),
        data_dir: data_dir.to_owned(),
        jwt_private_key_file: None,
        jwt_previous_key_files: Vec::new(),
        run_ticker: true,
        db_pool_size: 4,
        booking_public_url: booking.to_owned(),
        identity_jwks_url: format!("{booking}/.well-known/jwks.json"),
        identity: shared::tokens::IdentityPolicy::default(),
        limits: shared::limits::RateLimitSettings::default(),
        serve: shared::serve::ServeSettings::default(),
    }
}

/// Serve booking on `listener` (bound beforehand, so the gateway can be
/// told its address first) until the test ends.
pub async fn start_booking(settings: booking::Settings, listener: tokio::net::TcpListener) {
    let app = booking::Application::build_on(settings, listener)
        .await
        .expect("booking builds");
    tokio::spawn(app.run_until_stopped());
}

/// Serve the gateway until the test ends; returns its base URL.
pub async fn start_gateway(settings: gateway::Settings) -> String {
    let app = gateway::Application::build(settings)
        .await
        .expect("the gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// A listener on a free port, and its base URL.
pub async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Send `request` and demand `expected`; returns the JSON body.
pub async fn expect(request: reqwest::RequestBuilder, expected: StatusCode) -> Value {
    let response = request.send().await.expect("an answer");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{body}");
    body
}
