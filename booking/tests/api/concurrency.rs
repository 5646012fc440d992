//! The invariants under load: one winner per seat, one debit per
//! reservation, and a ledger that always adds up to the balance.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use shared::limits::RateLimitSettings;
use shared::serve::ServeSettings;
use tokio::task::JoinSet;

use crate::helpers::{Options, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_users_racing_for_fifty_seats_get_exactly_fifty() {
    // All 2,000 holds are sent at once: more than the default wait queue,
    // which would shed some with 503 (by design, tested in `serving`), and
    // one address's burst. This test is about the seats.
    let app = spawn_app_with(without_rate_limits()).await;
    let (concert, schedule) = app.create_concert(50_000).await;
    let users = app.create_users(2000).await;
    let mut tokens = Vec::with_capacity(users.len());
    for user in &users {
        tokens.push(app.admit(*user, concert).await.token);
    }

    fetch_the_gateway_keys(&app, &tokens[0]).await;

    let mut requests = JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (client, url) = (app.client.clone(), app.url("/v1/reservations"));
        let seat = (i % 50) + 1;
        requests.spawn(async move {
            let body = serde_json::json!({ "schedule_id": schedule, "seat_number": seat });
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        });
    }
    let mut statuses = Vec::new();
    while let Some(done) = requests.join_next().await {
        statuses.push(done.unwrap().expect("every request is answered"));
    }
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(won, 50);
    assert_eq!(refused, 1950, "every other answer is 409: {statuses:?}");

    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT seat_number, user_id FROM reservations WHERE schedule_id = $1 AND status = 'held'",
    )
    .bind(schedule)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 50);
    assert_eq!(
        rows.iter()
            .map(|(seat, _)| seat)
            .collect::<HashSet<_>>()
            .len(),
        50
    );
    assert_eq!(
        rows.iter()
            .map(|(_, user)| user)
            .collect::<HashSet<_>>()
            .len(),
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_requests_for_one_seat_have_one_winner() {
    let app = spawn_app_with(Options {
        serve: race_capacity(),
        ..Options::default()
    })
    .await;
    let (concert, schedule) = app.create_concert(50_000).await;
    let users = app.create_users(500).await;
    let mut tokens = Vec::new();
    for user in &users {
        tokens.push(app.admit(*user, concert).await.token);
    }
    fetch_the_gateway_keys(&app, &tokens[0]).await;
    let attempts = tokens
        .iter()
        .map(|token| app.hold_seat(token, schedule, 25));
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        499,
        "{statuses:?}"
    );
    let live = app
        .count(&format!(
            "SELECT count(*) FROM reservations WHERE schedule_id = {schedule} AND status = 'held'"
        ))
        .await;
    assert_eq!(live, 1);
}

/// Have the service fetch the gateway's keys (JWKS) before a burst, with a
/// read of a reservation that does not exist (`404`: the access token was
/// verified). The service fetches them on first use; the test's key server
/// runs in the test process, which the burst itself keeps busy, so a fetch
/// during the burst could miss its 2 s timeout and answer `503` (the
/// contract's answer when the keys cannot be fetched), which is not what
/// these tests are about.
async fn fetch_the_gateway_keys(app: &crate::helpers::TestApp, token: &str) {
    let read = app
        .get(
            "/v1/reservations/00000000-0000-0000-0000-000000000000",
            token,
        )
        .await;
    assert_eq!(read.status(), StatusCode::NOT_FOUND);
}

/// One user sending a hundred writes at once is over the per-user budget by
/// design; these tests are about concurrency, so that limit is off here.
fn without_rate_limits() -> Options {
    Options {
        limits: RateLimitSettings::off(),
        serve: race_capacity(),
        ..Options::default()
    }
}

/// The serving capacity of the race tests: every request of a burst waits
/// for a slot (none is shed; shedding is tested in `serving`), and few run at
/// once. A Redis reply is read only when the process gets the CPU: with the
/// default 256 requests running at once in an unoptimised build, beside the
/// test's own 2,000 clients and the other race tests on two busy cores,
/// replies waited longer than `REDIS_TIMEOUT` (1.5 s) and those requests
/// answered 503 (API.md allows it under overload, but these tests are about
/// who wins a seat, not about overload). 16 at once keeps a reply's wait
/// short (the services under test also allow `TEST_REDIS_TIMEOUT` for the
/// burst's first moments, when 2,000 connections open at once); the burst
/// still races, since 16 requests for one seat are in flight together.
fn race_capacity() -> ServeSettings {
    ServeSettings {
        max_concurrent_requests: 16,
        max_queued_requests: 4096,
        request_timeout: Duration::from_secs(300),
        ..ServeSettings::default()
    }
}

async fn concurrent_payments_debit_once(same_key: bool) {
    let app = spawn_app_with(without_rate_limits()).await;
    let user = app.create_user("Payer").await;
    let (concert, schedule) = app.create_concert(30_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 5).await;

    let keys: Vec<Option<String>> = (0..100)
        .map(|i| {
            same_key
                .then(|| "pay-once".to_owned())
                .or_else(|| (i % 2 == 0).then(|| format!("key-{i}")))
        })
        .collect();
    let attempts = keys
        .iter()
        .map(|key| app.pay(&access.token, &reservation, key.as_deref()));
    let responses = join_all(attempts).await;
    let mut created_bodies = Vec::new();
    for response in responses {
        let status = response.status();
        assert!(!status.is_server_error(), "no 5xx: {status}");
        if status == StatusCode::CREATED {
            created_bodies.push(response.bytes().await.unwrap());
        } else {
            assert!(
                status == StatusCode::CONFLICT || status == StatusCode::FORBIDDEN,
                "{status}"
            );
        }
    }
    assert!(!created_bodies.is_empty());
    if same_key {
        // Replays of the one payment carry the same bytes.
        assert!(created_bodies.iter().all(|b| *b == created_bodies[0]));
    } else {
        assert_eq!(created_bodies.len(), 1);
    }
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM balance_ledger WHERE kind = 'payment'")
            .await,
        1
    );
    assert_eq!(app.balance_of(user).await, 70_000);
    assert_eq!(app.ledger_total(user).await, 70_000);
}

#[tokio::test]
async fn a_hundred_concurrent_payments_of_one_reservation_debit_once() {
    concurrent_payments_debit_once(false).await;
}

#[tokio::test]
async fn a_hundred_concurrent_payments_with_one_idempotency_key_debit_once() {
    concurrent_payments_debit_once(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_charges_all_land_in_the_ledger() {
    let app = spawn_app_with(without_rate_limits()).await;
    let user = app.create_user("Saver").await;
    let token = app.session(user);
    let mut requests = JoinSet::new();
    for _ in 0..1000 {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/v1/users/{user}/balance/charge")),
            token.clone(),
        );
        requests.spawn(async move {
            let body = serde_json::json!({ "amount": 1 });
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        });
    }
    while let Some(done) = requests.join_next().await {
        assert_eq!(done.unwrap().expect("answered"), StatusCode::OK);
    }
    assert_eq!(app.balance_of(user).await, 1000);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM balance_ledger WHERE user_id = {user}"
        ))
        .await,
        1000
    );
    assert_eq!(app.ledger_total(user).await, 1000);
}
