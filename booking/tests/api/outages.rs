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

/// Redis runs a hold's lock script only after the hold has given up (its
/// command timed out: `503`). The lock is taken then, with no hold behind
/// it; the release the hold sent after it, on the same connection, deletes
/// it, so the next fan can hold the seat at once instead of after the hold
/// time.
#[tokio::test]
async fn a_seat_lock_taken_after_its_hold_timed_out_is_given_back() {
    let proxy = proxy_to(&redis_url()).await;
    let app = spawn_app_with(Options {
        redis_proxy: Some(proxy.port()),
        redis_timeout: Duration::from_millis(500),
        ..Options::default()
    })
    .await;
    let (late, next) = (app.create_user("Late").await, app.create_user("Next").await);
    let (concert, schedule) = app.create_concert(10_000).await;
    let late_access = app.admit(late, concert).await;
    let next_access = app.admit(next, concert).await;
    // The script is in Redis's cache, so the hold sends it as one EVALSHA.
    let lock_script = redis::Script::new(include_str!("../../src/lua/lock_seat.lua"));
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(include_str!("../../src/lua/lock_seat.lua"))
        .query_async(&mut app.redis.clone())
        .await
        .unwrap();

    // On a loaded machine an earlier command of the hold may time out
    // first: then the lock was never sent, and the hold is tried again.
    let mut attempts = 0;
    let answer = loop {
        attempts += 1;
        proxy.stall_on(lock_script.get_hash().as_bytes());
        let answer = app.hold_seat(&late_access.token, schedule, 6).await;
        if proxy.stalled() || attempts == 5 {
            break answer;
        }
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    };
    assert!(proxy.stalled(), "the lock script was held back");
    assert_unavailable(answer).await;
    proxy.resume();

    let lock = app.seat_lock_key(schedule, 6);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let exists: bool = redis::cmd("EXISTS")
            .arg(&lock)
            .query_async(&mut app.redis.clone())
            .await
            .unwrap();
        if !exists {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late lock of seat 6 is still there 10 s after Redis ran it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = app.hold_seat(&next_access.token, schedule, 6).await;
    assert_eq!(held.status(), StatusCode::CREATED);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM reservations WHERE user_id = {late}"
        ))
        .await,
        0
    );
}
