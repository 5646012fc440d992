//! Building and running the gateway: `Application::build(settings)` →
//! `.port()` → `.run_until_stopped()`. Tests build the same thing on port 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tokio::net::TcpListener;

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
        let redis = shared::infra::connect_redis(
            &settings.redis_url,
            settings.redis_sentinel.as_ref(),
            Duration::from_secs(30),
        )
        .await
        .context("connecting to Redis (REDIS_URL, REDIS_SENTINELS)")?;
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
    /// in-flight requests, stop the ticker, and return.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state;
        let ticker = state
            .settings
            .run_ticker
            .then(|| tokio::spawn(ticker::run(state.clone())));
        let upkeep = tokio::spawn(crate::metrics::run_upkeep(state.clone()));
        tracing::info!(port = self.port, "gateway listening");
        axum::serve(self.listener, router(state.clone()))
            .with_graceful_shutdown(shared::http::shutdown_signal(state.shutdown.clone()))
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

/// Every route of the gateway with the standard middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(queue::router())
        .merge(tokens::router())
        .merge(web::router())
        .merge(shared::http::common_routes())
        .route("/readyz", get(health::readyz))
        .route(
            "/openapi.json",
            get(|| async { shared::http::json_document(include_str!("openapi.json")) }),
        )
        .layer(DefaultBodyLimit::max(shared::extract::MAX_BODY_BYTES))
        .with_state(state);
    shared::http::with_standard_layers(api)
}
