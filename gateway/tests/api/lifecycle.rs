//! Sessions end, idle waiters lose their place, leaving frees a slot, pause
//! stops admission without losing anyone, the ETA follows the measured rate.
//! Time is a manual clock; ticks are run by hand.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Config, TestApp, spawn_app, spawn_app_with};

fn ticket(body: &serde_json::Value) -> String {
    body["ticket"].as_str().unwrap().to_owned()
}

async fn code_of(app: &TestApp, concert: i64, token: &str) -> (StatusCode, String) {
    let (status, body) = app.poll(concert, token).await;
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn active_sessions_expire_and_free_their_slot() {
    let app = spawn_app_with(Config {
        max_active: 1,
        admit_per_tick: 1,
        active_ttl_secs: 5,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let users = app.create_users(2).await;
    let a = ticket(&app.join_ok(concert, users[0]).await);
    let b = ticket(&app.join_ok(concert, users[1]).await);

    app.tick().await;
    let (status, body) = app.poll(concert, &a).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "active");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(app.poll(concert, &b).await.1["position"], 1);

    // Admitted at T; the session ends at T + 5 s.
    app.advance(3_000);
    app.tick().await; // T + 4 s
    assert_eq!(
        app.poll(concert, &b).await.1["status"],
        "waiting",
        "A's session is not over yet"
    );

    app.tick().await; // T + 5 s
    assert_eq!(
        code_of(&app, concert, &a).await,
        (StatusCode::NOT_FOUND, "TICKET_NOT_FOUND".into())
    );
    assert_eq!(
        app.poll(concert, &b).await.1["status"],
        "active",
        "B takes the freed slot"
    );
}

/// Nobody is admitted; a waiter who does not poll for 10 s loses the place.
async fn waiting_room_with_10s_idle_timeout() -> TestApp {
    spawn_app_with(Config {
        max_active: 0,
        idle_timeout_secs: 10,
        ..Config::default()
    })
    .await
}

/// One status call answers many polls (they are batched). An idle ticket in
/// the batch is dropped, and only it: the waiters polled with it keep their
/// places, however the batch is ordered.
#[tokio::test]
async fn an_idle_ticket_polled_together_with_live_ones_drops_only_itself() {
    let app = waiting_room_with_10s_idle_timeout().await;
    let concert = app.create_concert().await;
    let users = app.create_users(3).await;
    let idle = app.join_ok(concert, users[0]).await["ticket_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(8_000);
    let mut live = Vec::new();
    for &u in &users[1..] {
        live.push(
            app.join_ok(concert, u).await["ticket_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.advance(5_000);

    let keys = app
        .state
        .queue_keys(shared::ids::ConcertId::new(concert).unwrap());
    let mut call = gateway::keys::invocation(&gateway::keys::STATUS, &keys);
    call.arg(app.state.clock.now_ms()).arg(10_000);
    // Per ticket: its id, its user, and no epoch or sequence number.
    for t in [&idle, &live[0], &live[1], &idle] {
        call.arg(t).arg(1).arg("").arg("");
    }
    let replies: Vec<String> = call
        .invoke_async(&mut app.state.redis.clone())
        .await
        .unwrap();
    let fields: Vec<Vec<&str>> = replies
        .iter()
        .map(|r| r.split(' ').take(3).collect())
        .collect();
    assert_eq!(
        fields,
        vec![
            vec!["n", "idle"],
            vec!["w", "1", "2"],
            vec!["w", "2", "2"],
            vec!["n", "idle"]
        ],
        "{replies:?}"
    );
}

#[tokio::test]
async fn idle_waiters_lose_their_place_and_pollers_keep_it() {
    let app = waiting_room_with_10s_idle_timeout().await;
    let concert = app.create_concert().await;
    let users = app.create_users(4).await;
    let tickets: Vec<String> = {
        let mut t = Vec::new();
        for &u in &users[..3] {
            t.push(ticket(&app.join_ok(concert, u).await));
        }
        t
    };
    app.advance(6_000);
    app.poll(concert, &tickets[1]).await;
    app.poll(concert, &tickets[2]).await;
    app.advance(6_000);
    let outcome = app.tick().await;
    assert_eq!(
        outcome[0].1.idle_dropped, 1,
        "the ticker drops the one that stopped polling"
    );
    assert_eq!(
        code_of(&app, concert, &tickets[0]).await.1,
        "TICKET_NOT_FOUND"
    );
    assert_eq!(app.poll(concert, &tickets[1]).await.1["position"], 1);
    assert_eq!(app.poll(concert, &tickets[2]).await.1["position"], 2);

    // Without a tick in between, a poll after the timeout also finds the place gone.
    let late = ticket(&app.join_ok(concert, users[3]).await);
    app.advance(10_001);
    assert_eq!(
        code_of(&app, concert, &late).await,
        (StatusCode::NOT_FOUND, "TICKET_NOT_FOUND".into())
    );
}

#[tokio::test]
async fn leaving_frees_the_place_and_the_active_slot_for_the_next_in_line() {
    let app = spawn_app_with(Config {
        max_active: 1,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let users = app.create_users(3).await;
    let a = ticket(&app.join_ok(concert, users[0]).await);
    let b = ticket(&app.join_ok(concert, users[1]).await);
    let c = ticket(&app.join_ok(concert, users[2]).await);
    app.tick().await;
    let access = app.poll(concert, &a).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(app.leave(concert, &b).await, StatusCode::NO_CONTENT);
    assert_eq!(
        app.poll(concert, &c).await.1["position"],
        1,
        "C moves up when B leaves"
    );
    assert_eq!(
        app.leave(concert, &access).await,
        StatusCode::NO_CONTENT,
        "leave with the access token"
    );
    app.tick().await;
    assert_eq!(
        app.poll(concert, &c).await.1["status"],
        "active",
        "A's slot goes to C"
    );
    assert_eq!(
        app.leave(concert, &b).await,
        StatusCode::NOT_FOUND,
        "nothing left to free"
    );

    // Re-joining after leaving starts a new place at the back with a new ticket.
    let again = app.join_ok(concert, users[1]).await;
    assert_ne!(ticket(&again), b);
    assert_eq!(again["position"], 1);
}

#[tokio::test]
async fn pause_stops_admission_keeps_places_and_accepts_joins_and_resume_restarts() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(3).await;
    let a = ticket(&app.join_ok(concert, users[0]).await);
    app.join_ok(concert, users[1]).await;

    let (status, body) = app.patch_queue(concert, json!({ "paused": true })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["paused"], true);
    for _ in 0..3 {
        app.tick().await;
    }
    assert!(
        app.active_tickets(concert).await.is_empty(),
        "a paused queue admits nobody"
    );
    let waiting = app.poll(concert, &a).await.1;
    assert_eq!(
        (waiting["position"].clone(), waiting["paused"].clone()),
        (json!(1), json!(true))
    );
    assert!(waiting["eta_seconds"].is_null(), "no ETA while paused");
    let (status, joined) = app.join(concert, users[2]).await;
    assert_eq!(
        (status, joined["position"].clone()),
        (StatusCode::CREATED, json!(3))
    );

    app.patch_queue(concert, json!({ "paused": false })).await;
    app.tick().await;
    assert_eq!(
        app.active_tickets(concert).await.len(),
        3,
        "resume admits again"
    );
    assert_eq!(app.poll(concert, &a).await.1["status"], "active");
}

#[tokio::test]
async fn settings_changes_apply_from_the_next_tick_and_eta_follows_the_measured_rate() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(60).await;
    let mut tickets = Vec::new();
    for &u in &users {
        tickets.push(ticket(&app.join_ok(concert, u).await));
    }
    assert!(
        app.poll(concert, &tickets[59]).await.1["eta_seconds"].is_null(),
        "no rate measured yet"
    );

    let (_, body) = app
        .patch_queue(concert, json!({ "admit_per_tick": 10, "max_active": 25 }))
        .await;
    assert_eq!(
        (body["admit_per_tick"].clone(), body["max_active"].clone()),
        (json!(10), json!(25))
    );
    app.tick().await;
    app.tick().await;
    assert_eq!(app.active_tickets(concert).await.len(), 20, "10 per tick");
    // Measured: 20 admitted over 2 ticks of 1 s = 10/s. The last user is at position 40.
    let last = app.poll(concert, &tickets[59]).await.1;
    assert_eq!(
        (last["position"].clone(), last["eta_seconds"].clone()),
        (json!(40), json!(4))
    );
    app.tick().await;
    assert_eq!(
        app.active_tickets(concert).await.len(),
        25,
        "capped by max_active"
    );
    assert_eq!(app.stats(concert).await["admitted_last_minute"], 25);
}

#[tokio::test]
async fn ticks_keep_working_when_a_minute_of_ticks_admitted_nobody() {
    let app = spawn_app_with(Config {
        max_active: 0,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    app.join_ok(concert, user).await;
    // Ticks that admit nobody (max_active 0) still fill the rate window;
    // once they age out of it, the tick must go on working.
    for _ in 0..3 {
        app.tick().await;
    }
    app.advance(61_000);
    app.tick().await;
    app.tick().await;
    let (status, body) = app.patch_queue(concert, json!({ "max_active": 10 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.tick().await;
    assert_eq!(app.active_tickets(concert).await.len(), 1);
    assert_eq!(app.stats(concert).await["admitted_last_minute"], 1);
}
