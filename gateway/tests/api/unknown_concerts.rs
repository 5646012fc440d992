//! Unknown concert ids are remembered briefly, so repeating one costs no
//! Postgres query (API.md, Limits), while a concert created through booking
//! is found at once (`booking/tests/end_to_end.rs`).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Config, spawn_app_with};

#[tokio::test]
async fn an_unknown_concert_id_asked_again_is_answered_without_postgres() {
    let app = spawn_app_with(Config {
        postgres_proxy: true,
        ..Config::default()
    })
    .await;
    let known = app.create_concert().await;
    let unknown = known + 1_000;
    let get = |concert: i64| {
        app.client
            .get(app.url(&format!("/v1/concerts/{concert}/queue")))
            .send()
    };
    assert_eq!(get(known).await.unwrap().status(), StatusCode::OK);
    let first = get(unknown).await.unwrap();
    assert_eq!(first.status(), StatusCode::NOT_FOUND);

    // With Postgres out of reach, a query would be a 503: both answers come
    // from the cache.
    let proxy = app.postgres_proxy.as_ref().expect("a proxy");
    proxy.cut();
    let again = get(unknown).await.unwrap();
    let status = again.status();
    let body: Value = again.json().await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "CONCERT_NOT_FOUND");
    assert_eq!(get(known).await.unwrap().status(), StatusCode::OK);
    proxy.restore();
}
