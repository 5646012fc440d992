//! Bad input of every kind is a 4xx problem, never a 500 or a dropped
//! connection.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn bad_reservation_bodies_are_invalid_requests() {
    let app = spawn_app().await;
    let user = app.create_user("Fuzzer").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let access = app.admit(user, concert).await;
    let post = |body: String| {
        app.client
            .post(app.url("/v1/reservations"))
            .bearer_auth(&access.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let invalid = [
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        json!({ "schedule_id": schedule }).to_string(),
        json!({ "schedule_id": schedule, "seat_number": 1, "price": 1 }).to_string(),
        json!({ "schedule_id": schedule, "seat_number": 1, "user_id": 99 }).to_string(),
        json!({ "schedule_id": schedule, "seat_number": 0 }).to_string(),
        json!({ "schedule_id": schedule, "seat_number": -1 }).to_string(),
        json!({ "schedule_id": schedule, "seat_number": "7" }).to_string(),
        json!({ "schedule_id": schedule, "seat_number": 1.5 }).to_string(),
        json!({ "schedule_id": "x", "seat_number": 1 }).to_string(),
        json!({ "schedule_id": 0, "seat_number": 1 }).to_string(),
        format!(r#"{{"schedule_id": {schedule}, "seat_number": 99999999999999999999999}}"#),
        r#"{"schedule_id": 1e400, "seat_number": 1}"#.to_owned(),
        format!(r#"{{"schedule_id": {schedule}, "seat_number": 4294967297}}"#),
    ];
    for body in invalid {
        let response = post(body.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "body {body}");
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let missing_seat = post(json!({ "schedule_id": schedule, "seat_number": 51 }).to_string())
        .await
        .unwrap();
    assert_problem(missing_seat, 404, "SEAT_NOT_FOUND").await;
    let missing_schedule = post(json!({ "schedule_id": 424_242, "seat_number": 1 }).to_string())
        .await
        .unwrap();
    assert_problem(missing_schedule, 404, "SCHEDULE_NOT_FOUND").await;

    let not_json = app
        .client
        .post(app.url("/v1/reservations"))
        .bearer_auth(&access.token)
        .header("content-type", "text/plain")
        .body(json!({ "schedule_id": schedule, "seat_number": 1 }).to_string())
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 400, "INVALID_REQUEST").await;
    assert_eq!(app.count("SELECT count(*) FROM reservations").await, 0);
}

#[tokio::test]
async fn a_one_megabyte_body_is_payload_too_large() {
    let app = spawn_app().await;
    let user = app.create_user("Big").await;
    let (concert, _) = app.create_concert(10_000).await;
    let access = app.admit(user, concert).await;
    let huge = format!(r#"{{"padding": "{}"}}"#, "x".repeat(1024 * 1024));
    let response = app
        .client
        .post(app.url("/v1/reservations"))
        .bearer_auth(&access.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("the client receives the answer");
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn bad_paths_queries_amounts_and_keys_are_invalid_requests() {
    let app = spawn_app().await;
    let user = app.create_user("Typo").await;
    let token = app.session(user);
    for path in [
        "/v1/schedules/abc/seats".to_owned(),
        "/v1/schedules/0/seats".to_owned(),
        "/v1/schedules/-4/seats".to_owned(),
        "/v1/schedules/99999999999999999999/seats".to_owned(),
        "/v1/concerts/x/schedules".to_owned(),
        "/v1/reservations/not-a-uuid".to_owned(),
        "/v1/users/0/balance".to_owned(),
        format!("/v1/users/{user}/balance/history?limit=0"),
        format!("/v1/users/{user}/balance/history?limit=abc"),
        format!("/v1/users/{user}/balance/history?limit=1001"),
        format!("/v1/users/{user}/balance/history?before=-1"),
        format!("/v1/users/{user}/balance/history?page=2"),
    ] {
        assert_problem(app.get(&path, &token).await, 400, "INVALID_REQUEST").await;
    }
    for amount in [
        json!(0),
        json!(-5),
        json!(10_000_001),
        json!("100"),
        json!(1.5),
        json!(1e30),
    ] {
        let response = app
            .post(
                &format!("/v1/users/{user}/balance/charge"),
                &token,
                &json!({ "amount": amount }),
            )
            .await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let extra = app
        .post(
            &format!("/v1/users/{user}/balance/charge"),
            &token,
            &json!({ "amount": 5, "user_id": 2 }),
        )
        .await;
    assert_problem(extra, 400, "INVALID_REQUEST").await;
    for key in ["".to_owned(), "k".repeat(256), "caf\u{e9}".to_owned()] {
        let response = app
            .client
            .post(app.url(&format!("/v1/users/{user}/balance/charge")))
            .bearer_auth(&token)
            .header("Idempotency-Key", key.as_bytes())
            .json(&json!({ "amount": 5 }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.balance_of(user).await, 0);
    let unknown = app.get("/v1/nowhere", &token).await;
    assert_problem(unknown, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn the_balance_cannot_overflow() {
    let app = spawn_app().await;
    let user = app.create_user("Rich").await;
    sqlx::query("UPDATE balances SET balance = 999999999999 WHERE user_id = $1")
        .bind(user)
        .execute(&app.db)
        .await
        .unwrap();
    let response = app.charge(&app.session(user), user, 10_000_000, None).await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
    assert_eq!(app.balance_of(user).await, 999_999_999_999);
}
