//! Building and running the service: `Application::build(settings)` connects
//! to Postgres and Redis (running migrations if asked), binds the listener,
//! and `run_until_stopped` serves until SIGTERM, then drains in-flight
//! requests and stops the sweeper. Tests build the same thing on port 0.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderName, Method, header};
use secrecy::ExposeSecret;
use shared::http::{ShutdownFlag, common_routes, shutdown_signal, with_standard_layers};
use shared::infra::{connect_redis_with_timeout, postgres_pool};
use shared::openapi::Scheme;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::admission::Admission;
use crate::auth::{SessionAuth, TokenVerifier};
use crate::catalog::Catalog;
use crate::passwords::Passwords;
use crate::redis_gate::RedisGate;
use crate::seats::snapshot::SeatMaps;
use crate::sessions::SessionIssuer;
use crate::settings::{CorsOrigins, Settings};
use crate::state::{AppState, Inner};
use crate::{
    admin, audit, balance, concerts, health, metrics, payments, reservations, seats, sessions,
    sweeper,
};
use shared::limits::Limits;
use shared::serve::Serving;
use shared::sessions::{SessionKeys, SessionVerifier};
use shared::tokens::{IdentityPolicy, KeySet};

/// The schema, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long start-up waits for Redis and Postgres to come up.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on BOOKING_ADDR={}", settings.addr))?;
        Self::build_on(settings, listener).await
    }

    /// Build on a listener the caller already bound (`settings.addr` is
    /// then unused): lets a test know booking's address before it starts.
    pub async fn build_on(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        // Install the recorder before anything counts.
        let _ = shared::telemetry::metrics_handle();
        let db = postgres_pool(
            settings.database_url.expose_secret(),
            settings.database_max_connections,
        )
        .context("DATABASE_URL is not a valid Postgres URL")?;
        if settings.run_migrations {
            migrate(&db).await?;
        }
        let conn = connect_redis_with_timeout(
            settings.redis_url.expose_secret(),
            &settings.redis_topology,
            STARTUP_PATIENCE,
            settings.redis_timeout,
        )
        .await
        .context("cannot connect to Redis (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES)")?;
        let redis = RedisGate::new(conn.clone(), settings.redis_key_prefix.clone());
        let limits = Arc::new(Limits::new(
            &settings.limits,
            conn.clone(),
            &settings.redis_key_prefix,
        ));
        let serving = Serving::new(settings.serve.clone());
        let port = listener.local_addr()?.port();
        let signer = sessions::load_signer(&settings)
            .context("loading the session signing key (SESSION_PRIVATE_KEY_FILE or DATA_DIR)")?;
        tracing::info!(kid = signer.kid(), "signing session tokens with this key");
        let keys = Arc::new(KeySet::new([signer.verifying_key()]));
        let sessions = SessionAuth {
            verifier: SessionVerifier::new(
                SessionKeys::Local(Arc::clone(&keys)),
                IdentityPolicy::default(),
                conn,
                db.clone(),
                settings.redis_key_prefix.clone(),
                crate::auth::SESSION_TOKEN_CACHE,
            ),
            keys,
        };
        let passwords = tokio::task::spawn_blocking(Passwords::new)
            .await
            .context("preparing the password hasher")?;
        let state = AppState::new(Inner {
            sessions: Arc::new(sessions),
            issuer: Arc::new(SessionIssuer::new(signer, settings.session_ttl)),
            passwords,
            tokens: Arc::new(TokenVerifier::new(&settings.jwks_url)),
            admission: Arc::new(Admission::new(redis.clone(), db.clone())),
            catalog: Arc::new(Catalog::new(db.clone())),
            seat_maps: Arc::new(SeatMaps::new(db.clone())),
            db,
            redis,
            settings: Arc::new(settings),
            shutdown: ShutdownFlag::default(),
            limits,
            serving,
        });
        Ok(Self {
            listener,
            port,
            state,
        })
    }

    /// The router this application serves (every route, with its layers),
    /// without serving it.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until SIGTERM or Ctrl-C, then drain.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let flag = self.state.shutdown.clone();
        self.run_until(shutdown_signal(flag)).await
    }

    /// Serve until `stop` resolves, then drain in-flight requests for at most
    /// `SHUTDOWN_DRAIN_SECS` (`/readyz` answers 503 from that moment) and stop the background tasks (sweeper,
    /// invariant audit, metrics upkeep).
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_sweeper, sweeper_stopped) = tokio::sync::watch::channel(false);
        let sweeper = tokio::spawn(sweeper::run(
            self.state.db.clone(),
            self.state.settings.sweep_interval,
            sweeper_stopped,
        ));
        let audit = tokio::spawn(audit::run(
            self.state.db.clone(),
            self.state.settings.audit_interval,
            stop_sweeper.subscribe(),
        ));
        let upkeep = tokio::spawn(metrics::run_upkeep(
            self.state.clone(),
            stop_sweeper.subscribe(),
        ));
        let flag = self.state.shutdown.clone();
        let serving = Arc::clone(&self.state.serving);
        let app = router(self.state);
        tracing::info!(port = self.port, "booking is listening");
        let served = shared::serve::serve(self.listener, app, serving, async move {
            stop.await;
            flag.trigger();
        })
        .await;
        let _ = stop_sweeper.send(true);
        let _ = sweeper.await;
        let _ = audit.await;
        let _ = upkeep.await;
        served.context("the HTTP server failed")
    }
}

