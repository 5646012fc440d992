//! Building and running the gateway: `Application::build(settings)` →
//! `.port()` → `.run_until_stopped()`. Tests build the same thing on port 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use shared::openapi::Scheme;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::{Clock, SystemClock};
use crate::settings::Settings;
use crate::state::AppState;
use crate::tokens::TokenService;
use crate::{health, queue, ticker, tokens, web};

pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Build with a given clock (tests move time by hand).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        // Install the recorder before anything counts.
        let _ = shared::telemetry::metrics_handle();
        let tokens = TokenService::from_settings(&settings).context("loading the signing key")?;
        let redis = shared::infra::connect_redis_with_timeout(
            &settings.redis_url,
            &settings.redis_topology,
            Duration::from_secs(30),
            settings.redis_timeout,
        )
        .await
        .context("connecting to Redis (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES)")?;
        let db = shared::infra::postgres_pool(&settings.database_url, settings.db_pool_size)
            .context("DATABASE_URL is not a valid Postgres URL")?;
        let listener = TcpListener::bind(&settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(Arc::new(settings), redis, db, tokens, clock);
        Ok(Self {
            listener,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until SIGTERM/Ctrl-C, then stop taking new connections, finish
    /// in-flight requests (for at most `SHUTDOWN_DRAIN_SECS`), stop the
    /// ticker, and return.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state;
        let ticker = state
            .settings
            .run_ticker
            .then(|| tokio::spawn(ticker::run(state.clone())));
        let upkeep = tokio::spawn(crate::metrics::run_upkeep(state.clone()));
        tracing::info!(port = self.port, "gateway listening");
        shared::serve::serve(
            self.listener,
            router(state.clone()),
            Arc::clone(&state.serving),
            shared::http::shutdown_signal(state.shutdown.clone()),
        )
        .await
        .context("serving HTTP")?;
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        upkeep.abort();
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// The head of the gateway's OpenAPI document; the paths come from the
/// handlers registered in [`router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ticketing gateway (waiting room)",
        description = "Per-concert FIFO waiting queues, admission into an active set, and signed \
            queue tickets and access tokens (EdDSA JWS, public keys at `/.well-known/jwks.json`). \
            Every non-2xx answer is `application/problem+json` (RFC 9457) with a stable `code`; \
            checks run in the order 401, 400, 404, 403, 409. Every route may answer \
            `429 RATE_LIMITED` and `503 UNAVAILABLE`, both with `Retry-After`."
    ),
    tags(
        (name = "queue", description = "Joining, polling and leaving a concert's queue"),
        (name = "admin", description = "Operator settings (`ADMIN_TOKEN`)"),
        (name = "tokens", description = "Public keys of the gateway's tokens"),
        (name = "pages", description = "The fan pages"),
        (name = "operations", description = "Probes, metrics and this document"),
    )
)]
struct ApiDoc;

/// Every route of the gateway with the standard middleware, and the
/// OpenAPI document generated from them at `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let documented = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(queue::router())
        .merge(tokens::router())
        .merge(web::router())
        .merge(shared::http::common_routes())
        .routes(routes!(health::readyz));
    let schemes = [
        Scheme::Session,
        Scheme::QueueTicket,
        Scheme::Access,
        Scheme::Admin,
    ];
    let api = shared::openapi::serve(documented, &schemes)
        .layer(DefaultBodyLimit::max(shared::extract::MAX_BODY_BYTES))
        .with_state(state.clone());
    shared::http::with_standard_layers(api, &state.serving, &state.limits.address, None)
}
