//! Concerts, schedules and seat maps, created through the admin API and the
//! `seed` command.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn concerts_schedules_and_seats_are_listed_with_availability() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let created = app
        .admin_post(
            "/v1/admin/concerts",
            &json!({
                "title": "Spring Tour",
                "venue": "Olympic Hall",
                "schedules": [
                    { "starts_at": now - chrono::Duration::days(1), "price": 50_000 },
                    { "starts_at": now + chrono::Duration::days(9), "price": 90_000, "seats": 50 },
                    { "starts_at": now + chrono::Duration::days(2), "price": 70_000, "seats": 20 },
                ],
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let concert = created["concert_id"].as_i64().unwrap();
    let soon = created["schedules"][2]["schedule_id"].as_i64().unwrap();

    // A concert whose only date has passed has no upcoming dates or prices.
    let past = app
        .admin_post(
            "/v1/admin/concerts",
            &json!({
                "title": "Last Year",
                "venue": "Old Hall",
                "schedules": [{ "starts_at": now - chrono::Duration::days(3), "price": 10_000 }],
            }),
        )
        .await;
    assert_eq!(past.status(), StatusCode::CREATED);
    let past = past.json::<Value>().await.unwrap()["concert_id"].clone();
    let concerts: Value = app
        .client
        .get(app.url("/v1/concerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Over the upcoming schedules only: the past one (50,000 KRW) is not in
    // the range.
    let first =
        (now + chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(
        concerts,
        json!([
            { "concert_id": concert, "title": "Spring Tour", "venue": "Olympic Hall",
              "first_starts_at": first, "min_price": 70_000, "max_price": 90_000 },
            { "concert_id": past, "title": "Last Year", "venue": "Old Hall",
              "first_starts_at": null, "min_price": null, "max_price": null },
        ])
    );

    let user = app.create_user("Browser").await;
    let access = app.admit(user, concert).await;
    app.hold_ok(&access.token, soon, 20).await;
    let schedules: Value = app
        .get(&format!("/v1/concerts/{concert}/schedules"), &access.token)
        .await
        .json()
        .await
        .unwrap();
    let schedules = schedules.as_array().unwrap();
    assert_eq!(schedules.len(), 2, "upcoming only: {schedules:?}");
    assert_eq!(schedules[0]["schedule_id"], soon);
    assert_eq!(schedules[0]["total_seats"], 20);
    assert_eq!(schedules[0]["available_seats"], 19);
    assert_eq!(schedules[1]["available_seats"], 50);

    let map: Value = app
        .get(&format!("/v1/schedules/{soon}/seats"), &access.token)
        .await
        .json()
        .await
        .unwrap();
    let seats = map["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 20);
    assert_eq!(
        seats[0],
        json!({ "seat_number": 1, "status": "available", "price": 70_000, "mine": false })
    );
    assert_eq!(seats[19]["status"], "held");
    assert_eq!(seats[19]["mine"], true);
    assert_problem(
        app.hold_seat(&access.token, soon, 21).await,
        404,
        "SEAT_NOT_FOUND",
    )
    .await;
    let missing = app
        .get("/v1/concerts/777777/schedules", &access.token)
        .await;
    assert_problem(missing, 404, "CONCERT_NOT_FOUND").await;
}

#[tokio::test]
async fn admin_input_is_validated() {
    let app = spawn_app().await;
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(201) }),
        json!({ "name": "A", "admin": true }),
    ] {
        assert_problem(
            app.admin_post("/v1/admin/users", &body).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    for schedule in [
        json!({ "starts_at": later, "price": -1 }),
        json!({ "starts_at": later, "price": 10_000_001 }),
        json!({ "starts_at": later, "price": 1, "seats": 0 }),
        json!({ "starts_at": "tomorrow", "price": 1 }),
        json!({ "starts_at": later, "price": 1, "color": "red" }),
    ] {
        let body = json!({ "title": "T", "venue": "V", "schedules": [schedule] });
        assert_problem(
            app.admin_post("/v1/admin/concerts", &body).await,
            400,
            "INVALID_REQUEST",
        )
        .await;
    }
    assert_eq!(app.count("SELECT count(*) FROM concerts").await, 0);
}

#[tokio::test]
async fn seeding_twice_creates_the_demo_data_once() {
    let app = spawn_app().await;
    booking::seed::seed(&app.db).await.unwrap();
    let again = booking::seed::seed(&app.db).await.unwrap();
    assert_eq!((again.users_created, again.concerts_created), (0, 0));
    assert_eq!(app.count("SELECT count(*) FROM users").await, 10);
    assert_eq!(app.count("SELECT min(user_id) FROM users").await, 1);
    assert_eq!(app.count("SELECT max(user_id) FROM users").await, 10);
    assert_eq!(app.count("SELECT count(*) FROM concerts").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM seats").await, 3 * 4 * 50);
    for user in 1..=10 {
        assert_eq!(app.balance_of(user).await, 500_000);
        assert_eq!(app.ledger_total(user).await, 500_000);
    }
    let upcoming = app
        .count("SELECT count(*) FROM schedules WHERE starts_at > now()")
        .await;
    assert_eq!(upcoming, 12);
}
