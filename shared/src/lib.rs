//! What the `gateway` and `booking` binaries share: the problem+json envelope
//! and extractors, identifier types, token signing and verification (with the
//! JWKS client), telemetry, HTTP plumbing and settings helpers.

pub mod batch;
pub mod cache;
pub mod extract;
pub mod http;
pub mod ids;
pub mod infra;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod redis_conn;
pub mod request_id;
pub mod serve;
pub mod sessions;
pub mod settings;
pub mod telemetry;
pub mod text;
pub mod tokens;

#[cfg(feature = "testing")]
pub mod testing;

pub use problem::{ErrorCode, Problem};

/// Seconds since the Unix epoch, the unit of token claims.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
