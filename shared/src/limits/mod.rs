//! Rate limits (API.md, Limits): who may send how much.
//!
//! - **per client address** ([`address`]): `RATE_LIMIT_IP_PER_SEC` requests
//!   per second, bursts up to twice that, for requests that carry no token
//!   that verifies. In process (each replica counts its own), with a bounded
//!   key space.
//! - **per user** ([`user`]): `RATE_LIMIT_USER_PER_MIN` writes per minute
//!   (logins, joins, holds, releases, payments, charges), counted in Redis so
//!   the budget holds across replicas.
//! - **per ticket** ([`ticket`]): polls of one queue ticket faster than
//!   `RATE_LIMIT_TICKET_POLLS_PER_SEC` (4) per second are over budget.
//!
//! Over budget is `429 RATE_LIMITED` with `Retry-After` (whole seconds, at
//! least 1), counted in `rate_limited_total{limit}`.

pub mod address;
pub mod bounded;
pub mod ticket;
pub mod user;

use std::cell::Cell;
use std::time::Duration;

use ipnet::IpNet;

use crate::problem::{ErrorCode, Problem};
use crate::settings::{ConfigError, parse_in_range, var};

pub use address::{AddressLimiter, client_address};
pub use ticket::TicketPollLimiter;
pub use user::UserLimiter;

/// The rate-limit configuration both services read (API.md, Configuration).
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_IP_PER_SEC`: requests per second of one client address
    /// without a verified token, bursts up to twice that (default 50, `0`
    /// turns it off).
    pub ip_per_sec: u32,
    /// `RATE_LIMIT_USER_PER_MIN`: writes per minute of one user across
    /// replicas, all of them usable at once (default 60, `0` turns it off).
    pub user_per_min: u32,
    /// `RATE_LIMIT_TICKET_POLLS_PER_SEC`: polls per second of one queue
    /// ticket (gateway; default 4 as API.md fixes it, `0` turns it off, for
    /// load tests that poll a few tickets at full speed).
    pub ticket_polls_per_sec: u32,
    /// `TRUSTED_PROXIES`: comma-separated CIDRs whose `X-Forwarded-For` is
    /// believed (default none).
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimitSettings {
    /// The contract's defaults.
    fn default() -> Self {
        Self {
            ip_per_sec: 50,
            user_per_min: 60,
            ticket_polls_per_sec: 4,
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitSettings {
    /// Read the settings from the environment; a bad value names its variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            ip_per_sec: parse_in_range("RATE_LIMIT_IP_PER_SEC", defaults.ip_per_sec, 0, 1_000_000)?,
            user_per_min: parse_in_range(
                "RATE_LIMIT_USER_PER_MIN",
                defaults.user_per_min,
                0,
                1_000_000,
            )?,
            ticket_polls_per_sec: parse_in_range(
                "RATE_LIMIT_TICKET_POLLS_PER_SEC",
                defaults.ticket_polls_per_sec,
                0,
                1000,
            )?,
            trusted_proxies: match var("TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(raw) => parse_cidrs(&raw)?,
            },
        })
    }

    /// No limit at all (tests that measure concurrency, not the limits).
    pub fn off() -> Self {
        Self {
            ip_per_sec: 0,
            user_per_min: 0,
            ticket_polls_per_sec: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `10.0.0.0/8, 192.0.2.7`: CIDRs, a bare address meaning just itself.
pub fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError {
                    name: "TRUSTED_PROXIES",
                    value: raw.to_owned(),
                    reason: format!("{s:?} is not a CIDR (10.0.0.0/8) or an address"),
                })
        })
        .collect()
}

/// The answer over budget: `429 RATE_LIMITED` with `Retry-After` of `wait`
/// rounded up to whole seconds (at least 1), counted as `limit` in
/// `rate_limited_total`. `limit` is one of a fixed set: `address`, `user`,
/// `ticket`, `login`.
pub fn rate_limited(limit: &'static str, wait: Duration, detail: &str) -> Problem {
    metrics::counter!("rate_limited_total", "limit" => limit).increment(1);
    let secs = wait
        .as_millis()
        .div_ceil(1000)
        .clamp(1, u128::from(u32::MAX));
    Problem::new(ErrorCode::RateLimited, detail).with_retry_after(u32::try_from(secs).unwrap_or(1))
}

tokio::task_local! {
    /// Set by authentication when the request's token verified; read by the
    /// address limit ([`address::layer`]), which budgets only requests
    /// without a verified token.
    static VERIFIED: Cell<bool>;
}

/// Mark the request being served by this task as carrying a token that
/// verified (a session token, an access token, a queue ticket or the admin
/// token): it is budgeted by its user, not by its address. Call it from the
/// authentication extractors; outside a request it does nothing.
pub fn note_verified() {
    let _ = VERIFIED.try_with(|v| v.set(true));
}

/// The three limits of one process, built from the settings.
pub struct Limits {
    pub address: std::sync::Arc<AddressLimiter>,
    pub user: UserLimiter,
    pub ticket: TicketPollLimiter,
}

impl Limits {
    /// The limits of `settings`; the per-user budget lives in `redis` under
    /// `prefix`.
    pub fn new(
        settings: &RateLimitSettings,
        redis: crate::infra::RedisConnection,
        prefix: &str,
    ) -> Self {
        Self {
            address: std::sync::Arc::new(AddressLimiter::new(settings)),
            user: UserLimiter::new(redis, prefix, settings.user_per_min),
            ticket: TicketPollLimiter::new(settings.ticket_polls_per_sec),
        }
    }
}
