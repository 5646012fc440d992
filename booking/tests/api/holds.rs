//! Seat holds: the Redis gate, the Postgres truth behind it, releasing, and
//! the per-user limit.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_hold_is_a_held_reservation_that_expires_after_the_hold_time() {
    let app = spawn_app().await;
    let user = app.create_user("Ada").await;
    let (concert, schedule) = app.create_concert(70_000).await;
    let access = app.admit(user, concert).await;

    let response = app.hold_seat(&access.token, schedule, 7).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "held");
    assert_eq!(body["seat_number"], 7);
    assert_eq!(body["schedule_id"], schedule);
    assert_eq!(body["user_id"], user);
    assert_eq!(body["price"], 70_000);
    let expires_at: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let remaining = expires_at - chrono::Utc::now();
    assert!(
        remaining > chrono::Duration::seconds(290) && remaining <= chrono::Duration::seconds(300)
    );

    let read: Value = app
        .get(&location, &access.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, body);
}

#[tokio::test]
async fn a_held_seat_is_refused_to_the_next_user() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(50_000).await;
    let first = app.admit(users[0], concert).await;
    let second = app.admit(users[1], concert).await;

    app.hold_ok(&first.token, schedule, 3).await;
    let refused = app.hold_seat(&second.token, schedule, 3).await;
    assert_problem(refused, 409, "SEAT_UNAVAILABLE").await;
}

#[tokio::test]
async fn a_lost_redis_lock_cannot_double_book_a_seat() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(50_000).await;
    let first = app.admit(users[0], concert).await;
    let second = app.admit(users[1], concert).await;
    app.hold_ok(&first.token, schedule, 9).await;

    // Redis loses every seat lock of this deployment (flush, failover...).
    let pattern = format!("{}:{{s:*", app.prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut app.redis.clone())
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the hold took a Redis lock");
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut app.redis.clone())
        .await
        .unwrap();

    let refused = app.hold_seat(&second.token, schedule, 9).await;
    assert_problem(refused, 409, "SEAT_UNAVAILABLE").await;
    let live = app
        .count(&format!(
            "SELECT count(*) FROM reservations WHERE schedule_id = {schedule} AND seat_number = 9
             AND status IN ('held', 'confirmed')"
        ))
        .await;
    assert_eq!(live, 1);
}

#[tokio::test]
async fn releasing_a_hold_frees_the_seat_and_only_the_owner_can() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(50_000).await;
    let owner = app.admit(users[0], concert).await;
    let other = app.admit(users[1], concert).await;
    let reservation = app.hold_ok(&owner.token, schedule, 1).await;
    let path = format!("/v1/reservations/{reservation}");

    let stranger = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_problem(stranger, 404, "RESERVATION_NOT_FOUND").await;

    let released = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    let read: Value = app.get(&path, &owner.token).await.json().await.unwrap();
    assert_eq!(read["status"], "cancelled");
    let again = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);

    app.hold_ok(&other.token, schedule, 1).await;
}

#[tokio::test]
async fn the_per_user_limit_counts_held_and_bought_seats() {
    let app = spawn_app_with(Options {
        max_seats_per_user: 2,
        ..Options::default()
    })
    .await;
    let user = app.create_user("Grace").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let paid = app.hold_ok(&access.token, schedule, 1).await;
    assert_eq!(
        app.pay(&access.token, &paid, None).await.status(),
        StatusCode::CREATED
    );

    let access = app.admit(user, concert).await;
    app.hold_ok(&access.token, schedule, 2).await;
    let refused = app.hold_seat(&access.token, schedule, 3).await;
    assert_problem(refused, 409, "HOLD_LIMIT_REACHED").await;
    // The refused attempt released its Redis lock: the seat is free for others.
    let other = app.create_user("Linus").await;
    let other = app.admit(other, concert).await;
    app.hold_ok(&other.token, schedule, 3).await;
}

#[tokio::test]
async fn the_per_user_limit_holds_under_concurrency() {
    let app = spawn_app().await;
    let user = app.create_user("Hopper").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let access = app.admit(user, concert).await;

    let attempts = (1..=30).map(|seat| app.hold_seat(&access.token, schedule, seat));
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        26,
        "{statuses:?}"
    );
    let live = app
        .count(&format!(
            "SELECT count(*) FROM reservations WHERE user_id = {user} AND status = 'held'"
        ))
        .await;
    assert_eq!(live, 4);
}
