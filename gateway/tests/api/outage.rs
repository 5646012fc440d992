//! Redis down: 503 UNAVAILABLE with Retry-After, then recovery without a restart.

use std::time::Duration;

use reqwest::StatusCode;
use shared::testing::TcpProxy;

use crate::helpers::{Config, spawn_app_with};

#[tokio::test]
async fn redis_outage_answers_503_with_retry_after_and_recovers_by_itself() {
    let redis_port = shared::testing::redis_url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{redis_port}")).await;
    let app = spawn_app_with(Config {
        redis_url: Some(format!("redis://127.0.0.1:{}", proxy.port())),
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let users = app.create_users(3).await;
    let ticket = app.join_ok(concert, users[0]).await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();

    proxy.cut();
    let (status, body) = app.join(concert, users[1]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("UNAVAILABLE")),
        "{body}"
    );
    let response = app
        .client
        .get(app.url(&format!("/v1/concerts/{concert}/queue/status")))
        .bearer_auth(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response.headers().get("retry-after").is_some(),
        "503 carries Retry-After"
    );
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let mut recovered = false;
    for _ in 0..40 {
        let (status, _) = app.join(concert, users[2]).await;
        if status == StatusCode::CREATED {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the gateway serves again once Redis is back");
    assert_eq!(
        app.poll(concert, &ticket).await.1["position"],
        1,
        "places survived the outage"
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
