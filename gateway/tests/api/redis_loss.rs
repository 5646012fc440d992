//! Redis is not the only copy (API.md): when Redis loses a queue's keys (a
//! flush, or a restart without persistence) in the middle of an on-sale,
//! the gateway rebuilds it within two ticks, with no restart and no
//! operator: live sessions still count against `max_active`, waiting users
//! who poll are put back in their original order (never `404`), joins after
//! the loss queue behind them, and a paused queue stays paused.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::{ScratchRedis, delete_prefix};

use crate::helpers::{Config, TestApp, spawn_app_with};

/// The knobs of both tests: 2 admitted per tick, at most 4 active.
fn small_queue() -> Config {
    Config {
        admit_per_tick: 2,
        max_active: 4,
        ..Config::default()
    }
}

/// A running on-sale: 8 users joined in order, the first 4 admitted (with
/// their access tokens), the other 4 waiting; and a paused concert with 2
/// waiting. Returns (concert, tickets, access tokens, paused concert, its tickets).
struct OnSale {
    concert: i64,
    tickets: Vec<Value>,
    access: Vec<String>,
    paused: i64,
    paused_tickets: Vec<Value>,
}

async fn on_sale(app: &TestApp) -> OnSale {
    let concert = app.create_concert().await;
    let paused = app.create_concert().await;
    let users = app.create_users(10).await;
    let mut tickets = Vec::new();
    for &u in &users[..8] {
        tickets.push(app.join_ok(concert, u).await);
    }
    let (status, _) = app.patch_queue(paused, json!({"paused": true})).await;
    assert_eq!(status, StatusCode::OK);
    let mut paused_tickets = Vec::new();
    for &u in &users[8..] {
        paused_tickets.push(app.join_ok(paused, u).await);
    }
    app.tick().await;
    app.tick().await;
    let mut access = Vec::new();
    for t in &tickets[..4] {
        let (status, body) = app.poll(concert, t["ticket"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        access.push(body["access_token"].as_str().expect("admitted").to_owned());
    }
    assert_eq!(app.stats(concert).await["waiting"], 4);
    // Past the first seconds of the queue, when it is still being built
    // (`gateway::recovery::FRESH_QUEUE_MS`); the waiters keep polling.
    app.advance(u64::try_from(gateway::recovery::FRESH_QUEUE_MS).unwrap());
    for t in tickets[4..].iter().chain(&paused_tickets) {
        let (status, _) = app.poll_for(t).await;
        assert_eq!(status, StatusCode::OK);
    }
    OnSale {
        concert,
        tickets,
        access,
        paused,
        paused_tickets,
    }
}

impl TestApp {
    /// Poll with the ticket of a join answer.
    async fn poll_for(&self, joined: &Value) -> (StatusCode, Value) {
        let concert = self.concert_of(joined);
        self.poll(concert, joined["ticket"].as_str().unwrap()).await
    }

    /// The concert a joined ticket is for (read from the token's `cid`).
    fn concert_of(&self, joined: &Value) -> i64 {
        use base64::Engine;
        let token = joined["ticket"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["cid"].as_i64().unwrap()
    }
}

fn ticket_id(t: &Value) -> String {
    t["ticket_id"].as_str().unwrap().to_owned()
}

/// What must hold after the loss, however it happened.
async fn heals(app: &TestApp, sale: &OnSale) {
    let OnSale {
        concert,
        tickets,
        access,
        paused,
        paused_tickets,
    } = sale;
    let concert = *concert;

    // The first tick after the loss rebuilds the queue: the 4 live sessions
    // are back and fill max_active, so nobody is admitted over the cap.
    let outcomes = app.tick().await;
    let ours = outcomes
        .iter()
        .find(|(c, _)| c.get() == concert)
        .map(|(_, o)| *o)
        .expect("the lost concert is ticked again");
    assert_eq!(ours.active, 4, "restored sessions count: {ours:?}");
    assert_eq!(ours.admitted, 0, "max_active holds: {ours:?}");
    let stats = app.stats(concert).await;
    assert_eq!(stats["active"], 4, "{stats}");
    assert_eq!(stats["max_active"], 4, "{stats}");
    assert_eq!(stats["admit_per_tick"], 2, "{stats}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body = ready.text().await.unwrap();
    assert!(body.contains("recovered from a Redis data loss"), "{body}");

    // The paused queue stayed paused, and its waiters keep their places.
    assert_eq!(app.stats(*paused).await["paused"], true);
    for (i, t) in paused_tickets.iter().enumerate() {
        let (status, body) = app.poll(*paused, t["ticket"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "waiting", "{body}");
        assert_eq!(body["paused"], true, "{body}");
        assert_eq!(body["position"], i + 1, "{body}");
    }

    // Someone joins after the loss, then the waiters poll in another order
    // than they joined: nobody is told 404, and the line is their old order
    // with the newcomer behind them.
    let newcomer = app.create_users(1).await[0];
    let late = app.join_ok(concert, newcomer).await;
    for i in [7, 5, 6, 4] {
        let (status, body) = app
            .poll(concert, tickets[i]["ticket"].as_str().unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "ticket {i}: {body}");
        assert_eq!(body["status"], "waiting", "ticket {i}: {body}");
    }
    for (position, t) in tickets[4..].iter().chain([&late]).enumerate() {
        let (status, body) = app.poll(concert, t["ticket"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["position"], position + 1, "{body}");
    }
    assert_eq!(app.stats(*paused).await["active"], 0);

    // The restored sessions are real: leaving with an access token frees a
    // slot, which goes to the head of the old line.
    let mut admitted_order = Vec::new();
    let mut before: HashSet<String> = app.active_tickets(concert).await.into_iter().collect();
    for token in access {
        assert_eq!(app.leave(concert, token).await, StatusCode::NO_CONTENT);
        app.tick().await;
        let now: HashSet<String> = app.active_tickets(concert).await.into_iter().collect();
        admitted_order.extend(now.difference(&before).cloned());
        before = now;
        assert!(before.len() <= 4, "max_active holds");
    }
    let expected: Vec<String> = tickets[4..].iter().map(ticket_id).collect();
    assert_eq!(admitted_order, expected, "admitted in their original order");

    // The newcomer is admitted once a slot is free and the short hold for
    // joins after the loss is over, not before.
    assert_eq!(
        app.leave(concert, tickets[4]["ticket"].as_str().unwrap())
            .await,
        StatusCode::NO_CONTENT
    );
    app.tick().await;
    assert!(
        !app.active_tickets(concert)
            .await
            .contains(&ticket_id(&late))
    );
    let (status, _) = app.poll(concert, late["ticket"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    app.advance(25_000);
    app.tick().await;
    assert!(
        app.active_tickets(concert)
            .await
            .contains(&ticket_id(&late))
    );
}

#[tokio::test]
async fn a_flushed_redis_is_healed_at_the_next_tick_with_places_sessions_and_settings_kept() {
    let app = spawn_app_with(small_queue()).await;
    let sale = on_sale(&app).await;
    delete_prefix(&mut app.state.redis.clone(), &app.prefix).await;
    heals(&app, &sale).await;
}

#[tokio::test]
async fn a_redis_restarted_empty_is_healed_at_the_next_tick() {
    let redis = ScratchRedis::start().await;
    let app = spawn_app_with(Config {
        redis_url: Some(redis.url()),
        ..small_queue()
    })
    .await;
    let sale = on_sale(&app).await;
    redis.restart_empty().await;
    // The gateway reconnects by itself; wait until a tick goes through.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut conn = app.state.redis.clone();
        if redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reconnection");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    heals(&app, &sale).await;
}
