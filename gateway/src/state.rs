//! What every handler and the ticker share.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use shared::cache::{BoundedCache, Budget, bounded};
use shared::http::ShutdownFlag;
use shared::ids::ConcertId;
use shared::infra::RedisConnection;
use shared::sessions::{SessionKeys, SessionVerifier};
use shared::tokens::JwksClient;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::directory::Directory;
use crate::error::ApiResult;
use crate::keys::{self, QueueKeys};
use crate::queue::QueueCalls;
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
    /// Concerts this process already registered in `tq:concerts`, so only a
    /// concert's first join here pays the extra round trip.
    registered: Mutex<HashSet<ConcertId>>,
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
        Self(Arc::new(Inner {
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
            registered: Mutex::default(),
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

    /// Make sure the ticker knows `concert` has a queue.
    pub async fn register_concert(&self, concert: ConcertId) -> ApiResult<()> {
        let known = self
            .registered
            .lock()
            .map(|set| set.contains(&concert))
            .unwrap_or(false);
        if known {
            return Ok(());
        }
        let mut conn = self.redis.clone();
        let _: () = redis::cmd("SADD")
            .arg(keys::concerts_key(&self.settings.key_prefix))
            .arg(concert.get())
            .query_async(&mut conn)
            .await?;
        if let Ok(mut set) = self.registered.lock() {
            set.insert(concert);
        }
        Ok(())
    }
}
