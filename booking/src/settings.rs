//! The service's configuration: read once from the environment at start,
//! typed, and refused with the variable's name when a value is bad.
//!
//! Tests build a [`Settings`] directly (port 0, a fresh database, a random
//! key prefix, short hold times).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use secrecy::SecretString;
use shared::infra::RedisTopology;
use shared::limits::RateLimitSettings;
use shared::serve::ServeSettings;
use shared::settings::{ConfigError, bool_or, key_prefix, parse_in_range, string_or, var};

/// Everything the booking service is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: the Postgres database booking owns.
    pub database_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS`: size of the Postgres pool.
    pub database_max_connections: u32,
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`); with Sentinel only
    /// its user name, password and database number are used, with a Redis
    /// Cluster only its user name and password.
    pub redis_url: SecretString,
    /// How Redis is reached: `REDIS_URL` alone (the default), the primary
    /// named by the Sentinels of `REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`
    /// (followed across failovers), or the Redis Cluster of
    /// `REDIS_CLUSTER_NODES`.
    pub redis_topology: RedisTopology,
    /// How long a Redis command may take before its request answers `503`:
    /// `REDIS_TIMEOUT` (1.5 s; not configurable, tests lengthen it).
    pub redis_timeout: Duration,
    /// `REDIS_KEY_PREFIX`: first segment of every Redis key.
    pub redis_key_prefix: String,
    /// `BOOKING_ADDR`: where to listen (port 0 picks a free port).
    pub addr: SocketAddr,
    /// `ADMIN_TOKEN`: unset disables the admin endpoints (403).
    pub admin_token: Option<SecretString>,
    /// `JWKS_URL`: the gateway's public keys.
    pub jwks_url: String,
    /// `HOLD_TTL_SECS`: how long a seat hold lasts.
    pub hold_ttl: Duration,
    /// `MAX_SEATS_PER_USER`: seats one user may hold or own per schedule.
    pub max_seats_per_user: u32,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins, or `*`.
    pub cors_allowed_origins: CorsOrigins,
    /// `RUN_MIGRATIONS`: apply the schema migrations at start.
    pub run_migrations: bool,
    /// `HOLD_SWEEP_INTERVAL_MS`: how often timed-out holds are marked expired.
    pub sweep_interval: Duration,
    /// `AUDIT_INTERVAL_SECS`: how often the invariant audit counts oversold
    /// seats and balances that differ from their ledger (`crate::audit`).
    pub audit_interval: Duration,
    /// `SESSION_TTL_SECS`: lifetime of a session token (default 43200 = 12 h,
    /// at most 24 h: API.md, Tokens).
    pub session_ttl: Duration,
    /// `SESSION_PRIVATE_KEY_FILE`: PKCS#8 PEM Ed25519 key that signs session
    /// tokens; unset → generated once as `DATA_DIR/session-ed25519.pem`
    /// (replicas sharing `DATA_DIR` share it; the gateway's key is another file).
    pub session_private_key_file: Option<PathBuf>,
    /// `DATA_DIR`: where a generated session key is kept (default `.data`).
    pub data_dir: PathBuf,
    /// The rate limits (`RATE_LIMIT_*`, `TRUSTED_PROXIES`; API.md, Limits).
    pub limits: RateLimitSettings,
    /// Timeouts, connection and request bounds, load shedding
    /// (`MAX_CONCURRENT_REQUESTS` and the rest: `shared::serve`).
    pub serve: ServeSettings,
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<HeaderValue>),
}

impl Settings {
    /// Read the configuration from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let addr_raw = string_or("BOOKING_ADDR", "127.0.0.1:8081");
        let addr = addr_raw
            .parse()
            .map_err(|e: std::net::AddrParseError| ConfigError {
                name: "BOOKING_ADDR",
                value: addr_raw.clone(),
                reason: e.to_string(),
            })?;
        let jwks_url = string_or("JWKS_URL", "http://127.0.0.1:8080/.well-known/jwks.json");
        if !(jwks_url.starts_with("http://") || jwks_url.starts_with("https://")) {
            return Err(ConfigError {
                name: "JWKS_URL",
                value: jwks_url,
                reason: "must be an http:// or https:// URL".into(),
            });
        }
        Ok(Self {
            database_url: string_or(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/ticketing",
            )
            .into(),
            database_max_connections: parse_in_range("DATABASE_MAX_CONNECTIONS", 32, 1, 1000)?,
            redis_url: string_or("REDIS_URL", "redis://127.0.0.1:6379").into(),
            redis_topology: RedisTopology::from_env()?,
            redis_timeout: shared::infra::REDIS_TIMEOUT,
            redis_key_prefix: key_prefix("REDIS_KEY_PREFIX", "tq")?,
            addr,
            admin_token: var("ADMIN_TOKEN").map(SecretString::from),
            jwks_url,
            hold_ttl: Duration::from_secs(parse_in_range("HOLD_TTL_SECS", 300, 1, 86_400)?),
            max_seats_per_user: parse_in_range("MAX_SEATS_PER_USER", 4, 1, 1000)?,
            cors_allowed_origins: parse_origins(&string_or(
                "CORS_ALLOWED_ORIGINS",
                "http://127.0.0.1:8080",
            ))?,
            run_migrations: bool_or("RUN_MIGRATIONS", true)?,
            sweep_interval: Duration::from_millis(parse_in_range(
                "HOLD_SWEEP_INTERVAL_MS",
                1000,
                50,
                600_000,
            )?),
            audit_interval: Duration::from_secs(parse_in_range(
                "AUDIT_INTERVAL_SECS",
                60,
                1,
                86_400,
            )?),
            session_ttl: Duration::from_secs(parse_in_range(
                "SESSION_TTL_SECS",
                43_200,
                60,
                86_400,
            )?),
            session_private_key_file: var("SESSION_PRIVATE_KEY_FILE").map(PathBuf::from),
            data_dir: PathBuf::from(string_or("DATA_DIR", ".data")),
            limits: RateLimitSettings::from_env()?,
            serve: ServeSettings::from_env()?,
        })
    }
}

/// `*`, or a comma-separated list of `scheme://host[:port]` origins.
pub fn parse_origins(raw: &str) -> Result<CorsOrigins, ConfigError> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(CorsOrigins::Any);
    }
    let bad = |value: &str, reason: &str| ConfigError {
        name: "CORS_ALLOWED_ORIGINS",
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .ok_or_else(|| bad(origin, "an origin starts with http:// or https://"))?;
        if rest.is_empty() || rest.contains('/') {
            return Err(bad(
                origin,
                "an origin is scheme://host[:port], without a path",
            ));
        }
        origins.push(
            HeaderValue::from_str(origin).map_err(|_| bad(origin, "not a valid header value"))?,
        );
    }
    Ok(CorsOrigins::List(origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_lists_and_wildcard() {
        assert_eq!(parse_origins("*").ok(), Some(CorsOrigins::Any));
        let Ok(CorsOrigins::List(list)) = parse_origins("http://a.test, https://b.test:8443")
        else {
            panic!("a list of origins parses");
        };
        assert_eq!(list.len(), 2);
        assert!(parse_origins("ftp://a.test").is_err());
        assert!(parse_origins("http://a.test/path").is_err());
    }
}
