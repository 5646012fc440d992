//! Every join is taken by a logged-in user: the session token says who, a
//! body cannot say otherwise, and nothing but a valid, unrevoked session of
//! the configured identity provider gets a place.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::IdentityProvider;
use shared::tokens::{IdentityPolicy, Signer};

use crate::helpers::{Config, spawn_app, spawn_app_with};

/// A compact JWS of `payload` signed by `signer` (any claims at all).
fn sign(signer: &Signer, payload: &Value) -> String {
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": signer.kid() });
    let mut token = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    );
    let signature = signer.sign(token.as_bytes());
    token.push('.');
    token.push_str(&B64.encode(signature));
    token
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_join_needs_a_valid_session_and_takes_its_user_from_it() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(2).await;
    let (a, b) = (users[0], users[1]);
    let now = shared::unix_now();

    let stranger = IdentityProvider::start().await;
    let ticket_of_a = {
        let (status, body) = app.join(concert, a).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["ticket"].as_str().unwrap().to_owned()
    };
    let expired = sign(
        &app.identity.signer,
        &json!({ "iss": "booking", "aud": "session", "sub": b.to_string(),
                 "jti": "x", "iat": now - 7200, "exp": now - 3600 }),
    );
    let other_issuer = sign(
        &app.identity.signer,
        &json!({ "iss": "gateway", "aud": "session", "sub": b.to_string(),
                 "jti": "y", "iat": now, "exp": now + 600 }),
    );
    for (token, what) in [
        (None, "no token"),
        (Some("garbage".to_owned()), "garbage"),
        (
            Some(stranger.session(b)),
            "a key the identity provider does not publish",
        ),
        (
            Some(ticket_of_a.clone()),
            "a queue ticket instead of a session",
        ),
        (Some(expired), "an expired session"),
        (Some(other_issuer), "another issuer"),
    ] {
        let (status, body) = app.join_with(concert, token.as_deref(), &json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(code(&body), "UNAUTHENTICATED", "{what}");
    }

    // The session of `a` cannot queue `b`, and existing and unknown ids get
    // the same answer (no probing of user ids).
    let session_a = app.identity.session(a);
    for named in [b, 987_654_321] {
        let (status, body) = app
            .join_with(concert, Some(&session_a), &json!({ "user_id": named }))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(code(&body), "FORBIDDEN");
    }
    assert_eq!(app.stats(concert).await["waiting"], 1, "b was not queued");

    // Naming oneself, or sending no body at all, is the same join.
    let (status, again) = app
        .join_with(concert, Some(&session_a), &json!({ "user_id": a }))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let bare = app
        .client
        .post(app.url(&format!("/v1/concerts/{concert}/queue")))
        .bearer_auth(&session_a)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::OK);
    let bare: Value = bare.json().await.unwrap();
    assert_eq!(bare["ticket_id"], again["ticket_id"]);

    // The ticket is for the session's user.
    let claims = app
        .state
        .tokens
        .verify(
            bare["ticket"].as_str().unwrap(),
            &[shared::tokens::Audience::Queue],
            now,
        )
        .unwrap();
    assert_eq!(claims.user_id.get(), a);
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    let claims = app.identity.session_claims(user);
    let session = shared::tokens::encode_session(&app.identity.signer, &claims);
    let (status, _) = app.join_with(concert, Some(&session), &json!({})).await;
    assert_eq!(status, StatusCode::CREATED);

    // What booking's logout writes (`shared::sessions`).
    let key = shared::sessions::revoked_key(&app.prefix, claims.session_id.as_deref().unwrap());
    let mut conn = app.state.redis.clone();
    let () = redis::cmd("SET")
        .arg(key)
        .arg(1)
        .arg("EX")
        .arg(600)
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, body) = app.join_with(concert, Some(&session), &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Another session of the same user still works.
    let (status, _) = app.join(concert, user).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn another_oidc_style_issuer_can_be_the_identity_provider() {
    let app = spawn_app_with(Config {
        identity: IdentityPolicy::for_issuer("https://id.example", "tickets"),
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let now = shared::unix_now();
    let id_token = |aud: Value, sub: &str| {
        sign(
            &app.identity.signer,
            &json!({ "iss": "https://id.example", "aud": aud, "sub": sub,
                     "iat": now, "exp": now + 600, "email": "fan@example.com" }),
        )
    };
    let (status, body) = app
        .join_with(
            concert,
            Some(&id_token(json!(["web", "tickets"]), "77")),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (token, what) in [
        (id_token(json!("web"), "77"), "another audience"),
        (
            id_token(json!("tickets"), "fan@example.com"),
            "a non-numeric subject",
        ),
        (
            app.identity.session(77),
            "booking's issuer, not the configured one",
        ),
    ] {
        let (status, body) = app.join_with(concert, Some(&token), &json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
}

/// Concurrent first joins are verified as Ed25519 batches: forgeries mixed
/// into a stampede of valid sessions are each refused, and every valid
/// session still gets its place.
#[tokio::test]
async fn forgeries_among_concurrent_first_joins_are_refused_and_the_rest_admitted() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let stranger = Signer::generate();
    let now = shared::unix_now();
    let claims = |user: i64| {
        json!({ "iss": "booking", "aud": "session", "sub": user.to_string(),
                "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 600 })
    };

    // A flipped signature bit; the stranger's signature under the provider's
    // kid; another user's claims under a genuine signature.
    let flipped = {
        let mut token = app.identity.session(9_001);
        let last = token.pop().unwrap();
        token.push(if last == 'A' { 'B' } else { 'A' });
        token
    };
    let foreign = {
        let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": app.identity.signer.kid() });
        let mut token = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims(9_002).to_string())
        );
        let signature = stranger.sign(token.as_bytes());
        token.push('.');
        token.push_str(&B64.encode(signature));
        token
    };
    let spliced = {
        let genuine = app.identity.session(9_003);
        let parts: Vec<&str> = genuine.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(claims(1).to_string()),
            parts[2]
        )
    };
    let forgeries = [flipped, foreign, spliced];

    let mut tokens: Vec<(i64, String)> = Vec::new();
    for user in 1..=60_i64 {
        tokens.push((user, app.identity.session(user)));
        if user % 20 == 0 {
            tokens.push((-user, forgeries[(user / 20 - 1) as usize].clone()));
        }
    }
    let joins = tokens.iter().map(|(who, token)| async {
        (*who, app.join_with(concert, Some(token), &json!({})).await)
    });
    for (who, (status, body)) in futures::future::join_all(joins).await {
        if who > 0 {
            assert_eq!(status, StatusCode::CREATED, "user {who}: {body}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "forgery {who}: {body}");
            assert_eq!(code(&body), "UNAUTHENTICATED");
        }
    }
    let stats = app.stats(concert).await;
    let placed = stats["waiting"].as_i64().unwrap() + stats["active"].as_i64().unwrap();
    assert_eq!(placed, 60, "{stats}");
}
