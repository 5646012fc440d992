//! What a waiting fan is told: `eta_range_seconds` holds `eta_seconds` and
//! is `null` while paused, each admission is judged against the range the
//! ticket was shown (`queue_eta_*`), and `seats_available` follows holds
//! and releases within 5 s.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::{metric_sum, scrape_metrics};

use super::schedule_with_seats;
use crate::helpers::{Config, TestApp, spawn_app, spawn_app_with};

fn range(body: &Value) -> Option<(u64, u64)> {
    let r = body["eta_range_seconds"].as_array()?;
    assert_eq!(r.len(), 2, "{body}");
    Some((r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
}

#[tokio::test]
async fn the_eta_range_holds_the_eta_and_is_null_while_paused() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(41).await;
    let (status, _) = app.patch_queue(concert, json!({"admit_per_tick": 3})).await;
    assert_eq!(status, StatusCode::OK);
    let mut joined = Vec::new();
    for &u in &users[..40] {
        joined.push(app.join_ok(concert, u).await);
    }
    // Nothing admitted yet: no estimate, and no range.
    assert_eq!(joined[5]["eta_seconds"], Value::Null);
    assert_eq!(joined[5]["eta_range_seconds"], Value::Null, "{}", joined[5]);
    for _ in 0..4 {
        app.tick().await;
    }
    for joined in &joined[12..] {
        let body = app.poll_ok(concert, joined).await;
        let eta = body["eta_seconds"].as_u64().expect("an estimate");
        let (low, high) = range(&body).expect("a range");
        assert!(low <= eta && eta <= high, "{body}");
        assert!(low < high, "a range, not a point: {body}");
    }
    // A join shows the range too.
    let late = app.join_ok(concert, users[40]).await;
    let (low, high) = range(&late).expect("a range at join");
    let eta = late["eta_seconds"].as_u64().unwrap();
    assert!(low <= eta && eta <= high, "{late}");

    let (status, _) = app.patch_queue(concert, json!({"paused": true})).await;
    assert_eq!(status, StatusCode::OK);
    let body = app.poll_ok(concert, &joined[30]).await;
    assert_eq!(body["eta_seconds"], Value::Null, "{body}");
    assert_eq!(body["eta_range_seconds"], Value::Null, "{body}");
    let (status, _) = app.patch_queue(concert, json!({"paused": false})).await;
    assert_eq!(status, StatusCode::OK);
    let body = app.poll_ok(concert, &joined[30]).await;
    assert!(range(&body).is_some(), "{body}");
}

#[tokio::test]
async fn each_admission_is_judged_against_the_range_its_ticket_was_shown() {
    let app = spawn_app_with(Config {
        admit_per_tick: 2,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let users = app.create_users(7).await;
    for &u in &users[..6] {
        app.join_ok(concert, u).await;
    }
    app.tick().await;
    // Position 5 at 2 per second: told about 3 s, admitted at the third tick.
    let told = app.join_ok(concert, users[6]).await;
    let (low, high) = range(&told).expect("a range at join");
    let before = scrape_metrics(&app.client, &app.address).await;
    let sum = |text: &str, outcome: &str| {
        metric_sum(text, "queue_eta_range_total", &[("outcome", outcome)]).unwrap_or(0.0)
    };
    let errors =
        |text: &str| metric_sum(text, "queue_eta_relative_error_count", &[]).unwrap_or(0.0);
    for _ in 0..3 {
        app.tick().await;
    }
    let body = app.poll_ok(concert, &told).await;
    assert_eq!(body["status"], "active", "{body}");
    let after = scrape_metrics(&app.client, &app.address).await;
    // The real wait was three ticks, 3 s.
    let outcome = if 3 < low {
        "below"
    } else if 3 > high {
        "above"
    } else {
        "inside"
    };
    assert!(
        sum(&after, outcome) >= sum(&before, outcome) + 1.0,
        "{after}"
    );
    assert!(errors(&after) >= errors(&before) + 1.0);
}

/// Poll `joined` (at most 3 times a second, inside the per-ticket budget)
/// until `seats_available` is `want`; panics after 5 s.
async fn seats_become(app: &TestApp, concert: i64, joined: &Value, want: u64) {
    let since = Instant::now();
    loop {
        let body = app.poll_ok(concert, joined).await;
        if body["seats_available"] == want {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "seats_available is not {want} within 5 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn seats_available_follows_holds_and_releases_within_five_seconds() {
    let app = spawn_app_with(Config {
        tick_ms: 250,
        max_active: 0,
        run_ticker: true,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let schedule = schedule_with_seats(&app, concert, 10).await;
    let user = app.create_users(2).await;
    let joined = app.join_ok(concert, user[0]).await;
    seats_become(&app, concert, &joined, 10).await;

    sqlx::query(
        "INSERT INTO reservations (reservation_id, user_id, schedule_id, seat_number, price,
                                   status, expires_at, created_at, updated_at)
         SELECT gen_random_uuid(), $2, $1, seat_number, price, 'held',
                now() + interval '5 minutes', now(), now()
         FROM seats WHERE schedule_id = $1 AND seat_number <= 4",
    )
    .bind(schedule)
    .bind(user[1])
    .execute(&app.db)
    .await
    .unwrap();
    seats_become(&app, concert, &joined, 6).await;
    // Only held: not sold out.
    assert_eq!(app.poll_ok(concert, &joined).await["status"], "waiting");

    sqlx::query(
        "UPDATE reservations SET status = 'cancelled'
         WHERE schedule_id = $1 AND seat_number <= 2",
    )
    .bind(schedule)
    .execute(&app.db)
    .await
    .unwrap();
    seats_become(&app, concert, &joined, 8).await;
}
