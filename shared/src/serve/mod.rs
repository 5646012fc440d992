//! Serving HTTP with the limits of API.md ("Limits"): slow or idle clients
//! cannot hold the service, and at capacity it sheds load at once.
//!
//! Both services serve through [`serve`], a hyper-util server loop (axum's
//! own `serve` sets no timers):
//!
//! - **connections**: at most `MAX_CONNECTIONS` open; one more is closed as
//!   soon as it is accepted ([`connection`]).
//! - **headers**: a request's head must arrive within `HEADER_READ_TIMEOUT_SECS`
//!   (10 s) of its first byte (of the connection's opening for the first
//!   request), else the connection is closed.
//! - **idle**: a keep-alive connection with no request for
//!   `KEEP_ALIVE_TIMEOUT_SECS` (60 s) is closed.
//! - **bodies**: read whole, before the request takes a worker slot, within
//!   `BODY_READ_TIMEOUT_SECS` (30 s), else `408` problem+json ([`request`]).
//! - **capacity**: `MAX_CONCURRENT_REQUESTS` requests run at once and at
//!   most `MAX_QUEUED_REQUESTS` wait for a slot; past that, `503 UNAVAILABLE`
//!   with `Retry-After` at once, and `/readyz` answers 503 for a second after
//!   ([`capacity`]).
//! - **requests**: a request that has not been answered
//!   `REQUEST_TIMEOUT_SECS` (15 s) after its body arrived is answered `503`.
//! - **shutdown**: when the stop signal comes the listener closes, idle
//!   connections close, in-flight requests finish; after `SHUTDOWN_DRAIN_SECS`
//!   (20 s) whatever is left is dropped and [`serve`] returns.
//!
//! Every timeout and refusal is counted (`http_timeouts_total{kind}`,
//! `http_connections_refused_total`, `http_requests_shed_total`,
//! `http_connections_open`).

pub mod capacity;
pub mod connection;
pub mod request;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::settings::{ConfigError, parse_in_range};

pub use capacity::Capacity;

/// The serving limits, from the environment (see the module documentation).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// `HEADER_READ_TIMEOUT_SECS` (10).
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT_SECS` (30).
    pub body_read_timeout: Duration,
    /// `KEEP_ALIVE_TIMEOUT_SECS` (60).
    pub keep_alive_timeout: Duration,
    /// `REQUEST_TIMEOUT_SECS` (15): from the body's arrival to the answer,
    /// waiting for a slot included.
    pub request_timeout: Duration,
    /// `MAX_CONNECTIONS` (10000) open at once.
    pub max_connections: usize,
    /// `MAX_CONCURRENT_REQUESTS` (256) handled at once.
    pub max_concurrent_requests: usize,
    /// `MAX_QUEUED_REQUESTS` (1024) waiting for a slot; beyond, shed.
    pub max_queued_requests: usize,
    /// `SHUTDOWN_DRAIN_SECS` (20): the longest a shutdown waits for
    /// in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for ServeSettings {
    /// The contract's timeouts and the documented defaults.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(15),
            max_connections: 10_000,
            max_concurrent_requests: 256,
            max_queued_requests: 1024,
            drain_timeout: Duration::from_secs(20),
        }
    }
}

impl ServeSettings {
    /// Read the settings; a bad value names its variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let secs = |name, default: Duration, max| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(parse_in_range(
                name,
                default.as_secs(),
                1,
                max,
            )?))
        };
        Ok(Self {
            header_read_timeout: secs("HEADER_READ_TIMEOUT_SECS", d.header_read_timeout, 600)?,
            body_read_timeout: secs("BODY_READ_TIMEOUT_SECS", d.body_read_timeout, 600)?,
            keep_alive_timeout: secs("KEEP_ALIVE_TIMEOUT_SECS", d.keep_alive_timeout, 3600)?,
            request_timeout: secs("REQUEST_TIMEOUT_SECS", d.request_timeout, 600)?,
            max_connections: parse_in_range("MAX_CONNECTIONS", d.max_connections, 1, 1_000_000)?,
            max_concurrent_requests: parse_in_range(
                "MAX_CONCURRENT_REQUESTS",
                d.max_concurrent_requests,
                1,
                100_000,
            )?,
            max_queued_requests: parse_in_range(
                "MAX_QUEUED_REQUESTS",
                d.max_queued_requests,
                0,
                1_000_000,
            )?,
            drain_timeout: secs("SHUTDOWN_DRAIN_SECS", d.drain_timeout, 600)?,
        })
    }
}

/// The serving limits of one process and its capacity state, shared by the
/// server loop, the request layers and `/readyz`.
pub struct Serving {
    pub settings: ServeSettings,
    pub capacity: Capacity,
}

impl Serving {
    pub fn new(settings: ServeSettings) -> Arc<Self> {
        Arc::new(Self {
            capacity: Capacity::new(
                settings.max_concurrent_requests,
                settings.max_queued_requests,
            ),
            settings,
        })
    }

    /// Whether the service shed a request within the last second: `/readyz`
    /// answers 503 then, so a load balancer sends traffic elsewhere.
    pub fn is_shedding(&self) -> bool {
        self.capacity.is_shedding()
    }
}

/// Serve `app` on `listener` until `stop` resolves, then drain for at most
/// `drain_timeout` and return. See the module documentation.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    serving: Arc<Serving>,
    stop: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    connection::accept_loop(listener, app, serving, stop).await
}
