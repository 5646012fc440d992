//! The state every handler shares: pools, the Redis gate, the token verifier,
//! caches and settings. Cloning it is cheap (handles and `Arc`s).

use std::sync::Arc;

use axum::extract::FromRef;
use shared::http::ShutdownFlag;
use sqlx::PgPool;

use crate::auth::TokenVerifier;
use crate::auth::admission::Admission;
use crate::catalog::Catalog;
use crate::redis_gate::RedisGate;
use crate::settings::Settings;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub redis: RedisGate,
    pub settings: Arc<Settings>,
    pub tokens: Arc<TokenVerifier>,
    pub admission: Arc<Admission>,
    pub catalog: Arc<Catalog>,
    pub shutdown: ShutdownFlag,
}
