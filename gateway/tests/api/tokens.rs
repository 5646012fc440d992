//! Tokens: what the gateway issues verifies against its JWKS with the
//! contract's claims; forged, expired, misdirected tokens are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::ids::{ConcertId, UserId};
use shared::tokens::{self, Audience, Claims, Jwks, Signer};

use crate::helpers::{TestApp, spawn_app};

async fn served_keys(app: &TestApp) -> tokens::KeySet {
    let jwks: Jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in &jwks.keys {
        assert_eq!(
            (
                key.kty.as_str(),
                key.crv.as_str(),
                key.alg.as_str(),
                key.use_.as_str()
            ),
            ("OKP", "Ed25519", "EdDSA", "sig")
        );
    }
    jwks.key_set()
}

fn payload(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn issued_tokens_verify_against_the_served_jwks_with_the_contract_claims() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    let joined = app.join_ok(concert, user).await;
    let keys = served_keys(&app).await;
    let now = app.state.clock.now_secs();

    let ticket = joined["ticket"].as_str().unwrap();
    let claims = tokens::verify(ticket, &keys, &[Audience::Queue], now).expect("ticket verifies");
    assert_eq!(claims.user_id.get(), user);
    assert_eq!(claims.concert_id.get(), concert);
    assert_eq!(
        claims.ticket_id.to_string(),
        joined["ticket_id"].as_str().unwrap()
    );
    let wire = payload(ticket);
    assert_eq!(
        (
            wire["iss"].clone(),
            wire["aud"].clone(),
            wire["scope"].clone()
        ),
        (json!("gateway"), json!("queue"), json!("wait"))
    );
    assert_eq!(wire["sub"], json!(user.to_string()));
    assert!(wire["exp"].as_i64().unwrap() - wire["iat"].as_i64().unwrap() <= 24 * 3600);

    app.tick().await;
    let active = app.poll(concert, ticket).await.1;
    let access = active["access_token"].as_str().unwrap();
    let claims =
        tokens::verify(access, &keys, &[Audience::Booking], now).expect("access token verifies");
    assert_eq!(
        claims.ticket_id.to_string(),
        joined["ticket_id"].as_str().unwrap(),
        "jti = queue ticket id"
    );
    let wire = payload(access);
    assert_eq!(
        (wire["aud"].clone(), wire["scope"].clone()),
        (json!("booking"), json!("book"))
    );
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(active["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        wire["exp"].as_i64().unwrap(),
        expires_at.timestamp(),
        "exp = end of the active session"
    );
    let session_end_ms: f64 = {
        let key = app
            .state
            .queue_keys(ConcertId::new(concert).unwrap())
            .active()
            .to_owned();
        let mut conn = app.state.redis.clone();
        redis::cmd("ZSCORE")
            .arg(key)
            .arg(claims.ticket_id.to_string())
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(
        wire["exp"].as_i64().unwrap(),
        (session_end_ms as i64) / 1000
    );
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let other_concert = app.create_concert().await;
    let user = app.create_users(1).await[0];
    let joined = app.join_ok(concert, user).await;
    let genuine = joined["ticket"].as_str().unwrap().to_owned();
    let ticket_id = joined["ticket_id"].as_str().unwrap().parse().unwrap();
    // The gateway's own key, from its data directory, to sign tokens that are
    // genuine in every respect but the one under test.
    let pem = std::fs::read_to_string(app.data_dir.join("jwt-ed25519.pem")).unwrap();
    let server_key =
        Signer::new(ed25519_dalek::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem).unwrap());
    let now = app.state.clock.now_secs();
    let claims = |audience, concert: i64, iat: i64, exp: i64| Claims {
        audience,
        user_id: UserId::new(user).unwrap(),
        concert_id: ConcertId::new(concert).unwrap(),
        ticket_id,
        issued_at: iat,
        expires_at: exp,
        queue_epoch: None,
        seq: None,
        shown_eta: None,
    };
    assert_eq!(app.poll(concert, &genuine).await.0, StatusCode::OK);

    let parts: Vec<&str> = genuine.split('.').collect();
    let mut wire = payload(&genuine);
    wire["sub"] = json!("999");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&wire).unwrap()),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let hs256 = {
        use hmac_sha256::sign;
        let header = B64.encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, server_key.kid()));
        let signing_input = format!("{header}.{}", parts[1]);
        let mac = sign(
            server_key.verifying_key().as_bytes(),
            signing_input.as_bytes(),
        );
        format!("{signing_input}.{}", B64.encode(mac))
    };
    let expired = tokens::encode(
        &server_key,
        &claims(Audience::Queue, concert, now - 120, now - 60),
    );
    let wrong_audience = tokens::encode(
        &server_key,
        &claims(Audience::Booking, concert, now, now + 60),
    );
    let unknown_kid = tokens::encode(
        &Signer::generate(),
        &claims(Audience::Queue, concert, now, now + 60),
    );

    for (name, token) in [
        ("tampered payload", tampered.as_str()),
        ("alg none", alg_none.as_str()),
        ("HS256 keyed with the public key", hs256.as_str()),
        ("expired", expired.as_str()),
        (
            "access token on the ticket endpoint",
            wrong_audience.as_str(),
        ),
        ("unknown kid", unknown_kid.as_str()),
        ("garbage", "not.a.token"),
    ] {
        let (status, body) = app.poll(concert, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["code"], "UNAUTHENTICATED", "{name}");
    }

    let (status, body) = app.poll(other_concert, &genuine).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::FORBIDDEN, json!("FORBIDDEN")),
        "ticket of another concert"
    );
}

/// A minimal HMAC-SHA256, only to forge the classic "HS256 keyed with the
/// public key" token.
mod hmac_sha256 {
    use sha2::{Digest, Sha256};

    pub fn sign(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key);
        let inner: Vec<u8> = block
            .iter()
            .map(|b| b ^ 0x36)
            .chain(message.iter().copied())
            .collect();
        let inner_hash = Sha256::digest(inner);
        let outer: Vec<u8> = block
            .iter()
            .map(|b| b ^ 0x5c)
            .chain(inner_hash.iter().copied())
            .collect();
        Sha256::digest(outer).to_vec()
    }
}
