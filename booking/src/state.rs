//! The state every handler shares: pools, the Redis gate, the token verifier,
//! caches and settings. Cloning it is one reference count: axum clones the
//! state for every request (and every extractor that takes it).

use std::sync::Arc;

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

/// A shared handle on [`Inner`]; it dereferences to it.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Inner {
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
