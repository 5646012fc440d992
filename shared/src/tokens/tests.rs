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
        queue_epoch: None,
        seq: None,
        shown_eta: None,
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
        Err(TokenError::Lifetime)
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
    let cache = VerifiedCache::new(crate::cache::Budget::mib(16, 1));
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

/// A gateway token signed by `signer` with `edit` applied to its claims and
/// `header` as its JOSE header.
fn signed_with(signer: &Signer, header: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut wire = serde_json::to_value(claims(Audience::Booking, 1_000).to_wire()).unwrap();
    edit(&mut wire);
    forge(header, &wire, |m| signer.sign(m).to_vec())
}

fn plain_header(signer: &Signer) -> String {
    format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, signer.kid())
}

#[test]
fn lifetime_arithmetic_cannot_overflow() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let forged = signed_with(&signer, &plain_header(&signer), |w| {
        w["iat"] = (-1).into();
        w["exp"] = i64::MAX.into();
    });
    assert_eq!(
        verify(&forged, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Lifetime)
    );
    let backwards = signed_with(&signer, &plain_header(&signer), |w| {
        w["iat"] = 1_050.into();
        w["exp"] = 1_040.into();
    });
    assert_eq!(
        verify(&backwards, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Lifetime)
    );
    let min = signed_with(&signer, &plain_header(&signer), |w| {
        w["iat"] = i64::MIN.into();
        w["exp"] = 2_000.into();
    });
    assert_eq!(
        verify(&min, &keys, &[Audience::Booking], 1_000),
        Err(TokenError::Lifetime)
    );
}

#[test]
fn a_crit_header_is_refused_even_when_null_or_empty() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    for crit in [r#"["exp"]"#, "[]", "null"] {
        let header = format!(
            r#"{{"alg":"EdDSA","kid":"{}","crit":{crit}}}"#,
            signer.kid()
        );
        let token = signed_with(&signer, &header, |_| {});
        assert_eq!(
            verify(&token, &keys, &[Audience::Booking], 1_000),
            Err(TokenError::Critical),
            "crit {crit}"
        );
    }
}

#[test]
fn typ_is_checked_when_present() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let with_typ = |typ: &str| {
        let header = format!(
            r#"{{"alg":"EdDSA","typ":"{typ}","kid":"{}"}}"#,
            signer.kid()
        );
        signed_with(&signer, &header, |_| {})
    };
    for ok in ["JWT", "jwt", "application/jwt", "Application/JWT"] {
        assert!(
            verify(&with_typ(ok), &keys, &[Audience::Booking], 1_000).is_ok(),
            "typ {ok}"
        );
    }
    for bad in ["JOSE", "at+jwt", "application/json", "", "JWTX", "é"] {
        assert_eq!(
            verify(&with_typ(bad), &keys, &[Audience::Booking], 1_000),
            Err(TokenError::Type),
            "typ {bad}"
        );
    }
    let no_typ = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, signer.kid());
    assert!(
        verify(
            &signed_with(&signer, &no_typ, |_| {}),
            &keys,
            &[Audience::Booking],
            1_000
        )
        .is_ok()
    );
}

#[test]
fn nbf_is_honoured_with_the_clock_skew() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let with_nbf =
        |nbf: i64| signed_with(&signer, &plain_header(&signer), |w| w["nbf"] = nbf.into());
    assert_eq!(
        verify(
            &with_nbf(1_000 + CLOCK_SKEW_SECS + 1),
            &keys,
            &[Audience::Booking],
            1_000
        ),
        Err(TokenError::NotYetValid)
    );
    assert!(
        verify(
            &with_nbf(1_000 + CLOCK_SKEW_SECS),
            &keys,
            &[Audience::Booking],
            1_000
        )
        .is_ok()
    );
    assert!(verify(&with_nbf(900), &keys, &[Audience::Booking], 1_000).is_ok());
}

#[test]
fn an_iat_beyond_the_clock_skew_is_refused() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let issued = |iat: i64| {
        signed_with(&signer, &plain_header(&signer), |w| {
            w["iat"] = iat.into();
            w["exp"] = (iat + 600).into();
        })
    };
    assert_eq!(
        verify(
            &issued(1_000 + CLOCK_SKEW_SECS + 1),
            &keys,
            &[Audience::Booking],
            1_000
        ),
        Err(TokenError::IssuedInFuture)
    );
    assert!(
        verify(
            &issued(1_000 + CLOCK_SKEW_SECS),
            &keys,
            &[Audience::Booking],
            1_000
        )
        .is_ok()
    );
}

#[test]
fn only_a_canonical_positive_decimal_sub_is_a_user() {
    for bad in [
        "003",
        "+3",
        "-3",
        "0",
        " 3",
        "3 ",
        "3.0",
        "",
        "0x3",
        "٣",
        "9223372036854775808",
    ] {
        assert_eq!(parse_subject(bad), Err(TokenError::Subject), "sub {bad:?}");
    }
    assert_eq!(parse_subject("3"), Ok(UserId::new(3).unwrap()));
    assert_eq!(
        parse_subject("9223372036854775807"),
        Ok(UserId::new(i64::MAX).unwrap())
    );

    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    for bad in ["007", "+7"] {
        let token = signed_with(&signer, &plain_header(&signer), |w| w["sub"] = bad.into());
        assert_eq!(
            verify(&token, &keys, &[Audience::Booking], 1_000),
            Err(TokenError::Subject)
        );
    }
}

