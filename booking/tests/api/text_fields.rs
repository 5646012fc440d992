//! Text with control characters (U+0000–U+001F, U+007F) is `400
//! INVALID_REQUEST` naming the field, in every string of every body and in
//! `Idempotency-Key` (API.md, Errors) — never a 500 from Postgres refusing a
//! NUL byte — and nothing is written.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, PASSWORD, assert_problem, spawn_app};

/// The control characters tried in each field: NUL, the first C0, tab,
/// newline, the last C0 and DEL.
const CONTROLS: [char; 6] = ['\u{0}', '\u{1}', '\t', '\n', '\u{1f}', '\u{7f}'];

/// `body` with the string at `field` (a JSON pointer) given `c` in its middle.
fn poisoned(body: &Value, pointer: &str, c: char) -> Value {
    let mut body = body.clone();
    let slot = body.pointer_mut(pointer).expect("the field exists");
    let text = slot.as_str().expect("a string field").to_owned();
    let middle = text.len() / 2;
    *slot = json!(format!("{}{c}{}", &text[..middle], &text[middle..]));
    body
}

#[tokio::test]
async fn a_control_character_in_any_text_field_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let user = app.create_user("Writer").await;
    let (concert, schedule) = app.create_concert(1_000).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 1).await;
    let session = app.session(user);
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339();
    let users_before = app.count("SELECT count(*) FROM users").await;
    let concerts_before = app.count("SELECT count(*) FROM concerts").await;

    // (path, bearer, a valid body, the JSON pointer of a string, the field's name in the answer)
    let cases: Vec<(&str, &str, Value, &str, &str)> = vec![
        (
            "/v1/admin/users",
            ADMIN_TOKEN,
            json!({"name": "Ada Lovelace", "password": PASSWORD}),
            "/name",
            "name",
        ),
        (
            "/v1/admin/users",
            ADMIN_TOKEN,
            json!({"name": "Ada Lovelace", "password": PASSWORD}),
            "/password",
            "password",
        ),
        (
            "/v1/admin/concerts",
            ADMIN_TOKEN,
            json!({"title": "Night Show", "venue": "Hall", "schedules": [{"starts_at": starts_at, "price": 10, "seats": 50}]}),
            "/title",
            "title",
        ),
        (
            "/v1/admin/concerts",
            ADMIN_TOKEN,
            json!({"title": "Night Show", "venue": "Big Hall", "schedules": [{"starts_at": starts_at, "price": 10, "seats": 50}]}),
            "/venue",
            "venue",
        ),
        (
            "/v1/admin/concerts",
            ADMIN_TOKEN,
            json!({"title": "Night Show", "venue": "Hall", "schedules": [{"starts_at": starts_at, "price": 10, "seats": 50}]}),
            "/schedules/0/starts_at",
            "schedules[0].starts_at",
        ),
        (
            "/v1/sessions",
            "",
            json!({"user_id": user, "password": PASSWORD}),
            "/password",
            "password",
        ),
        (
            "/v1/payments",
            &session,
            json!({"reservation_id": reservation}),
            "/reservation_id",
            "reservation_id",
        ),
    ];
    for (path, bearer, body, pointer, field) in &cases {
        for c in CONTROLS {
            let bad = poisoned(body, pointer, c);
            let mut request = app.client.post(app.url(path)).json(&bad);
            if !bearer.is_empty() {
                request = request.bearer_auth(bearer);
            }
            let response = request.send().await.expect("an answer");
            let problem = assert_problem(response, 400, "INVALID_REQUEST").await;
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(&format!("`{field}`")),
                "{path} {pointer} with U+{:04X}: {detail}",
                u32::from(c)
            );
        }
    }
    // Numbers sent as strings with a control character name their field too.
    for (path, body, field) in [
        (
            "/v1/reservations",
            json!({"schedule_id": schedule, "seat_number": "2\u{0}"}),
            "seat_number",
        ),
        (
            &format!("/v1/users/{user}/balance/charge") as &str,
            json!({"amount": "5\u{0}"}),
            "amount",
        ),
    ] {
        let response = app.post(path, &access.token, &body).await;
        let problem = assert_problem(response, 400, "INVALID_REQUEST").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{problem}"
        );
    }

    assert_eq!(app.count("SELECT count(*) FROM users").await, users_before);
    assert_eq!(
        app.count("SELECT count(*) FROM concerts").await,
        concerts_before
    );
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
}

#[tokio::test]
async fn the_nul_byte_that_postgres_refuses_never_reaches_it() {
    let app = spawn_app().await;
    let response = app
        .admin_post(
            "/v1/admin/users",
            &json!({"name": "a\u{0}b", "password": PASSWORD}),
        )
        .await;
    let problem = assert_problem(response, 400, "INVALID_REQUEST").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("`name`"),
        "{problem}"
    );
    // Text without control characters, however unusual, is stored as sent.
    let odd = "Zoë \u{85}\u{200b} 🎵 \"quoted\" \\ ;";
    let response = app
        .admin_post(
            "/v1/admin/users",
            &json!({"name": odd, "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], odd);
}

#[tokio::test]
async fn a_control_character_in_idempotency_key_is_a_400_naming_the_header() {
    let app = spawn_app().await;
    let user = app.create_user("Keyholder").await;
    let session = app.session(user);
    let (concert, schedule) = app.create_concert(1_000).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 1).await;
    // A tab is the one control character an HTTP header value may carry
    // (RFC 9110, field-value); the others are refused by the HTTP parser
    // before the application sees them (see README, "What the HTTP server
    // answers itself").
    for key in ["key\twith tab", "\tleading-and-inner\tx"] {
        let charge = app.charge(&session, user, 100, Some(key)).await;
        let problem = assert_problem(charge, 400, "INVALID_REQUEST").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{problem}"
        );
        let pay = app.pay(&session, &reservation, Some(key)).await;
        let problem = assert_problem(pay, 400, "INVALID_REQUEST").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{problem}"
        );
    }
    assert_eq!(app.balance_of(user).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
}
