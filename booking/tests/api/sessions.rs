//! Login, sessions and logout (API.md, Booking): passwords stored only as
//! Argon2id hashes, one answer for a wrong id or password, failed logins
//! limited per user id, and a logout every replica honours at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

/// The claims of a compact JWS, without verifying it.
fn payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("a payload segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn a_login_answers_a_session_token_booking_accepts_and_publishes_keys_for() {
    let app = spawn_app().await;
    let user = app.create_user("Ada").await;
    let response = app.login(user, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user_id"], user);
    assert_eq!(body["name"], "Ada");
    let token = body["session_token"].as_str().unwrap();
    let claims = payload(token);
    assert_eq!(claims["iss"], "booking");
    assert_eq!(claims["aud"], "session");
    assert_eq!(claims["sub"], user.to_string());
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600, "SESSION_TTL_SECS");
    let expires_at = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(expires_at, exp);

    let balance = app.get(&format!("/v1/users/{user}/balance"), token).await;
    assert_eq!(balance.status(), StatusCode::OK);

    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = shared::tokens::peek_kid(token).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(
        kid,
        app.session_signer.kid(),
        "signed with SESSION_PRIVATE_KEY_FILE"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let user = app.create_user("Ada").await;
    let without_password = app.create_users(1).await[0];
    let mut bodies = Vec::new();
    for (id, password) in [
        (user, "not the password"),
        (987_654_321, "not the password"),
        (without_password, "not the password"),
        (user, &PASSWORD[..PASSWORD.len() - 1]),
    ] {
        let mut body = assert_problem(app.login(id, password).await, 401, "UNAUTHENTICATED").await;
        body.as_object_mut().unwrap().remove("request_id");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}

#[tokio::test]
async fn failed_logins_of_one_user_id_are_limited() {
    let app = spawn_app().await;
    let user = app.create_user("Target").await;
    let other = app.create_user("Bystander").await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = app.login(user, "a wrong guess").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=900).contains(&retry), "Retry-After {retry}");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10..], [429; 10]);
    // Even the right password waits now; another user id is not affected.
    assert_problem(app.login(user, PASSWORD).await, 429, "RATE_LIMITED").await;
    assert_eq!(
        app.login(other, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_limit() {
    let app = spawn_app().await;
    let user = app.create_user("Target").await;
    let guesses = (0..40).map(|_| app.login(user, "a wrong guess"));
    let statuses: Vec<u16> = futures::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    assert_eq!(checked, 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 30);
}

#[tokio::test]
async fn a_logout_is_refused_by_another_booking_process_at_once() {
    let app = spawn_app().await;
    let user = app.create_user("Ada").await;
    let replica = app.replica().await;
    let body: Value = app.login(user, PASSWORD).await.json().await.unwrap();
    let token = body["session_token"].as_str().unwrap().to_owned();
    let balance_at = |base: &str| {
        app.client
            .get(format!("{base}/v1/users/{user}/balance"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(balance_at(&replica).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        balance_at(&app.address).await.unwrap().status(),
        StatusCode::OK
    );

    let logout = app
        .client
        .delete(app.url("/v1/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_problem(balance_at(&replica).await.unwrap(), 401, "UNAUTHENTICATED").await;
    assert_problem(
        balance_at(&app.address).await.unwrap(),
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let again = app
        .client
        .delete(format!("{replica}/v1/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(again, 401, "UNAUTHENTICATED").await;
    // A new login is a new session.
    let fresh: Value = app.login(user, PASSWORD).await.json().await.unwrap();
    let fresh = fresh["session_token"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/users/{user}/balance"), fresh)
            .await
            .status(),
        StatusCode::OK
    );
    // An access token is no session: it cannot log out.
    let (_, schedule) = app.create_concert(1000).await;
    let _ = schedule;
    let (access, _) = app.token(user, 1, shared::tokens::Audience::Booking);
    let refused = app
        .client
        .delete(app.url("/v1/sessions/current"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn passwords_are_checked_and_stored_only_as_argon2id_hashes() {
    let app = spawn_app().await;
    for (password, what) in [
        ("1234567".to_owned(), "7 characters"),
        ("x".repeat(129), "129 characters"),
        ("with\u{0}nul byte".to_owned(), "a NUL"),
        ("tab\tinside it".to_owned(), "a tab"),
        ("delete\u{7f}char".to_owned(), "DEL"),
    ] {
        let response = app
            .admin_post(
                "/v1/admin/users",
                &json!({"name": "Bad", "password": password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    }
    let missing = app
        .admin_post("/v1/admin/users", &json!({"name": "NoPassword"}))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    for password in ["12345678".to_owned(), "é".repeat(128)] {
        let response = app
            .admin_post(
                "/v1/admin/users",
                &json!({"name": "Ok", "password": password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let user = response.json::<Value>().await.unwrap()["user_id"]
            .as_i64()
            .unwrap();
        let stored: String =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE user_id = $1")
                .bind(user)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains(&password));
        assert_eq!(
            app.login(user, &password).await.status(),
            StatusCode::CREATED
        );
    }
    // A login with bad input is a 400, like any other request.
    let long = app.login(1, &"x".repeat(129)).await;
    assert_problem(long, 400, "INVALID_REQUEST").await;
    let zero = app
        .client
        .post(app.url("/v1/sessions"))
        .json(&json!({"user_id": 0, "password": "whatever1"}))
        .send()
        .await
        .unwrap();
    assert_problem(zero, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn paying_with_a_session_ends_the_users_admission() {
    let app = spawn_app().await;
    let user = app.create_user("Payer").await;
    let (concert, schedule) = app.create_concert(20_000).await;
    app.fund(user, 50_000).await;
    let access = app.admit(user, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 3).await;
    let session = app.session(user);
    let paid = app.pay(&session, &reservation, None).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert!(
        !app.in_active_set(concert, access.ticket_id).await,
        "the user's access token stops working after the payment"
    );
    assert_problem(
        app.hold_seat(&access.token, schedule, 4).await,
        403,
        "NOT_ADMITTED",
    )
    .await;
    assert_eq!(app.balance_of(user).await, 30_000);
    assert_eq!(app.ledger_total(user).await, 30_000);
}

#[tokio::test]
async fn a_logout_survives_the_loss_of_redis_data() {
    let app = spawn_app().await;
    let user = app.create_user("Ada").await;
    let body: Value = app.login(user, PASSWORD).await.json().await.unwrap();
    let token = body["session_token"].as_str().unwrap().to_owned();
    let logout = app
        .client
        .delete(app.url("/v1/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // Every key of this deployment is gone, as after a restart without
    // persistence (only this test's prefix: other tests share the server).
    let mut conn = app.redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();

    let replica = app.replica().await;
    for base in [&app.address, &replica] {
        let response = app
            .client
            .get(format!("{base}/v1/users/{user}/balance"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "UNAUTHENTICATED").await;
    }
    let fresh: Value = app.login(user, PASSWORD).await.json().await.unwrap();
    let fresh = fresh["session_token"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/users/{user}/balance"), fresh)
            .await
            .status(),
        StatusCode::OK
    );
}
