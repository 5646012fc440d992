//! Paying for a hold: the seat is sold, the balance debited through the
//! ledger, and the access token revoked; failures change nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn paying_sells_the_seat_debits_the_ledger_and_revokes_the_token() {
    let app = spawn_app().await;
    let user = app.create_user("Buyer").await;
    let (concert, schedule) = app.create_concert(80_000).await;
    app.fund(user, 100_000).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 12).await;

    let response = app.pay(&access.token, &reservation, None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reservation_id"], reservation.as_str());
    assert_eq!(body["amount"], 80_000);
    assert_eq!(body["balance"], 20_000);
    assert!(body["payment_id"].as_str().is_some() && body["paid_at"].as_str().is_some());
    assert_eq!(app.balance_of(user).await, 20_000);
    assert_eq!(app.ledger_total(user).await, 20_000);

    let read: Value = app
        .get(&format!("/v1/reservations/{reservation}"), &access.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "confirmed");
    assert!(!app.in_active_set(concert, access.ticket_id).await);
    let seats = app
        .get(&format!("/v1/schedules/{schedule}/seats"), &access.token)
        .await;
    assert_problem(seats, 403, "NOT_ADMITTED").await;
    let again = app.hold_seat(&access.token, schedule, 13).await;
    assert_problem(again, 403, "NOT_ADMITTED").await;

    let fresh = app.admit(user, concert).await;
    let map: Value = app
        .get(&format!("/v1/schedules/{schedule}/seats"), &fresh.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(map["seats"][11]["status"], "sold");
    assert_eq!(map["seats"][11]["seat_number"], 12);
    let twice = app.pay(&fresh.token, &reservation, None).await;
    assert_problem(twice, 409, "ALREADY_PAID").await;
    let release = app
        .client
        .delete(app.url(&format!("/v1/reservations/{reservation}")))
        .bearer_auth(&fresh.token)
        .send()
        .await
        .unwrap();
    assert_problem(release, 409, "ALREADY_PAID").await;
}

#[tokio::test]
async fn an_insufficient_balance_changes_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("Short").await;
    let (concert, schedule) = app.create_concert(60_000).await;
    app.fund(user, 59_999).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 2).await;

    let refused = app.pay(&access.token, &reservation, None).await;
    assert_problem(refused, 409, "INSUFFICIENT_BALANCE").await;
    assert_eq!(app.balance_of(user).await, 59_999);
    assert_eq!(app.ledger_total(user).await, 59_999);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    let read: Value = app
        .get(&format!("/v1/reservations/{reservation}"), &access.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "held");
    assert!(app.in_active_set(concert, access.ticket_id).await);

    app.fund(user, 1).await;
    assert_eq!(
        app.pay(&access.token, &reservation, None).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.balance_of(user).await, 0);
    assert_eq!(app.ledger_total(user).await, 0);
}

#[tokio::test]
async fn another_users_reservation_does_not_exist_for_them() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(users[1], 50_000).await;
    let owner = app.admit(users[0], concert).await;
    let thief = app.admit(users[1], concert).await;
    let reservation = app.hold_ok(&owner.token, schedule, 4).await;

    let pay = app.pay(&thief.token, &reservation, None).await;
    assert_problem(pay, 404, "RESERVATION_NOT_FOUND").await;
    let read = app
        .get(&format!("/v1/reservations/{reservation}"), &thief.token)
        .await;
    assert_problem(read, 404, "RESERVATION_NOT_FOUND").await;
    assert_eq!(app.balance_of(users[1]).await, 50_000);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
}
