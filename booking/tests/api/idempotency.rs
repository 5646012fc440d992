//! `Idempotency-Key`: byte-identical replays, refusal of a different request
//! under the same key, and replays that work after the token was revoked.

use reqwest::StatusCode;

use shared::limits::RateLimitSettings;

use crate::helpers::{Options, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_payment_replay_is_byte_identical_even_after_the_token_was_revoked() {
    let app = spawn_app().await;
    let user = app.create_user("Retry").await;
    let (concert, schedule) = app.create_concert(40_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 8).await;

    let first = app.pay(&access.token, &reservation, Some("order-8")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.bytes().await.unwrap();
    assert!(
        !app.in_active_set(concert, access.ticket_id).await,
        "the payment revoked the token"
    );

    let replay = app.pay(&access.token, &reservation, Some("order-8")).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.bytes().await.unwrap(), first);
    // Any valid token of the same user may learn the outcome: a session
    // token, too (a queue ticket is no proof of identity: 401).
    let with_session = app
        .pay(&app.session(user), &reservation, Some("order-8"))
        .await;
    assert_eq!(with_session.status(), StatusCode::CREATED);
    assert_eq!(with_session.bytes().await.unwrap(), first);
    let with_ticket = app
        .pay(&app.ticket(user, concert), &reservation, Some("order-8"))
        .await;
    assert_eq!(with_ticket.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(app.balance_of(user).await, 60_000);
    assert_eq!(app.ledger_total(user).await, 60_000);

    // Without the key, the same request is just a second payment attempt.
    let no_key = app.pay(&access.token, &reservation, None).await;
    assert_problem(no_key, 409, "ALREADY_PAID").await;
}

#[tokio::test]
async fn a_charge_replay_charges_once() {
    let app = spawn_app().await;
    let user = app.create_user("Twice").await;
    let token = app.session(user);
    let first = app.charge(&token, user, 5_000, Some("top-up-1")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.bytes().await.unwrap();
    app.fund(user, 1).await;
    let replay = app.charge(&token, user, 5_000, Some("top-up-1")).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.bytes().await.unwrap(), first);
    assert_eq!(app.balance_of(user).await, 5_001);
    assert_eq!(app.ledger_total(user).await, 5_001);
}

#[tokio::test]
async fn a_key_reused_for_a_different_request_is_refused() {
    let app = spawn_app().await;
    let user = app.create_user("Sloppy").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let token = app.session(user);
    assert_eq!(
        app.charge(&token, user, 100, Some("k1")).await.status(),
        StatusCode::OK
    );

    let other_body = app.charge(&token, user, 200, Some("k1")).await;
    assert_problem(other_body, 422, "IDEMPOTENCY_KEY_REUSED").await;
    // Looked up before the request's resources: even a nonexistent reservation.
    let other_path = app
        .pay(&token, "00000000-0000-4000-8000-000000000000", Some("k1"))
        .await;
    assert_problem(other_path, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.balance_of(user).await, 100);

    // Keys are per user: another user's "k1" is a new key.
    let other_user = app.create_user("Neighbour").await;
    let mine = app
        .charge(&app.session(other_user), other_user, 300, Some("k1"))
        .await;
    assert_eq!(mine.status(), StatusCode::OK);

    // A failed request stores nothing: the key can be retried once fixed.
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 1).await;
    let poor = app.pay(&access.token, &reservation, Some("pay-1")).await;
    assert_problem(poor, 409, "INSUFFICIENT_BALANCE").await;
    app.fund(user, 10_000).await;
    assert_eq!(
        app.pay(&access.token, &reservation, Some("pay-1"))
            .await
            .status(),
        StatusCode::CREATED
    );
}

/// 25 concurrent payments of one reservation under one key: each answer is
/// the one stored answer (201, byte-identical) or `409
/// IDEMPOTENCY_IN_PROGRESS` — never an answer caused by the first payment's
/// own effects (its revoked access token, its confirmed reservation) — and
/// the balance is debited once. Repeated a few times, since the race is
/// between requests in flight.
#[tokio::test]
async fn concurrent_payments_under_one_key_get_the_stored_answer_or_in_progress() {
    let app = spawn_app_with(Options {
        limits: RateLimitSettings::off(),
        ..Options::default()
    })
    .await;
    let (concert, schedule) = app.create_concert(10_000).await;
    for round in 0..4 {
        let user = app.create_user(&format!("Racer {round}")).await;
        app.fund(user, 50_000).await;
        let access = app.admit(user, concert).await;
        let reservation = app.hold_ok(&access.token, schedule, 10 + round).await;
        let key = format!("race-{round}");
        let answers = futures::future::join_all(
            (0..25).map(|_| app.pay(&access.token, &reservation, Some(&key))),
        )
        .await;
        let mut stored = Vec::new();
        let mut in_progress = 0;
        for answer in answers {
            match answer.status() {
                StatusCode::CREATED => stored.push(answer.bytes().await.unwrap()),
                StatusCode::CONFLICT => {
                    let body = assert_problem(answer, 409, "IDEMPOTENCY_IN_PROGRESS").await;
                    assert!(body["detail"].is_string());
                    in_progress += 1;
                }
                other => panic!(
                    "round {round}: {other} {}",
                    answer.text().await.unwrap_or_default()
                ),
            }
        }
        assert!(!stored.is_empty(), "round {round}: nobody paid");
        assert!(
            stored.iter().all(|body| *body == stored[0]),
            "round {round}: the 201 answers differ"
        );
        assert_eq!(stored.len() + in_progress, 25);
        assert_eq!(app.balance_of(user).await, 40_000, "round {round}");
        assert_eq!(app.ledger_total(user).await, 40_000, "round {round}");
    }
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 4);
}
