//! The state every handler shares: pools, the Redis gate, the token verifier,
//! caches and settings. Cloning it is cheap (handles and `Arc`s).

use std::sync::Arc;

use axum::extract::FromRef;
use shared::http::ShutdownFlag;
use shared::limits::Limits;
use shared::serve::Serving;
use sqlx::PgPool;

use crate::auth::admission::Admission;
use crate::auth::{SessionAuth, TokenVerifier};
use crate::catalog::Catalog;
use crate::passwords::Passwords;
use crate::redis_gate::RedisGate;
use crate::seats::snapshot::SeatMaps;
use crate::sessions::SessionIssuer;
use crate::settings::Settings;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub redis: RedisGate,
    pub settings: Arc<Settings>,
    /// The gateway's access tokens.
    pub tokens: Arc<TokenVerifier>,
    /// Booking's own session tokens: keys and verifier (with revocation).
    pub sessions: Arc<SessionAuth>,
    /// Signs session tokens at login and publishes their JWKS.
    pub issuer: Arc<SessionIssuer>,
    pub passwords: Passwords,
    pub admission: Arc<Admission>,
    pub catalog: Arc<Catalog>,
    /// The seat maps' snapshots (`seats::snapshot`).
    pub seat_maps: Arc<SeatMaps>,
    pub shutdown: ShutdownFlag,
    /// The rate limits (API.md, Limits).
    pub limits: Arc<Limits>,
    /// Serving limits and load-shedding state (`/readyz` reads it).
    pub serving: Arc<Serving>,
}
