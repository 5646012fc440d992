//! Token signing and verification: this crate's direct Ed25519 JWS versus
//! `jsonwebtoken` with its `rust_crypto` backend, on the same claims and key.
//!
//! Run: `cargo bench -p shared --bench tokens`. Figures are in docs/benchmarks.md.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use shared::ids::{ConcertId, UserId};
use shared::tokens::{self, Audience, Claims, KeySet, Signer, VerifiedCache};

fn claims() -> Claims {
    let now = shared::unix_now();
    Claims {
        audience: Audience::Booking,
        user_id: UserId::new(42).unwrap(),
        concert_id: ConcertId::new(1).unwrap(),
        ticket_id: uuid::Uuid::new_v4(),
        issued_at: now,
        expires_at: now + 600,
        queue_epoch: None,
        seq: None,
        shown_eta: None,
    }
}

fn bench(c: &mut Criterion) {
    let signer = Signer::generate();
    let keys = KeySet::new([signer.verifying_key()]);
    let claims = claims();
    let now = shared::unix_now();

    let ours = tokens::encode(&signer, &claims);
    c.bench_function("sign/direct-ed25519", |b| {
        b.iter(|| tokens::encode(&signer, black_box(&claims)))
    });
    c.bench_function("verify/direct-ed25519", |b| {
        b.iter(|| tokens::verify(black_box(&ours), &keys, &[Audience::Booking], now).unwrap())
    });
    let cache = VerifiedCache::new(shared::cache::Budget::mib(1024, 4));
    c.bench_function("verify/cached", |b| {
        b.iter(|| {
            cache
                .verify(black_box(&ours), &keys, &[Audience::Booking], now)
                .unwrap()
        })
    });

    let session = tokens::SessionClaims {
        user_id: UserId::new(42).unwrap(),
        session_id: Some(uuid::Uuid::new_v4().to_string()),
        issued_at: now,
        expires_at: now + 3600,
    };
    let policy = tokens::IdentityPolicy::default();
    let session_token = tokens::encode_session(&signer, &session);
    c.bench_function("verify/session", |b| {
        b.iter(|| tokens::verify_session(black_box(&session_token), &keys, &policy, now).unwrap())
    });
    // 64 session tokens verified as one batch (what a stampede of first
    // joins does); the figure is per batch, divide by 64.
    let batch: Vec<tokens::SignatureCheck> = (0..64)
        .map(|_| {
            let claims = tokens::SessionClaims {
                session_id: Some(uuid::Uuid::new_v4().to_string()),
                ..session.clone()
            };
            tokens::signature_check(&tokens::encode_session(&signer, &claims), &keys).unwrap()
        })
        .collect();
    c.bench_function("verify/session-signatures-batch-of-64", |b| {
        b.iter(|| {
            assert!(
                tokens::verify_signatures(black_box(&batch))
                    .iter()
                    .all(|&ok| ok)
            )
        })
    });
    let sessions = VerifiedCache::<tokens::SessionClaims>::new(shared::cache::Budget::mib(1024, 4));
    c.bench_function("verify/session-cached", |b| {
        b.iter(|| {
            sessions
                .get_or_verify(black_box(&session_token), &keys, now, || {
                    tokens::verify_session(&session_token, &keys, &policy, now)
                })
                .unwrap()
        })
    });

    let pem = signer.to_pkcs8_pem();
    let enc = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let dec = DecodingKey::from_ed_der(signer.verifying_key().as_bytes());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(signer.kid().to_owned());
    let wire = claims.to_wire();
    let theirs = jsonwebtoken::encode(&header, &wire, &enc).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["booking"]);
    validation.set_issuer(&["gateway"]);
    c.bench_function("sign/jsonwebtoken-rust_crypto", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&wire), &enc).unwrap())
    });
    c.bench_function("verify/jsonwebtoken-rust_crypto", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<tokens::WireClaims>(black_box(&theirs), &dec, &validation)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
