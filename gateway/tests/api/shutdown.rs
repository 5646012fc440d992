//! The real binary: configured from the environment, ready once Redis and
//! the schema answer, and on SIGTERM it stops being ready, drains, exits 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::migrations_dir;

#[tokio::test]
async fn the_binary_serves_and_exits_zero_on_sigterm() {
    let (db_url, _db) = shared::testing::fresh_database(&migrations_dir()).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data_dir =
        std::env::temp_dir().join(format!("gateway-bin-{}", uuid::Uuid::new_v4().simple()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env("GATEWAY_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &db_url)
        .env("REDIS_URL", shared::testing::redis_url())
        .env("REDIS_KEY_PREFIX", shared::testing::random_prefix())
        .env("DATA_DIR", &data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the gateway binary starts");
    let client = reqwest::Client::new();
    let ready_url = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(&ready_url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the gateway became ready");
    let jwks = client
        .get(format!("http://127.0.0.1:{port}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert!(jwks.status().is_success());
    assert!(
        data_dir.join("jwt-ed25519.pem").exists(),
        "the generated key is kept in DATA_DIR"
    );

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM ends the process cleanly");
    let _ = std::fs::remove_dir_all(data_dir);
}
