//! What every handler and the ticker share.

use std::sync::Arc;

use shared::cache::{BoundedCache, Budget, bounded};
use shared::http::ShutdownFlag;
use shared::ids::ConcertId;
use shared::infra::RedisConnection;
use shared::limits::Limits;
use shared::serve::Serving;
use shared::sessions::{SessionKeys, SessionVerifier};
use shared::tokens::JwksClient;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::directory::Directory;
use crate::keys::QueueKeys;
use crate::queue::QueueCalls;
use crate::recovery::Recoveries;
use crate::settings::Settings;
use crate::tokens::TokenService;

/// Size of the cache of key names: one entry per concert with a queue
/// (ten key names each), 10,000 concerts in at most 16 MiB.
pub const QUEUE_KEYS_CACHE: Budget = Budget::mib(10_000, 16);

/// Cloned for every request, so it is one `Arc`: a clone is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct Inner {
    pub settings: Arc<Settings>,
    /// One multiplexed connection: every request pipelines onto it.
    pub redis: RedisConnection,
    pub db: PgPool,
    pub directory: Directory,
    /// Polls and joins, batched into script calls per concert.
    pub queue: QueueCalls,
    pub tokens: TokenService,
    /// Session tokens of the identity provider (`IDENTITY_JWKS_URL`), with
    /// revocation checked in Redis.
    pub sessions: SessionVerifier,
    pub clock: Arc<dyn Clock>,
    pub shutdown: ShutdownFlag,
    /// The rate limits (API.md, Limits).
    pub limits: Limits,
    /// Serving limits and load-shedding state (`/readyz` reads it).
    pub serving: Arc<Serving>,
    /// Queues this process rebuilt after Redis lost them (for `/readyz`).
    pub recoveries: Recoveries,
    /// The draw seed and base of concerts with a scheduled opening (they
    /// never change once picked), for numbering pre-queue joins
    /// ([`crate::draw`]).
    pub draws: BoundedCache<ConcertId, Arc<(String, i64)>>,
    /// When this process last counted each concert's seats
    /// ([`crate::availability`]).
    pub seat_checks: BoundedCache<ConcertId, i64>,
    queue_keys: BoundedCache<ConcertId, Arc<QueueKeys>>,
}

impl AppState {
    pub fn new(
        settings: Arc<Settings>,
        redis: RedisConnection,
        db: PgPool,
        tokens: TokenService,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let idle_ms = i64::try_from(settings.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        let sessions = SessionVerifier::new(
            SessionKeys::Remote(JwksClient::new(settings.identity_jwks_url.clone())),
            settings.identity.clone(),
            redis.clone(),
            db.clone(),
            settings.key_prefix.clone(),
            crate::tokens::SESSION_CACHE,
        );
        let limits = Limits::new(&settings.limits, redis.clone(), &settings.key_prefix);
        let serving = Serving::new(settings.serve.clone());
        Self(Arc::new(Inner {
            limits,
            serving,
            sessions,
            directory: Directory::new(db.clone(), redis.clone(), &settings.key_prefix),
            queue: QueueCalls::new(
                redis.clone(),
                settings.key_prefix.clone(),
                Arc::clone(&clock),
                idle_ms,
            ),
            settings,
            redis,
            db,
            tokens,
            clock,
            shutdown: ShutdownFlag::default(),
            recoveries: Recoveries::default(),
            draws: bounded(QUEUE_KEYS_CACHE),
            seat_checks: bounded(QUEUE_KEYS_CACHE),
            queue_keys: bounded(QUEUE_KEYS_CACHE),
        }))
    }
}

impl Inner {
    /// The key names of a concert's queue (built once per concert).
    pub fn queue_keys(&self, concert: ConcertId) -> Arc<QueueKeys> {
        self.queue_keys
            .get_or_insert_with(&concert, || {
                Ok::<_, std::convert::Infallible>(Arc::new(QueueKeys::new(
                    &self.settings.key_prefix,
                    concert,
                )))
            })
            .unwrap_or_else(|never| match never {})
    }
}
