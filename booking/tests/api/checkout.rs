//! Paying several holds at once (API.md, Booking: `POST /v1/payments` with
//! `reservation_ids`): all or nothing, the sum debited once under
//! concurrency, and a payment with one bad reservation changes nothing.

use futures::future::join_all;
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::limits::RateLimitSettings;

use crate::helpers::{Options, TestApp, assert_problem, spawn_app, spawn_app_with};

/// Fifty payments from one user at once are over the per-user write budget
/// by design; these tests are about the payment, so that limit is off.
fn without_rate_limits() -> Options {
    Options {
        limits: RateLimitSettings::off(),
        ..Options::default()
    }
}

/// Everything a payment could change, for one user and one schedule.
#[derive(Debug, PartialEq)]
struct Snapshot {
    balance: i64,
    ledger: i64,
    ledger_entries: i64,
    payments: i64,
    paid_reservations: i64,
    statuses: Vec<(i32, String)>,
    seats: Value,
}

async fn snapshot(app: &TestApp, user: i64, schedule: i64, token: &str) -> Snapshot {
    let statuses = sqlx::query_as(
        "SELECT seat_number, status FROM reservations WHERE schedule_id = $1
         ORDER BY seat_number, status",
    )
    .bind(schedule)
    .fetch_all(&app.db)
    .await
    .unwrap();
    Snapshot {
        balance: app.balance_of(user).await,
        ledger: app.ledger_total(user).await,
        ledger_entries: app.count("SELECT count(*) FROM balance_ledger").await,
        payments: app.count("SELECT count(*) FROM payments").await,
        paid_reservations: app.count("SELECT count(*) FROM payment_reservations").await,
        statuses,
        seats: app.seat_map(token, schedule).await["seats"].clone(),
    }
}

async fn three_holds_paid_by_fifty_concurrent_tries(same_key: bool) {
    let app = spawn_app_with(without_rate_limits()).await;
    let user = app.create_user("Cart").await;
    let (concert, schedule) = app.create_concert(30_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let mut holds = Vec::new();
    for seat in [7, 3, 21] {
        holds.push(app.hold_ok(&access.token, schedule, seat).await);
    }

    let keys: Vec<Option<String>> = (0..50)
        .map(|i| {
            same_key
                .then(|| "cart-once".to_owned())
                .or_else(|| (i % 2 == 0).then(|| format!("cart-{i}")))
        })
        .collect();
    let attempts = keys
        .iter()
        .map(|key| app.pay_many(&access.token, &holds, key.as_deref()));
    let mut created = Vec::new();
    for response in join_all(attempts).await {
        let status = response.status();
        if status == StatusCode::CREATED {
            created.push(response.bytes().await.unwrap());
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{status}");
        }
    }
    assert!(!created.is_empty());
    if same_key {
        assert!(
            created.iter().all(|b| *b == created[0]),
            "replays are byte-identical"
        );
    } else {
        assert_eq!(created.len(), 1, "one payment wins");
    }
    let body: Value = serde_json::from_slice(&created[0]).unwrap();
    assert_eq!(body["reservation_ids"], json!(holds));
    assert_eq!(body["amount"], 90_000);
    assert_eq!(body["balance"], 10_000);
    assert!(body.get("reservation_id").is_none(), "{body}");

    assert_eq!(app.balance_of(user).await, 10_000);
    assert_eq!(app.ledger_total(user).await, 10_000);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM balance_ledger WHERE kind = 'payment' AND amount = 90000")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM payment_reservations pr
             JOIN payments p ON p.payment_id = pr.payment_id
             JOIN reservations r ON r.reservation_id = pr.reservation_id
             WHERE r.status = 'confirmed'"
        )
        .await,
        3
    );
    assert!(!app.in_active_set(concert, access.ticket_id).await);
    let mut redis = app.redis.clone();
    for seat in [7, 3, 21] {
        let lock: Option<String> = redis.get(app.seat_lock_key(schedule, seat)).await.unwrap();
        assert_eq!(lock, None, "the lock of seat {seat} is dropped");
    }
    let fresh = app.admit(user, concert).await;
    let map = app.seat_map(&fresh.token, schedule).await;
    for seat in [7, 3, 21] {
        assert_eq!(map["seats"][seat - 1]["status"], "sold");
        assert_eq!(map["seats"][seat - 1]["mine"], true);
    }
}

#[tokio::test]
async fn fifty_concurrent_payments_of_three_holds_debit_the_sum_once() {
    three_holds_paid_by_fifty_concurrent_tries(false).await;
}

#[tokio::test]
async fn fifty_concurrent_payments_of_three_holds_under_one_key_debit_the_sum_once() {
    three_holds_paid_by_fifty_concurrent_tries(true).await;
}

