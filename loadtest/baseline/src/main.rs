//! The yardsticks every load-test figure is divided by, measured in the same
//! run as the services:
//!
//! - `GET /` — a bare axum handler answering `ok`;
//! - `POST /hold/{schedule}/{seat}` (when `BASELINE_DATABASE_URL` is set) — the
//!   least a seat hold can do: one conditional `UPDATE … WHERE free RETURNING`
//!   on a table `bench_seats (schedule_id, seat_number, holder)` that the
//!   load-test runner creates. No auth, no Redis, no ledger.
//!
//! `BASELINE_ADDR` (default `127.0.0.1:8090`) is where it listens.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use sqlx::PgPool;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("BASELINE_ADDR").unwrap_or_else(|_| "127.0.0.1:8090".to_owned());
    let mut app = Router::new().route("/", get(|| async { "ok" }));
    if let Ok(url) = std::env::var("BASELINE_DATABASE_URL") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(32)
            .connect_lazy(&url)
            .map_err(std::io::Error::other)?;
        app = app.merge(
            Router::new()
                .route("/hold/{schedule}/{seat}", post(hold))
                .with_state(pool),
        );
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}

async fn hold(State(db): State<PgPool>, Path((schedule, seat)): Path<(i64, i32)>) -> StatusCode {
    let won: Result<Option<i32>, sqlx::Error> = sqlx::query_scalar(
        "UPDATE bench_seats SET holder = 1 WHERE schedule_id = $1 AND seat_number = $2 AND holder IS NULL RETURNING seat_number",
    )
    .bind(schedule)
    .bind(seat)
    .fetch_optional(&db)
    .await;
    match won {
        Ok(Some(_)) => StatusCode::CREATED,
        Ok(None) => StatusCode::CONFLICT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}
