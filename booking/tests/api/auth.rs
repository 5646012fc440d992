//! Authentication (401), then the two authorization levels: *user* and
//! *admitted* (403), in the contract's order.

use serde_json::json;
use shared::ids::{ConcertId, UserId};
use shared::tokens::{Audience, Claims, Signer, encode};
use uuid::Uuid;

use crate::helpers::{Options, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn missing_malformed_foreign_and_expired_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let user = app.create_user("Eve").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let path = format!("/v1/schedules/{schedule}/seats");

    let none = app.client.get(app.url(&path)).send().await.unwrap();
    assert_problem(none, 401, "UNAUTHENTICATED").await;
    assert_problem(app.get(&path, "not-a-token").await, 401, "UNAUTHENTICATED").await;

    let foreign = Signer::generate();
    let now = shared::unix_now();
    let claims = Claims {
        audience: Audience::Booking,
        user_id: UserId::new(user).unwrap(),
        concert_id: ConcertId::new(concert).unwrap(),
        ticket_id: Uuid::new_v4(),
        issued_at: now,
        expires_at: now + 600,
        queue_epoch: None,
        seq: None,
        shown_eta: None,
    };
    assert_problem(
        app.get(&path, &encode(&foreign, &claims)).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let expired = Claims {
        issued_at: now - 700,
        expires_at: now - 100,
        ..claims
    };
    assert_problem(
        app.get(&path, &encode(&app.signer, &expired)).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let mut tampered = encode(&app.signer, &claims);
    tampered.insert(tampered.len() / 2, 'x');
    assert_problem(app.get(&path, &tampered).await, 401, "UNAUTHENTICATED").await;

    // Authentication comes before input validation.
    let bad_body = app
        .client
        .post(app.url("/v1/reservations"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(bad_body, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn a_queue_ticket_is_never_accepted_and_a_session_cannot_book() {
    let app = spawn_app().await;
    let user = app.create_user("Waiting").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    // A queue ticket proves a browser waited, not who the user is: 401
    // everywhere, the user level included.
    let ticket = app.ticket(user, concert);
    assert_problem(
        app.hold_seat(&ticket, schedule, 1).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/users/{user}/balance"), &ticket).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_problem(
        app.charge(&ticket, user, 100, None).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    // A session token is the user level only: booking needs admission.
    let session = app.session(user);
    assert_problem(
        app.hold_seat(&session, schedule, 1).await,
        403,
        "NOT_ADMITTED",
    )
    .await;
    let seats = app
        .get(&format!("/v1/schedules/{schedule}/seats"), &session)
        .await;
    assert_problem(seats, 403, "NOT_ADMITTED").await;
    let schedules = app
        .get(&format!("/v1/concerts/{concert}/schedules"), &session)
        .await;
    assert_problem(schedules, 403, "NOT_ADMITTED").await;
    assert_eq!(
        app.get(&format!("/v1/users/{user}/balance"), &session)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_access_token_outside_the_active_set_is_not_admitted() {
    let app = spawn_app().await;
    let user = app.create_user("Late").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let (token, _) = app.token(user, concert, Audience::Booking);
    assert_problem(
        app.hold_seat(&token, schedule, 1).await,
        403,
        "NOT_ADMITTED",
    )
    .await;
}

#[tokio::test]
async fn a_token_of_another_concert_is_forbidden() {
    let app = spawn_app().await;
    let user = app.create_user("Wanderer").await;
    let (concert_x, _) = app.create_concert(10_000).await;
    let (concert_y, schedule_y) = app.create_concert(10_000).await;
    let access = app.admit(user, concert_x).await;
    assert_problem(
        app.hold_seat(&access.token, schedule_y, 1).await,
        403,
        "FORBIDDEN",
    )
    .await;
    let seats = app
        .get(&format!("/v1/schedules/{schedule_y}/seats"), &access.token)
        .await;
    assert_problem(seats, 403, "FORBIDDEN").await;
    let schedules = app
        .get(
            &format!("/v1/concerts/{concert_y}/schedules"),
            &access.token,
        )
        .await;
    assert_problem(schedules, 403, "FORBIDDEN").await;
    // Existence is checked before admission.
    assert_problem(
        app.hold_seat(&access.token, 999_999, 1).await,
        404,
        "SCHEDULE_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn balances_belong_to_their_user() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let token = app.session(users[0]);
    let own = app
        .get(&format!("/v1/users/{}/balance", users[0]), &token)
        .await;
    assert_eq!(own.status(), 200);
    let other = app
        .get(&format!("/v1/users/{}/balance", users[1]), &token)
        .await;
    assert_problem(other, 403, "FORBIDDEN").await;
    let history = app
        .get(&format!("/v1/users/{}/balance/history", users[1]), &token)
        .await;
    assert_problem(history, 403, "FORBIDDEN").await;
    let charge = app.charge(&token, users[1], 100, None).await;
    assert_problem(charge, 403, "FORBIDDEN").await;
    assert_problem(
        app.get("/v1/users/999999/balance", &token).await,
        404,
        "USER_NOT_FOUND",
    )
    .await;
    assert_eq!(app.balance_of(users[1]).await, 0);
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let app = spawn_app().await;
    let body = json!({ "name": "Mallory", "password": "long enough" });
    let wrong = app.post("/v1/admin/users", "guess", &body).await;
    assert_problem(wrong, 403, "FORBIDDEN").await;
    let none = app
        .client
        .post(app.url("/v1/admin/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(none, 403, "FORBIDDEN").await;
    let session = app.session(1);
    assert_problem(
        app.post("/v1/admin/users", &session, &body).await,
        403,
        "FORBIDDEN",
    )
    .await;
    // The admin token is checked before the body.
    let garbage = app
        .client
        .post(app.url("/v1/admin/concerts"))
        .body("{{{")
        .send()
        .await
        .unwrap();
    assert_problem(garbage, 403, "FORBIDDEN").await;

    let disabled = spawn_app_with(Options {
        admin_token: None,
        ..Options::default()
    })
    .await;
    let refused = disabled
        .post("/v1/admin/users", crate::helpers::ADMIN_TOKEN, &body)
        .await;
    assert_problem(refused, 403, "FORBIDDEN").await;
}
