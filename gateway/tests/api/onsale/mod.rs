//! A scheduled on-sale (API.md, "Scheduled opening, fair draw" and "Sold
//! out"): before `opens_at` joins get a pre-queue ticket and nobody is
//! admitted; at `opens_at` the whole pre-queue is placed at once in the
//! order anyone can recompute from the published seed and the ticket ids;
//! a loss of Redis keeps the schedule and the draw; a sold-out concert
//! answers `sold_out` and admits nobody.
//!
//! [`draw`] takes the draw to 1,000 tickets, three gateways and a restart;
//! [`estimates`] covers the ETA range, its calibration metrics and
//! `seats_available`.

mod draw;
mod estimates;

use chrono::{SecondsFormat, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::testing::delete_prefix;

use crate::helpers::{TestApp, spawn_app};

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The published order: ascending hex SHA-256 of seed + ticket id.
fn recompute(seed: &str, tickets: &[String]) -> Vec<String> {
    let mut order = tickets.to_vec();
    order.sort_by_cached_key(|t| hex_sha256(&format!("{seed}{t}")));
    order
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl TestApp {
    /// Schedule the opening `in_ms` after the gateway's clock.
    async fn schedule_in(&self, concert: i64, in_ms: i64) -> Value {
        let at = rfc3339(self.state.clock.now_ms() + in_ms);
        let (status, body) = self.patch_queue(concert, json!({"opens_at": at})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn metrics_text(&self) -> String {
        shared::testing::scrape_metrics(&self.client, &self.address).await
    }

    async fn poll_ok(&self, concert: i64, joined: &Value) -> Value {
        let (status, body) = self.poll(concert, joined["ticket"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn id(joined: &Value) -> String {
    joined["ticket_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_pre_queue_is_drawn_at_the_opening_in_the_published_order() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(43).await;
    let stats = app.schedule_in(concert, 60_000).await;
    let commitment = stats["draw_commitment"].as_str().unwrap().to_owned();
    assert_eq!(commitment.len(), 64, "{stats}");
    assert_eq!(
        stats["draw_seed"],
        Value::Null,
        "the seed is secret: {stats}"
    );
    assert!(stats["opens_at"].is_string(), "{stats}");

    let mut early = Vec::new();
    for &u in &users[..40] {
        let (status, body) = app.join(concert, u).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "prequeue", "{body}");
        assert_eq!(body["draw_commitment"], commitment.as_str(), "{body}");
        assert_eq!(body["opens_at"], stats["opens_at"], "{body}");
        early.push(body);
    }
    // Joining again keeps the pre-queue ticket.
    let (status, again) = app.join(concert, users[0]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["ticket_id"], early[0]["ticket_id"]);

    // Ticks before the opening admit nobody, even with room for everyone.
    for _ in 0..5 {
        app.tick().await;
    }
    assert!(app.active_tickets(concert).await.is_empty());
    let body = app.poll_ok(concert, &early[7]).await;
    assert_eq!(body["status"], "prequeue", "{body}");
    assert_eq!(app.stats(concert).await["draw_seed"], Value::Null);

    // The opening: the first join after it draws the pre-queue, and queues behind it.
    app.advance(60_000);
    let mut late = Vec::new();
    for &u in &users[40..] {
        let (status, body) = app.join(concert, u).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "waiting", "{body}");
        late.push(body);
    }
    let stats = app.stats(concert).await;
    let seed = stats["draw_seed"]
        .as_str()
        .expect("published at the opening");
    assert_eq!(
        hex_sha256(seed),
        commitment,
        "the seed matches the commitment"
    );

    let early_ids: Vec<String> = early.iter().map(id).collect();
    let expected = recompute(seed, &early_ids);
    for joined in &early {
        let body = app.poll_ok(concert, joined).await;
        let rank = expected.iter().position(|t| *t == id(joined)).unwrap();
        assert_eq!(body["status"], "waiting", "{body}");
        assert_eq!(body["position"], rank + 1, "drawn place of {}", id(joined));
    }
    for (i, joined) in late.iter().enumerate() {
        let body = app.poll_ok(concert, joined).await;
        assert_eq!(body["position"], 41 + i, "late joins in arrival order");
    }

    // Admission follows the draw.
    let (status, _) = app
        .patch_queue(concert, json!({"admit_per_tick": 10}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.tick().await;
    let mut admitted = app.active_tickets(concert).await;
    admitted.sort();
    let mut first_ten = expected[..10].to_vec();
    first_ten.sort();
    assert_eq!(admitted, first_ten);
}

#[tokio::test]
async fn opens_at_in_the_past_or_after_the_opening_is_refused() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let past = rfc3339(app.state.clock.now_ms() - 1_000);
    let (status, body) = app.patch_queue(concert, json!({"opens_at": past})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "INVALID_REQUEST");
    let (status, _) = app
        .patch_queue(concert, json!({"opens_at": "tomorrow"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // `null` on a queue without a schedule: it is open already.
    let (status, body) = app.patch_queue(concert, json!({"opens_at": null})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["opens_at"], Value::Null);

    let first = app.schedule_in(concert, 30_000).await;
    // Moving a future opening keeps the commitment.
    let moved = app.schedule_in(concert, 90_000).await;
    assert_eq!(moved["draw_commitment"], first["draw_commitment"]);
    assert_ne!(moved["opens_at"], first["opens_at"]);
    let user = app.create_users(1).await[0];
    let joined = app.join_ok(concert, user).await;
    assert_eq!(joined["status"], "prequeue");

    // `null` opens now: drawn at the next tick.
    let (status, body) = app.patch_queue(concert, json!({"opens_at": null})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.tick().await;
    assert_eq!(app.active_tickets(concert).await, vec![id(&joined)]);
    let stats = app.stats(concert).await;
    assert!(stats["draw_seed"].is_string(), "{stats}");

    // After the opening, neither a new time nor null is accepted.
    let future = rfc3339(app.state.clock.now_ms() + 60_000);
    let (status, body) = app.patch_queue(concert, json!({"opens_at": future})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app.patch_queue(concert, json!({"opens_at": null})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A refused change changes nothing else either.
    let (status, _) = app
        .patch_queue(concert, json!({"opens_at": null, "paused": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.stats(concert).await["paused"], false);
}

#[tokio::test]
async fn a_redis_loss_before_the_opening_keeps_the_schedule_and_the_draw() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(12).await;
    let scheduled = app.schedule_in(concert, 120_000).await;
    let mut early = Vec::new();
    for &u in &users[..10] {
        early.push(app.join_ok(concert, u).await);
    }
    // Past the queue's first seconds (a rebuild then is a first build).
    app.advance(u64::try_from(gateway::recovery::FRESH_QUEUE_MS).unwrap() + 1_000);
    for joined in &early {
        app.poll_ok(concert, joined).await;
    }

    let mut conn = app.state.redis.clone();
    delete_prefix(&mut conn, &app.prefix).await;

    // Still a pre-queue, with the same opening and commitment.
    for joined in &early {
        let body = app.poll_ok(concert, joined).await;
        assert_eq!(body["status"], "prequeue", "{body}");
        assert_eq!(body["draw_commitment"], scheduled["draw_commitment"]);
        assert_eq!(body["opens_at"], scheduled["opens_at"]);
    }
    let stats = app.stats(concert).await;
    assert_eq!(stats["opens_at"], scheduled["opens_at"], "{stats}");
    assert_eq!(stats["draw_commitment"], scheduled["draw_commitment"]);
    app.tick().await;
    assert!(app.active_tickets(concert).await.is_empty());
    // Two more join during the loss's aftermath, still before the opening.
    let mut all = early.clone();
    for &u in &users[10..] {
        let joined = app.join_ok(concert, u).await;
        assert_eq!(joined["status"], "prequeue", "{joined}");
        all.push(joined);
    }

    // Up to the opening, polling well inside the idle timeout.
    app.advance(60_000);
    for joined in &all {
        assert_eq!(app.poll_ok(concert, joined).await["status"], "prequeue");
    }
    app.advance(60_000);
    app.tick().await;
    let stats = app.stats(concert).await;
    let seed = stats["draw_seed"]
        .as_str()
        .expect("published at the opening");
    assert_eq!(
        hex_sha256(seed),
        scheduled["draw_commitment"].as_str().unwrap()
    );
    let ids: Vec<String> = all.iter().map(id).collect();
    let expected = recompute(seed, &ids);
    let mut admitted = app.active_tickets(concert).await;
    for joined in &all {
        let (status, body) = app.poll(concert, joined["ticket"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["status"] == "waiting" {
            let rank = expected.iter().position(|t| *t == id(joined)).unwrap();
            assert_eq!(body["position"], rank + 1 - admitted.len(), "{body}");
        }
    }
    admitted.sort();
    let mut head = expected[..admitted.len()].to_vec();
    head.sort();
    assert_eq!(admitted, head, "admitted in the drawn order");
}

/// A schedule of `seats` seats starting tomorrow; returns its id.
async fn schedule_with_seats(app: &TestApp, concert: i64, seats: i32) -> i64 {
    let schedule: i64 = sqlx::query_scalar(
        "INSERT INTO schedules (concert_id, starts_at, price, total_seats)
         VALUES ($1, now() + interval '1 day', 50000, $2) RETURNING schedule_id",
    )
    .bind(concert)
    .bind(seats)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO seats (schedule_id, seat_number, price)
         SELECT $1, g, 50000 FROM generate_series(1, $2) g",
    )
    .bind(schedule)
    .bind(seats)
    .execute(&app.db)
    .await
    .unwrap();
    schedule
}

/// Every seat of `schedule` taken by `user` with reservations of `status`.
async fn take_all(app: &TestApp, schedule: i64, user: i64, status: &str) {
    sqlx::query(
        "UPDATE reservations SET status = 'cancelled' WHERE schedule_id = $1 AND status = 'held'",
    )
    .bind(schedule)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO reservations (reservation_id, user_id, schedule_id, seat_number, price,
                                   status, expires_at, created_at, updated_at)
         SELECT gen_random_uuid(), $2, $1, seat_number, price, $3,
                now() + interval '5 minutes', now(), now()
         FROM seats WHERE schedule_id = $1",
    )
    .bind(schedule)
    .bind(user)
    .bind(status)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_sold_out_concert_answers_sold_out_and_admits_nobody() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let prequeued = app.create_concert().await;
    let users = app.create_users(8).await;
    let schedule = schedule_with_seats(&app, concert, 3).await;
    let other = schedule_with_seats(&app, prequeued, 2).await;
    let (status, _) = app.patch_queue(concert, json!({"max_active": 1})).await;
    assert_eq!(status, StatusCode::OK);
    app.schedule_in(prequeued, 600_000).await;

    let mut waiting = Vec::new();
    for &u in &users[..4] {
        waiting.push(app.join_ok(concert, u).await);
    }
    let pre = app.join_ok(prequeued, users[4]).await;
    assert_eq!(pre["status"], "prequeue");
    app.tick().await;
    assert_eq!(app.active_tickets(concert).await.len(), 1);
    let body = app.poll_ok(concert, &waiting[1]).await;
    assert_eq!(body["seats_available"], 3, "{body}");

    // Seats that are only held do not make a concert sold out.
    take_all(&app, schedule, users[7], "held").await;
    take_all(&app, other, users[7], "held").await;
    app.advance(u64::try_from(gateway::availability::CHECK_MS).unwrap());
    app.tick().await;
    let body = app.poll_ok(concert, &waiting[1]).await;
    assert_eq!(body["status"], "waiting", "{body}");
    assert_eq!(body["seats_available"], 0, "{body}");
    assert_eq!(app.poll_ok(prequeued, &pre).await["status"], "prequeue");

    // Every seat sold: the line is told, and nobody is admitted.
    take_all(&app, schedule, users[7], "confirmed").await;
    take_all(&app, other, users[7], "confirmed").await;
    let (status, _) = app.patch_queue(concert, json!({"max_active": 100})).await;
    assert_eq!(status, StatusCode::OK);
    app.advance(u64::try_from(gateway::availability::CHECK_MS).unwrap());
    let ticked = app.tick().await;
    let ours = ticked.iter().find(|(c, _)| c.get() == concert).unwrap().1;
    assert_eq!(ours.admitted, 0, "{ours:?}");
    assert_eq!(app.active_tickets(concert).await.len(), 1);
    for joined in &waiting[1..] {
        for _ in 0..2 {
            let body = app.poll_ok(concert, joined).await;
            assert_eq!(body, json!({"status": "sold_out"}));
        }
    }
    assert_eq!(
        app.poll_ok(prequeued, &pre).await,
        json!({"status": "sold_out"})
    );
    assert_eq!(app.stats(concert).await["waiting"], 0);
    let (status, body) = app.join(concert, users[5]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "sold_out", "{body}");
    assert!(body["ticket"].is_string(), "{body}");
    let (status, body) = app.join(prequeued, users[6]).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(body["status"], "sold_out", "{body}");
    // The admitted user keeps the session.
    let body = app.poll_ok(concert, &waiting[0]).await;
    assert_eq!(body["status"], "active", "{body}");
}
