//! The gateway's rate limits (API.md, Limits): per client address, per user
//! (joins), per ticket (polls).

use reqwest::StatusCode;
use shared::limits::RateLimitSettings;

use crate::helpers::{Config, spawn_app_with};

fn with_limits(limits: RateLimitSettings) -> Config {
    Config {
        limits,
        ..Config::default()
    }
}

#[tokio::test]
async fn polling_one_ticket_faster_than_four_per_second_is_refused() {
    let app = spawn_app_with(Config::default()).await;
    let concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    let ticket = app.join_ok(concert, user).await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut refused = None;
    for _ in 0..40 {
        let (status, body) = app.poll(concert, &ticket).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let body = refused.expect("40 polls in a row were never limited");
    assert_eq!(body["code"], "RATE_LIMITED");
    // Another waiter's ticket has its own budget.
    let other = app.create_users(1).await[0];
    let other_ticket = app.join_ok(concert, other).await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.poll(concert, &other_ticket).await.0, StatusCode::OK);
}

#[tokio::test]
async fn one_users_joins_share_one_budget() {
    let app = spawn_app_with(with_limits(RateLimitSettings {
        user_per_min: 3,
        ..RateLimitSettings::default()
    }))
    .await;
    let user = app.create_users(1).await[0];
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let concert = app.create_concert().await;
        statuses.push(app.join(concert, user).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn anonymous_bursts_from_one_address_are_refused_with_retry_after() {
    let app = spawn_app_with(with_limits(RateLimitSettings {
        ip_per_sec: 5,
        ..RateLimitSettings::default()
    }))
    .await;
    let concert = app.create_concert().await;
    let url = app.url(&format!("/v1/concerts/{concert}/queue"));
    let mut refused = None;
    for _ in 0..60 {
        let response = app.client.get(&url).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = refused.expect("60 requests in a burst were never limited");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // Probes are never limited.
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
}
