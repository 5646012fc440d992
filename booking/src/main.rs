//! The `booking` binary.
//!
//! ```text
//! booking            serve the API (the default)
//! booking migrate    apply the database migrations and exit
//! booking seed       migrate, then add demo users and concerts (idempotent)
//! ```
//!
//! Configuration comes from the environment (see `Settings`).

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request allocates many small
/// short-lived buffers, and glibc's malloc was a quarter of the CPU profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use booking::{Application, Settings};
use secrecy::ExposeSecret;

const USAGE: &str = "usage: booking [serve | migrate | seed]";

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_logging();
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await.map(|_| ()),
        Some("seed") => seed().await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!("booking: unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "booking stopped with an error");
            eprintln!("booking: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

async fn migrate() -> anyhow::Result<sqlx::PgPool> {
    let settings = Settings::from_env()?;
    let db = shared::infra::postgres_pool(settings.database_url.expose_secret(), 2)
        .context("DATABASE_URL is not a valid Postgres URL")?;
    booking::startup::migrate(&db).await?;
    tracing::info!("migrations applied");
    Ok(db)
}

async fn seed() -> anyhow::Result<()> {
    let db = migrate().await?;
    let report = booking::seed::seed(&db).await?;
    tracing::info!(
        users_created = report.users_created,
        concerts_created = report.concerts_created,
        "demo data seeded"
    );
    Ok(())
}
