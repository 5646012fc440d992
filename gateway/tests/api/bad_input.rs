//! Bad input always gets the contract's 4xx problem+json, never a 500.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, spawn_app};

async fn assert_problem(response: reqwest::Response, status: StatusCode, code: &str, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{what}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["status"], status.as_u16(), "{what}");
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{what}"
    );
}

#[tokio::test]
async fn join_rejects_bad_bodies_and_unknown_ids_with_the_contract_codes() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    let session = app.identity.session(user);
    let url = app.url(&format!("/v1/concerts/{concert}/queue"));
    let post = |body: String| {
        app.client
            .post(&url)
            .bearer_auth(&session)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    for (body, what) in [
        ("{".to_owned(), "malformed JSON"),
        (r#"{"user_id": "1"}"#.to_owned(), "string id"),
        (
            format!(r#"{{"user_id": {user}, "admin": true}}"#),
            "unknown field",
        ),
        (r#"{"user_id": 0}"#.to_owned(), "user id 0"),
        (r#"{"user_id": -1}"#.to_owned(), "negative user id"),
        (
            r#"{"user_id": 99999999999999999999}"#.to_owned(),
            "huge user id",
        ),
        (r#"{"user_id": 1.5}"#.to_owned(), "fractional user id"),
        ("[]".to_owned(), "array body"),
        ("null".to_owned(), "null body"),
    ] {
        assert_problem(
            post(body).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            what,
        )
        .await;
    }
    let no_type = app
        .client
        .post(&url)
        .bearer_auth(&session)
        .body(format!(r#"{{"user_id": {user}}}"#))
        .send()
        .await
        .unwrap();
    assert_problem(
        no_type,
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "no content type",
    )
    .await;
    let huge = app
        .client
        .post(&url)
        .bearer_auth(&session)
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_problem(
        huge,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "1 MB body",
    )
    .await;

    let unknown_concert = app
        .client
        .post(app.url("/v1/concerts/987654321/queue"))
        .bearer_auth(&session)
        .json(&json!({ "user_id": user }))
        .send()
        .await
        .unwrap();
    assert_problem(
        unknown_concert,
        StatusCode::NOT_FOUND,
        "CONCERT_NOT_FOUND",
        "unknown concert",
    )
    .await;
    for bad in ["0", "-5", "abc", "99999999999999999999", "1.5"] {
        let response = app
            .client
            .post(app.url(&format!("/v1/concerts/{bad}/queue")))
            .bearer_auth(&session)
            .json(&json!({ "user_id": user }))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST", bad).await;
    }
}

#[tokio::test]
async fn missing_or_garbage_credentials_are_refused() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let status_url = app.url(&format!("/v1/concerts/{concert}/queue/status"));
    let none = app.client.get(&status_url).send().await.unwrap();
    assert_problem(
        none,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "no Authorization",
    )
    .await;
    for header in [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b.c",
        "garbage",
    ] {
        let response = app
            .client
            .get(&status_url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(
            response,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            header,
        )
        .await;
    }
    let leave = app
        .client
        .delete(app.url(&format!("/v1/concerts/{concert}/queue/me")))
        .send()
        .await
        .unwrap();
    assert_problem(
        leave,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "leave without a token",
    )
    .await;

    let admin_url = app.url(&format!("/v1/admin/concerts/{concert}/queue"));
    let no_admin = app
        .client
        .patch(&admin_url)
        .json(&json!({ "paused": true }))
        .send()
        .await
        .unwrap();
    assert_problem(
        no_admin,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "admin without token",
    )
    .await;
    let wrong = app
        .client
        .patch(&admin_url)
        .bearer_auth("guess")
        .json(&json!({ "paused": true }))
        .send()
        .await
        .unwrap();
    assert_problem(
        wrong,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "admin with a wrong token",
    )
    .await;
    // The admin check comes first, even for a path that would not parse.
    let first = app
        .client
        .patch(app.url("/v1/admin/concerts/abc/queue"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(
        first,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "admin check before validation",
    )
    .await;
}

#[tokio::test]
async fn admin_settings_are_range_checked() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    for (body, what) in [
        (
            json!({ "admit_per_tick": 100_001 }),
            "admit_per_tick too big",
        ),
        (json!({ "admit_per_tick": -1 }), "negative admit_per_tick"),
        (json!({ "max_active": 10_000_001 }), "max_active too big"),
        (json!({ "paused": "yes" }), "paused not a boolean"),
        (json!({ "speed": 3 }), "unknown field"),
    ] {
        let response = app
            .client
            .patch(app.url(&format!("/v1/admin/concerts/{concert}/queue")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "INVALID_REQUEST", what).await;
    }
    let (status, body) = app
        .patch_queue(
            concert,
            json!({ "admit_per_tick": 100_000, "max_active": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "limits are inclusive: {body}");
    let missing = app
        .client
        .patch(app.url("/v1/admin/concerts/987654321/queue"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "paused": true }))
        .send()
        .await
        .unwrap();
    assert_problem(
        missing,
        StatusCode::NOT_FOUND,
        "CONCERT_NOT_FOUND",
        "unknown concert",
    )
    .await;
    let unknown_route = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_problem(
        unknown_route,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "unknown route",
    )
    .await;
}

/// The gateway's bodies carry no free text, but a string with a control
/// character in any of their fields is still a `400` naming the field.
#[tokio::test]
async fn a_control_character_in_any_body_field_is_a_400_naming_it() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    let session = app.identity.session(user);
    for c in ['\u{0}', '\u{1}', '\t', '\n', '\u{1f}', '\u{7f}'] {
        let bad = format!("1{c}");
        let response = app
            .client
            .post(app.url(&format!("/v1/concerts/{concert}/queue")))
            .bearer_auth(&session)
            .json(&json!({ "user_id": bad }))
            .send()
            .await
            .unwrap();
        let what = format!("join with U+{:04X}", u32::from(c));
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("`user_id`"),
            "{what}: {body}"
        );
        for field in ["paused", "admit_per_tick", "max_active"] {
            let (status, body) = app.patch_queue(concert, json!({ field: bad })).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("`{field}`")),
                "{field}: {body}"
            );
        }
    }
}

/// A path segment that is no UTF-8 (`%ff`) or no number is refused with the
/// contract's envelope (API.md "Errors": bad path parameters are
/// `400 INVALID_REQUEST` problem+json), on the fan pages' module route and
/// on the queue routes whose path is read before any token, never axum's plain-text rejection.
#[tokio::test]
async fn bad_path_parameters_are_problem_json_on_every_route() {
    let app = spawn_app().await;
    let client = &app.client;
    for (method, path) in [
        ("GET", "/js/%ff"),
        ("GET", "/js/%c3%28.js"),
        ("GET", "/v1/concerts/%ff/queue"),
        ("GET", "/v1/concerts/abc/queue"),
        ("GET", "/v1/concerts/99999999999999999999999/queue"),
        ("PATCH", "/v1/admin/concerts/%ff/queue"),
    ] {
        let request = match method {
            "GET" => client.get(app.url(path)),
            "POST" => client.post(app.url(path)),
            _ => client
                .patch(app.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .header("content-type", "application/json")
                .body("{}"),
        };
        assert_problem(
            request.send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("{method} {path}"),
        )
        .await;
    }
}
