//! The gateway's configuration, read once from the environment at start.
//! Every variable is documented here; a value that does not parse stops the
//! process with the variable's name.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use shared::infra::RedisTopology;
use shared::limits::RateLimitSettings;
use shared::serve::ServeSettings;
use shared::settings::{ConfigError, key_prefix, parse_in_range, string_or, var};
use shared::tokens::IdentityPolicy;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `GATEWAY_ADDR`: where to listen (default `127.0.0.1:8080`; port 0 picks one).
    pub addr: String,
    /// `DATABASE_URL`: Postgres: concerts are read; the queues' copies that
    /// survive a loss of Redis (`queue_settings`, `queue_sessions`) are written.
    pub database_url: String,
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`); with Sentinel only
    /// its user name, password and database number are used, with a Redis
    /// Cluster only its user name and password.
    pub redis_url: String,
    /// How Redis is reached: `REDIS_URL` alone (the default), the primary
    /// named by the Sentinels of `REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`
    /// (followed across failovers), or the Redis Cluster of
    /// `REDIS_CLUSTER_NODES`.
    pub redis_topology: RedisTopology,
    /// How long a Redis command may take before its request answers `503`:
    /// `REDIS_TIMEOUT` (1.5 s; not configurable, tests lengthen it).
    pub redis_timeout: Duration,
    /// `REDIS_KEY_PREFIX`: every key lives under it (default `tq`).
    pub key_prefix: String,
    /// `ADMIN_TOKEN`: bearer token of the admin endpoints; unset disables them (403).
    pub admin_token: Option<SecretString>,
    /// `QUEUE_TICK_MS`: admission tick (default 1000).
    pub tick: Duration,
    /// `QUEUE_ADMIT_PER_TICK`: default users admitted per tick and concert (100).
    pub admit_per_tick: u32,
    /// `QUEUE_MAX_ACTIVE`: default cap of active users per concert (1000).
    pub max_active: u32,
    /// `ACTIVE_TTL_SECS`: length of an active session (600, at most 24 h).
    pub active_ttl: Duration,
    /// `QUEUE_IDLE_TIMEOUT_SECS`: a waiter that stops polling this long loses its place (120).
    pub idle_timeout: Duration,
    /// `DATA_DIR`: where a generated signing key is kept (`.data`).
    pub data_dir: PathBuf,
    /// `JWT_PRIVATE_KEY_FILE`: PKCS#8 PEM Ed25519 key to sign with; unset → generated in `DATA_DIR`.
    pub jwt_private_key_file: Option<PathBuf>,
    /// `JWT_PREVIOUS_KEY_FILES`: comma-separated PEM files (public or private)
    /// of keys still published in the JWKS after a rotation, so tokens they
    /// signed keep verifying until they expire.
    pub jwt_previous_key_files: Vec<PathBuf>,
    /// Run the admission ticker (always on in production; tests may drive ticks by hand).
    pub run_ticker: bool,
    /// Postgres connections (`GATEWAY_DB_POOL`, default 8): lookups are cached, few are needed.
    pub db_pool_size: u32,
    /// `BOOKING_PUBLIC_URL`: where browsers reach the booking service
    /// (default `http://127.0.0.1:8081`). The fan pages call it, and their
    /// Content-Security-Policy allows connections to its origin only.
    pub booking_public_url: String,
    /// `IDENTITY_JWKS_URL`: the JWKS of the identity provider whose session
    /// tokens a join requires (default booking's,
    /// `http://127.0.0.1:8081/.well-known/jwks.json`).
    pub identity_jwks_url: String,
    /// `IDENTITY_ISSUER` (default `booking`) and `IDENTITY_AUDIENCE` (default
    /// `session`): the `iss` a session token must carry and the `aud` it must
    /// name. Set both to use another OIDC-style issuer (EdDSA keys, numeric
    /// user id in `sub`); booking's tokens must carry a UUID `jti`, another
    /// issuer's need not (they cannot be revoked here then).
    pub identity: IdentityPolicy,
    /// The rate limits (`RATE_LIMIT_*`, `TRUSTED_PROXIES`; API.md, Limits).
    pub limits: RateLimitSettings,
    /// Timeouts, connection and request bounds (`shared::serve`).
    pub serve: ServeSettings,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let admin_token = var("ADMIN_TOKEN").map(SecretString::from);
        let previous = var("JWT_PREVIOUS_KEY_FILES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            addr: string_or("GATEWAY_ADDR", "127.0.0.1:8080"),
            database_url: string_or(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/ticketing",
            ),
            redis_url: string_or("REDIS_URL", "redis://127.0.0.1:6379"),
            redis_topology: RedisTopology::from_env()?,
            redis_timeout: shared::infra::REDIS_TIMEOUT,
            key_prefix: key_prefix("REDIS_KEY_PREFIX", "tq")?,
            admin_token,
            tick: Duration::from_millis(parse_in_range("QUEUE_TICK_MS", 1000, 10, 60_000)?),
            admit_per_tick: parse_in_range("QUEUE_ADMIT_PER_TICK", 100, 0, 100_000)?,
            max_active: parse_in_range("QUEUE_MAX_ACTIVE", 1000, 0, 10_000_000)?,
            active_ttl: Duration::from_secs(parse_in_range("ACTIVE_TTL_SECS", 600, 1, 86_400)?),
            idle_timeout: Duration::from_secs(parse_in_range(
                "QUEUE_IDLE_TIMEOUT_SECS",
                120,
                1,
                86_400,
            )?),
            data_dir: PathBuf::from(string_or("DATA_DIR", ".data")),
            jwt_private_key_file: var("JWT_PRIVATE_KEY_FILE").map(PathBuf::from),
            jwt_previous_key_files: previous,
            run_ticker: true,
            db_pool_size: parse_in_range("GATEWAY_DB_POOL", 8, 1, 200)?,
            booking_public_url: public_url(
                "BOOKING_PUBLIC_URL",
                &string_or("BOOKING_PUBLIC_URL", "http://127.0.0.1:8081"),
            )?,
            identity_jwks_url: public_url(
                "IDENTITY_JWKS_URL",
                &string_or(
                    "IDENTITY_JWKS_URL",
                    "http://127.0.0.1:8081/.well-known/jwks.json",
                ),
            )?,
            identity: IdentityPolicy::for_issuer(
                string_or("IDENTITY_ISSUER", "booking"),
                string_or("IDENTITY_AUDIENCE", "session"),
            ),
            limits: RateLimitSettings::from_env()?,
            serve: ServeSettings::from_env()?,
        })
    }

    pub fn tick_ms(&self) -> i64 {
        i64::try_from(self.tick.as_millis()).unwrap_or(i64::MAX)
    }
}

/// An `http(s)://host[:port][/path]` URL without query, fragment or
/// characters that would break out of an HTML attribute or a CSP header;
/// the trailing slash is dropped so paths can be appended.
pub fn public_url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let value = raw.trim().trim_end_matches('/');
    let bad = |reason: &str| ConfigError {
        name,
        value: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/[]%".contains(c);
    if !rest.chars().all(allowed) {
        return Err(bad("may hold only a scheme, host, port and path"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn public_urls_are_plain_origins_or_paths() {
        let ok = |raw| public_url("X", raw).ok();
        assert_eq!(
            ok("http://127.0.0.1:8081/"),
            Some("http://127.0.0.1:8081".into())
        );
        assert_eq!(
            ok("https://tickets.example/booking"),
            Some("https://tickets.example/booking".into())
        );
        assert_eq!(ok("ftp://a.test"), None);
        assert_eq!(ok("http://"), None);
        assert_eq!(ok("http://a.test/?q=1"), None);
        assert_eq!(ok("http://a.test/'; script-src *"), None);
    }
}
