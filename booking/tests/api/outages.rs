//! Redis or Postgres unreachable: `503 UNAVAILABLE` with `Retry-After`,
//! nothing half-written, and recovery without a restart. The outage is a
//! proxy cut between the service and the shared test servers.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use shared::testing::{postgres_server_url, redis_url};

use crate::helpers::{Options, TestApp, assert_problem, proxy_to, spawn_app_with};

async fn assert_unavailable(response: Response) {
    let retry_after = response.headers().get("retry-after").cloned();
    assert_problem(response, 503, "UNAVAILABLE").await;
    assert!(retry_after.is_some(), "503 carries Retry-After");
}

/// Retry `attempt` until it stops answering 503 (the service recovered).
async fn recovered<F, Fut>(mut attempt: F) -> Response
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    for _ in 0..40 {
        let response = attempt().await;
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the service did not recover");
}

async fn ready(app: &TestApp) -> StatusCode {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_postgres_outage_is_503_and_leaves_nothing_half_written() {
    let proxy = proxy_to(&postgres_server_url()).await;
    let app = spawn_app_with(Options {
        postgres_proxy: Some(proxy.port()),
        ..Options::default()
    })
    .await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(users[0], 50_000).await;
    let first = app.admit(users[0], concert).await;
    let held = app.hold_ok(&first.token, schedule, 2).await;

    proxy.cut();
    assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    // The schedule is cached, so this hold wins its Redis lock before
    // Postgres fails; the lock must be given back.
    assert_unavailable(app.hold_seat(&first.token, schedule, 1).await).await;
    assert_unavailable(app.pay(&first.token, &held, None).await).await;
    assert_unavailable(app.charge(&app.session(users[0]), users[0], 5, None).await).await;

    proxy.restore();
    let second = app.admit(users[1], concert).await;
    let retried = recovered(|| app.hold_seat(&second.token, schedule, 1)).await;
    assert_eq!(
        retried.status(),
        StatusCode::CREATED,
        "seat 1 was not left locked"
    );
    assert_eq!(ready(&app).await, StatusCode::OK);
    assert_eq!(app.balance_of(users[0]).await, 50_000);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    assert_eq!(
        app.pay(&first.token, &held, None).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.ledger_total(users[0]).await, 40_000);
}

#[tokio::test]
async fn a_redis_outage_is_503_and_recovers() {
    let proxy = proxy_to(&redis_url()).await;
    let app = spawn_app_with(Options {
        redis_proxy: Some(proxy.port()),
        ..Options::default()
    })
    .await;
    let user = app.create_user("Patient").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(user, 50_000).await;
    let first = app.admit(user, concert).await;
    let held = app.hold_ok(&first.token, schedule, 3).await;
    // A token the service has never checked: its admission needs Redis.
    let fresh = app.admit(user, concert).await;

    proxy.cut();
    assert_unavailable(app.hold_seat(&fresh.token, schedule, 4).await).await;
    // Whether a session was revoked is known only to Redis: refused with
    // 503, never accepted unchecked.
    assert_unavailable(app.pay(&app.session(user), &held, None).await).await;
    assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.balance_of(user).await, 50_000);
    assert_eq!(app.count("SELECT count(*) FROM reservations").await, 1);

    proxy.restore();
    let retried = recovered(|| app.hold_seat(&fresh.token, schedule, 4)).await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert_eq!(ready(&app).await, StatusCode::OK);
}

#[tokio::test]
async fn a_payment_stands_when_redis_fails_after_the_commit() {
    let proxy = proxy_to(&redis_url()).await;
    let app = spawn_app_with(Options {
        redis_proxy: Some(proxy.port()),
        ..Options::default()
    })
    .await;
    let user = app.create_user("Lucky").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(user, 50_000).await;
    let access = app.admit(user, concert).await;
    // Holding checks admission, which is then remembered for a second.
    let held = app.hold_ok(&access.token, schedule, 5).await;

    proxy.cut();
    let paid = app.pay(&access.token, &held, None).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert_eq!(app.balance_of(user).await, 40_000);
    assert_eq!(app.ledger_total(user).await, 40_000);
    proxy.restore();
}
