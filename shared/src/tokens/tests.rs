use super::*;
use sha2::{Digest, Sha256};

fn claims(audience: Audience, now: i64) -> Claims {
    Claims {
        audience,
        user_id: UserId::new(7).unwrap(),
        concert_id: ConcertId::new(3).unwrap(),
        ticket_id: Uuid::new_v4(),
        issued_at: now,
        expires_at: now + 60,
    }
}

fn forge(header: &str, payload: &serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let mut token = format!(
        "{}.{}",
        B64.encode(header),
        B64.encode(serde_json::to_vec(payload).unwrap())
    );
    let sig = sign(token.as_bytes());
    token.push('.');
    token.push_str(&B64.encode(sig));
    token
}

#[test]
fn round_trip_and_audience() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let c = claims(Audience::Queue, 1_000);
    let token = encode(&signer, &c);
    assert_eq!(verify(&token, &keys, &[Audience::Queue], 1_000), Ok(c));
    assert_eq!(
        verify(&token, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Audience)
    );
    assert_eq!(
        verify(&token, &keys, &[Audience::Queue], 1_060),
        Err(TokenError::Expired)
    );
    assert_eq!(peek_kid(&token).as_deref(), Ok(signer.kid()));
}

#[test]
fn rejects_forgeries() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let c = claims(Audience::Booking, 1_000);
    let token = encode(&signer, &c);
    let mut wire = serde_json::to_value(c.to_wire()).unwrap();

    // Tampered payload, original signature.
    wire["sub"] = "8".into();
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&wire).unwrap()),
        parts[2]
    );
    assert_eq!(
        verify(&tampered, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Signature)
    );

    // alg: none, no signature.
    let none = format!(
        "{}.{}.",
        B64.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, signer.kid())),
        parts[1]
    );
    assert_eq!(
        verify(&none, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Algorithm)
    );

    // HS256 keyed with the public key bytes.
    let hs = forge(
        &format!(r#"{{"alg":"HS256","kid":"{}"}}"#, signer.kid()),
        &wire,
        |m| Sha256::digest([signer.verifying_key().as_bytes().as_slice(), m].concat()).to_vec(),
    );
    assert_eq!(
        verify(&hs, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Algorithm)
    );

    // Signed by a key that is not in the set.
    let stranger = Signer::generate();
    let other = encode(&stranger, &c);
    assert_eq!(
        verify(&other, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::UnknownKid)
    );

    // Correctly signed but claims missing `cid`.
    let mut no_cid = serde_json::to_value(c.to_wire()).unwrap();
    no_cid.as_object_mut().unwrap().remove("cid");
    let header = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, signer.kid());
    let missing = forge(&header, &no_cid, |m| signer.sign(m).to_vec());
    assert_eq!(
        verify(&missing, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Claims)
    );

    // Wrong issuer.
    let mut wrong_iss = serde_json::to_value(c.to_wire()).unwrap();
    wrong_iss["iss"] = "someone".into();
    let forged = forge(&header, &wrong_iss, |m| signer.sign(m).to_vec());
    assert_eq!(
        verify(&forged, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Issuer)
    );

    // Lifetime over 24 h.
    let mut long = serde_json::to_value(c.to_wire()).unwrap();
    long["exp"] = (1_000 + MAX_TOKEN_LIFETIME_SECS + 1).into();
    let forged = forge(&header, &long, |m| signer.sign(m).to_vec());
    assert_eq!(
        verify(&forged, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Claims)
    );

    assert_eq!(
        verify("a.b", &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Malformed)
    );
    assert_eq!(
        verify("", &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Malformed)
    );
}

#[test]
fn cache_honours_exp_and_audience() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let cache = VerifiedCache::new(16);
    let c = claims(Audience::Queue, 1_000);
    let token = encode(&signer, &c);
    assert_eq!(
        cache.verify(&token, &keys, &[Audience::Queue], 1_000),
        Ok(c)
    );
    assert_eq!(
        cache.verify(&token, &keys, &[Audience::Queue], 1_001),
        Ok(c)
    );
    assert_eq!(
        cache.verify(&token, &keys, &[Audience::Booking], 1_001),
        Err(TokenError::Audience)
    );
    assert_eq!(
        cache.verify(&token, &keys, &[Audience::Queue], 1_060),
        Err(TokenError::Expired)
    );
}

#[test]
fn jwk_round_trip_and_thumbprint_kid() {
    let signer = Signer::generate();
    let jwk = signer.jwk();
    assert_eq!(jwk.kid, signer.kid());
    assert_eq!(jwk.to_key(), Some(signer.verifying_key()));
    let jwks = Jwks { keys: vec![jwk] };
    assert!(jwks.key_set().get(signer.kid()).is_some());
}

#[test]
fn generated_key_is_kept_and_shared() {
    let dir = std::env::temp_dir().join(format!("tq-keys-{}", Uuid::new_v4().simple()));
    let path = dir.join("jwt-ed25519.pem");
    let first = load_or_generate_signing_key(None, &path).unwrap();
    let second = load_or_generate_signing_key(None, &path).unwrap();
    assert_eq!(first.kid(), second.kid());
    let _ = std::fs::remove_dir_all(dir);
}