/// Apply the migrations, waiting for Postgres for a while at start.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
    loop {
        match MIGRATOR.run(db).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::Execute(e))
                if shared::infra::pg_is_unavailable(&e)
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "Postgres is not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("running the database migrations"),
        }
    }
}

/// The head of booking's OpenAPI document; the paths come from the
/// handlers registered in [`router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Booking service",
        description = "The store of the concert-ticketing product and its identity provider: \
            log-in sessions, concerts, schedules and seats, seat holds, a prepaid KRW balance \
            with a ledger, and payments. Every error is `application/problem+json` (RFC 9457) \
            with a stable `code`; checks run in the order 401, 400, 404, 403, 409/422 (admin \
            endpoints check the admin token first). Every route may answer `429 RATE_LIMITED` \
            and `503 UNAVAILABLE`, both with `Retry-After`.\n\n\
            *Admitted* endpoints need an access token for the concert concerned whose ticket is \
            still in the concert's active set. *User* endpoints accept a session token or an \
            access token whose `sub` is the user concerned. Queue tickets are never accepted."
    ),
    tags(
        (name = "sessions", description = "Logging in and out; the session keys"),
        (name = "catalog", description = "Concerts, schedules and seat maps"),
        (name = "reservations", description = "Seat holds"),
        (name = "payments", description = "Paying for holds from the balance"),
        (name = "balance", description = "The prepaid balance and its ledger"),
        (name = "admin", description = "Creating users and concerts (`ADMIN_TOKEN`)"),
        (name = "operations", description = "Probes, metrics and this document"),
    )
)]
struct ApiDoc;

/// Every route, the standard layers, and CORS; the OpenAPI document
/// generated from the routes is served at `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.settings.cors_allowed_origins);
    let (serving, addresses) = (
        Arc::clone(&state.serving),
        Arc::clone(&state.limits.address),
    );
    // Probes and metrics take no slot and no budget (`shared::serve`).
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(concerts::router())
        .merge(seats::router())
        .merge(reservations::router())
        .merge(payments::router(state.settings.max_seats_per_user))
        .merge(balance::router())
        .merge(admin::router())
        .merge(sessions::router())
        .merge(health::router())
        .merge(common_routes());
    let schemes = [Scheme::Session, Scheme::Access, Scheme::Admin];
    let routes = shared::openapi::serve(routes, &schemes).with_state(state);
    with_standard_layers(routes, &serving, &addresses, Some(cors))
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600));
    match origins {
        CorsOrigins::Any => layer.allow_origin(Any),
        CorsOrigins::List(list) => layer.allow_origin(AllowOrigin::list(list.iter().cloned())),
    }
}