#[tokio::test]
async fn a_payment_with_one_expired_hold_changes_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("Late").await;
    let (concert, schedule) = app.create_concert(20_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let holds = vec![
        app.hold_ok(&access.token, schedule, 1).await,
        app.hold_ok(&access.token, schedule, 2).await,
        app.hold_ok(&access.token, schedule, 3).await,
    ];
    // The middle hold's time runs out (as if five minutes had passed).
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second'
         WHERE reservation_id = $1::uuid",
    )
    .bind(&holds[1])
    .execute(&app.db)
    .await
    .unwrap();
    let before = snapshot(&app, user, schedule, &access.token).await;

    let refused = app.pay_many(&access.token, &holds, Some("late")).await;
    let problem = assert_problem(refused, 409, "HOLD_EXPIRED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains(&holds[1]),
        "{problem}"
    );
    assert_eq!(snapshot(&app, user, schedule, &access.token).await, before);
    assert!(app.in_active_set(concert, access.ticket_id).await);

    // The two live holds are still payable.
    let live = vec![holds[0].clone(), holds[2].clone()];
    let paid = app.pay_many(&access.token, &live, None).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert_eq!(app.balance_of(user).await, 60_000);
}

#[tokio::test]
async fn a_payment_naming_another_users_hold_is_not_found_and_changes_nothing() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(20_000).await;
    app.fund(users[0], 100_000).await;
    app.fund(users[1], 100_000).await;
    let mine = app.admit(users[0], concert).await;
    let theirs = app.admit(users[1], concert).await;
    let own = app.hold_ok(&mine.token, schedule, 10).await;
    let foreign = app.hold_ok(&theirs.token, schedule, 11).await;
    let own_too = app.hold_ok(&mine.token, schedule, 12).await;
    let before = snapshot(&app, users[0], schedule, &mine.token).await;
    let other_before = (
        app.balance_of(users[1]).await,
        app.ledger_total(users[1]).await,
    );

    let ids = vec![own.clone(), foreign.clone(), own_too.clone()];
    let refused = app.pay_many(&app.session(users[0]), &ids, None).await;
    let problem = assert_problem(refused, 404, "RESERVATION_NOT_FOUND").await;
    assert!(
        problem["detail"].as_str().unwrap().contains(&foreign),
        "{problem}"
    );
    assert_eq!(
        snapshot(&app, users[0], schedule, &mine.token).await,
        before
    );
    assert_eq!(
        (
            app.balance_of(users[1]).await,
            app.ledger_total(users[1]).await
        ),
        other_before
    );
    assert!(app.in_active_set(concert, mine.ticket_id).await);
    assert!(app.in_active_set(concert, theirs.ticket_id).await);
}

#[tokio::test]
async fn a_payment_short_of_the_sum_or_with_one_paid_hold_changes_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("Short").await;
    let (concert, schedule) = app.create_concert(40_000).await;
    app.fund(user, 79_999).await;
    let access = app.admit(user, concert).await;
    let first = app.hold_ok(&access.token, schedule, 4).await;
    let second = app.hold_ok(&access.token, schedule, 5).await;
    let session = app.session(user);
    let both = vec![first.clone(), second.clone()];

    let before = snapshot(&app, user, schedule, &access.token).await;
    let short = app.pay_many(&session, &both, None).await;
    assert_problem(short, 409, "INSUFFICIENT_BALANCE").await;
    assert_eq!(snapshot(&app, user, schedule, &access.token).await, before);

    // Paying one alone (the single form, with the session token) works and
    // answers with both fields; then the pair is ALREADY_PAID, and the other
    // hold stays held and unpaid.
    let single = app.pay(&session, &first, None).await;
    assert_eq!(single.status(), StatusCode::CREATED);
    let body: Value = single.json().await.unwrap();
    assert_eq!(body["reservation_id"], first.as_str());
    assert_eq!(body["reservation_ids"], json!([first]));
    assert_eq!(body["amount"], 40_000);
    let fresh = app.admit(user, concert).await;
    let before = snapshot(&app, user, schedule, &fresh.token).await;
    let again = app
        .pay_many(&session, &[second.clone(), first.clone()], None)
        .await;
    assert_problem(again, 409, "ALREADY_PAID").await;
    assert_eq!(snapshot(&app, user, schedule, &fresh.token).await, before);
    assert_eq!(app.balance_of(user).await, 39_999);
}

#[tokio::test]
async fn repeated_missing_or_too_many_ids_are_bad_requests() {
    let app = spawn_app().await;
    let user = app.create_user("Sloppy").await;
    let (concert, schedule) = app.create_concert(1_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let mut holds = Vec::new();
    for seat in 1..=4 {
        holds.push(app.hold_ok(&access.token, schedule, seat).await);
    }
    let post = |body: Value| {
        app.client
            .post(app.url("/v1/payments"))
            .bearer_auth(&access.token)
            .header("Idempotency-Key", "sloppy")
            .json(&body)
            .send()
    };
    let five: Vec<String> = holds
        .iter()
        .cloned()
        .chain([uuid::Uuid::new_v4().to_string()])
        .collect();
    for body in [
        json!({ "reservation_ids": [holds[0], holds[1], holds[0]] }),
        json!({ "reservation_ids": five }),
        json!({ "reservation_ids": [] }),
        json!({ "reservation_ids": null }),
        json!({ "reservation_ids": [holds[0]], "reservation_id": holds[1] }),
        json!({ "reservation_ids": null, "reservation_id": holds[1] }),
        json!({}),
    ] {
        let response = post(body.clone()).await.unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM idempotency_keys").await, 0);
    // MAX_SEATS_PER_USER ids are fine.
    let all = app.pay_many(&access.token, &holds, Some("sloppy")).await;
    assert_eq!(all.status(), StatusCode::CREATED);
    assert_eq!(app.balance_of(user).await, 96_000);
}
