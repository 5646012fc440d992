//! Hold expiry: lazy (readers and the next taker see a timed-out hold as
//! expired at once) and swept in the background.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Options, assert_problem, spawn_app_with};

fn short_holds() -> Options {
    Options {
        hold_ttl: Duration::from_secs(1),
        sweep_interval: Duration::from_secs(3600),
        ..Options::default()
    }
}

#[tokio::test]
async fn an_expired_hold_frees_the_seat_and_cannot_be_paid() {
    let app = spawn_app_with(short_holds()).await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(20_000).await;
    app.fund(users[0], 100_000).await;
    let first = app.admit(users[0], concert).await;
    let reservation = app.hold_ok(&first.token, schedule, 30).await;
    let path = format!("/v1/reservations/{reservation}");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    // No sweeper has run (its interval is an hour): expiry is visible at once.
    let read: Value = app.get(&path, &first.token).await.json().await.unwrap();
    assert_eq!(read["status"], "expired");
    let map: Value = app
        .get(&format!("/v1/schedules/{schedule}/seats"), &first.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(map["seats"][29]["status"], "available");

    let paid = app.pay(&first.token, &reservation, None).await;
    assert_problem(paid, 409, "HOLD_EXPIRED").await;
    assert_eq!(app.balance_of(users[0]).await, 100_000);
    assert_eq!(app.ledger_total(users[0]).await, 100_000);
    let release = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&first.token)
        .send()
        .await
        .unwrap();
    assert_problem(release, 409, "HOLD_EXPIRED").await;

    let second = app.admit(users[1], concert).await;
    app.hold_ok(&second.token, schedule, 30).await;
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM reservations WHERE seat_number = 30 ORDER BY created_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(statuses, ["expired", "held"]);
}

#[tokio::test]
async fn the_sweeper_marks_timed_out_holds_expired() {
    let app = spawn_app_with(Options {
        sweep_interval: Duration::from_millis(100),
        max_seats_per_user: 3,
        ..short_holds()
    })
    .await;
    let user = app.create_user("Sleepy").await;
    let (concert, schedule) = app.create_concert(20_000).await;
    let access = app.admit(user, concert).await;
    for seat in 1..=3 {
        app.hold_ok(&access.token, schedule, seat).await;
    }
    let mut expired = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        expired = app
            .count("SELECT count(*) FROM reservations WHERE status = 'expired'")
            .await;
        if expired == 3 {
            break;
        }
    }
    assert_eq!(expired, 3);
    // The limit counts live holds only: the user may hold again.
    let access = app.admit(user, concert).await;
    assert_eq!(
        app.hold_seat(&access.token, schedule, 1).await.status(),
        StatusCode::CREATED
    );
}
