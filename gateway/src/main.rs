//! The `gateway` binary: configuration from the environment, then serve.

use anyhow::Context;
use gateway::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init_logging();
    let settings = Settings::from_env().context("reading configuration")?;
    let app = Application::build(settings).await?;
    app.run_until_stopped().await
}
