//! The `gateway` binary: configuration from the environment, then serve.

use anyhow::Context;
use gateway::{Application, Settings};

/// mimalloc instead of the system allocator: a request allocates many small
/// short-lived buffers, and glibc's malloc was a quarter of the CPU profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init_logging();
    let settings = Settings::from_env().context("reading configuration")?;
    let app = Application::build(settings).await?;
    app.run_until_stopped().await
}