fn session(user: i64, now: i64) -> SessionClaims {
    SessionClaims {
        user_id: UserId::new(user).unwrap(),
        session_id: Some(Uuid::new_v4().to_string()),
        issued_at: now,
        expires_at: now + 3600,
    }
}

#[test]
fn session_tokens_round_trip_and_are_not_gateway_tokens() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let policy = IdentityPolicy::default();
    let s = session(5, 1_000);
    let token = encode_session(&signer, &s);
    assert_eq!(verify_session(&token, &keys, &policy, 1_000), Ok(s.clone()));
    assert_eq!(
        verify_session(&token, &keys, &policy, 1_000 + 3600),
        Err(TokenError::Expired)
    );
    // A session token is no ticket or access token, and the reverse.
    assert_eq!(
        verify(&token, &keys, &[Audience::Queue, Audience::Booking], 1_000),
        Err(TokenError::Claims)
    );
    let ticket = encode(&signer, &claims(Audience::Queue, 1_000));
    assert_eq!(
        verify_session(&ticket, &keys, &policy, 1_000),
        Err(TokenError::Issuer)
    );
    // Another key, or another issuer's policy, is refused.
    let stranger = Signer::generate();
    assert_eq!(
        verify_session(&encode_session(&stranger, &s), &keys, &policy, 1_000),
        Err(TokenError::UnknownKid)
    );
    let other = IdentityPolicy::for_issuer("https://id.example", "tickets");
    assert_eq!(
        verify_session(&token, &keys, &other, 1_000),
        Err(TokenError::Issuer)
    );
}

#[test]
fn a_foreign_identity_provider_with_an_audience_array_works() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let policy = IdentityPolicy::for_issuer("https://id.example", "tickets");
    let header = plain_header(&signer);
    let oidc = |aud: serde_json::Value, sub: &str| {
        let payload = serde_json::json!({
            "iss": "https://id.example", "sub": sub, "aud": aud,
            "iat": 1_000, "exp": 1_300, "email": "fan@example.com",
        });
        forge(&header, &payload, |m| signer.sign(m).to_vec())
    };
    let ok = verify_session(
        &oidc(serde_json::json!(["web", "tickets"]), "42"),
        &keys,
        &policy,
        1_000,
    )
    .unwrap();
    assert_eq!(ok.user_id.get(), 42);
    assert_eq!(ok.session_id, None);
    assert_eq!(
        verify_session(
            &oidc(serde_json::json!(["web"]), "42"),
            &keys,
            &policy,
            1_000
        ),
        Err(TokenError::Audience)
    );
    assert_eq!(
        verify_session(
            &oidc(serde_json::json!("tickets"), "fan@example.com"),
            &keys,
            &policy,
            1_000
        ),
        Err(TokenError::Subject)
    );
}

#[test]
fn a_cached_token_is_refused_once_its_key_leaves_the_set() {
    let retired = Signer::generate();
    let current = Signer::generate();
    let both = KeySet::new([retired.verifying_key(), current.verifying_key()]);
    let only_current = KeySet::new([current.verifying_key()]);
    let cache = VerifiedCache::new(crate::cache::Budget::mib(16, 1));
    let token = encode(&retired, &claims(Audience::Booking, 1_000));
    assert!(
        cache
            .verify(&token, &both, &[Audience::Booking], 1_000)
            .is_ok()
    );
    assert_eq!(
        cache.verify(&token, &only_current, &[Audience::Booking], 1_001),
        Err(TokenError::UnknownKid),
        "the cached answer must not outlive the key"
    );
    let fresh = encode(&current, &claims(Audience::Booking, 1_000));
    assert!(
        cache
            .verify(&fresh, &both, &[Audience::Booking], 1_000)
            .is_ok()
    );
    assert!(
        cache
            .verify(&fresh, &only_current, &[Audience::Booking], 1_001)
            .is_ok()
    );
}

#[test]
fn booking_sessions_must_name_a_uuid_session() {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let header = plain_header(&signer);
    let with_jti = |jti: Option<&str>| {
        let mut payload = serde_json::json!({
            "iss": "booking", "aud": "session", "sub": "5", "iat": 1_000, "exp": 1_300,
        });
        if let Some(jti) = jti {
            payload["jti"] = jti.into();
        }
        forge(&header, &payload, |m| signer.sign(m).to_vec())
    };
    let booking = IdentityPolicy::default();
    assert!(booking.require_session_id);
    for bad in [None, Some("x"), Some("")] {
        assert_eq!(
            verify_session(&with_jti(bad), &keys, &booking, 1_000),
            Err(TokenError::Claims),
            "jti {bad:?}"
        );
    }
    let id = Uuid::new_v4().to_string();
    assert!(verify_session(&with_jti(Some(&id)), &keys, &booking, 1_000).is_ok());
    // A foreign provider's policy takes tokens without one.
    let foreign = IdentityPolicy {
        issuer: "booking".into(),
        ..IdentityPolicy::for_issuer("https://id.example", "session")
    };
    assert!(verify_session(&with_jti(None), &keys, &foreign, 1_000).is_ok());
}
