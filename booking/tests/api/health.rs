//! Liveness, readiness, metrics, the API description and CORS.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn probes_metrics_and_the_api_description_answer() {
    let app = spawn_app().await;
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    let readyz = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), StatusCode::OK);

    let user = app.create_user("Metered").await;
    let (concert, schedule) = app.create_concert(1_000).await;
    let access = app.admit(user, concert).await;
    app.hold_ok(&access.token, schedule, 1).await;
    assert_problem(
        app.hold_seat(&access.token, schedule, 1).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("holds_total{outcome=\"won\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("holds_total{outcome=\"lost_redis\"}"),
        "{metrics}"
    );

    let openapi: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(openapi["paths"]["/v1/payments"]["post"].is_object());
}

#[tokio::test]
async fn the_gateway_origin_may_call_the_api_from_a_browser() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/reservations"))
        .header("origin", "http://127.0.0.1:8080")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://127.0.0.1:8080"
    );
    let foreign = app
        .client
        .get(app.url("/v1/concerts"))
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn the_binary_drains_and_exits_cleanly_on_sigterm() {
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let (database_url, _db) = shared::testing::fresh_database(&migrations).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_booking"))
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", shared::testing::redis_url())
        .env("REDIS_KEY_PREFIX", shared::testing::random_prefix())
        .env("BOOKING_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the booking binary starts");
    let client = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(&readyz)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the binary became ready");

    let pid = child.id().expect("a running child").to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .expect("the binary stops after SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}
