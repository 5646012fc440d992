//! The `booking` binary.
//!
//! ```text
//! booking            serve the API (the default)
//! booking migrate    apply the database migrations and exit
//! booking seed       migrate, then add demo users and concerts (idempotent)
//! booking mint-sessions FIRST LAST
//!                    print a session token for each user id FIRST..=LAST, one
//!                    per line, signed with the session key (load tests)
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

const USAGE: &str = "usage: booking [serve | migrate | seed | mint-sessions FIRST LAST]";

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_logging();
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await.map(|_| ()),
        Some("seed") => seed().await,
        Some("mint-sessions") => mint_sessions(std::env::args().skip(2).collect()),
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

/// Sign session tokens for a range of user ids with the key booking uses
/// (`SESSION_PRIVATE_KEY_FILE`, or the one kept in `DATA_DIR`), so a load
/// test can act as many logged-in users without paying for many Argon2id
/// logins. Whoever holds the key can do this anyway; nothing is opened.
fn mint_sessions(args: Vec<String>) -> anyhow::Result<()> {
    use std::io::Write;
    let [first, last] = args.as_slice() else {
        anyhow::bail!("{USAGE}");
    };
    let parse = |s: &String| -> anyhow::Result<shared::ids::UserId> {
        let n: i64 = s
            .parse()
            .with_context(|| format!("{s:?} is not a user id"))?;
        shared::ids::UserId::new(n).map_err(anyhow::Error::msg)
    };
    let (first, last) = (parse(first)?.get(), parse(last)?.get());
    let settings = Settings::from_env()?;
    let signer = booking::sessions::load_signer(&settings)?;
    let issuer = booking::sessions::SessionIssuer::new(signer, settings.session_ttl);
    let now = shared::unix_now();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for id in first..=last {
        let user = shared::ids::UserId::new(id).map_err(anyhow::Error::msg)?;
        writeln!(out, "{}", issuer.issue(user, now).0)?;
    }
    out.flush()?;
    Ok(())
}
