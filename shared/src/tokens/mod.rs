//! Queue tickets and access tokens: compact JWS signed with Ed25519 (`EdDSA`).
//!
//! The gateway signs ([`Signer`]); booking and the gateway verify against a
//! [`KeySet`] of public keys (the gateway's own, or the JWKS fetched by
//! [`JwksClient`]). Encoding and verification are written directly on
//! `ed25519-dalek`: the format is three base64url segments, and doing it here
//! keeps the verifier strict (one algorithm, a required `kid`, required claims)
//! and about twice as fast as a general JWT library (`benches/tokens.rs`).

mod cache;
mod jwks;
mod keys;

pub use cache::VerifiedCache;
pub use ed25519_dalek::VerifyingKey;
pub use jwks::{Jwk, Jwks, JwksClient};
pub use keys::{KeySet, Signer, load_or_generate_signing_key, load_public_key_pem};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{ConcertId, UserId};

/// The `iss` of every token.
pub const ISSUER: &str = "gateway";
/// Longest lifetime of any token, as the contract allows.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// What a token is for: waiting in the queue, or booking once admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Queue ticket: `aud = "queue"`, `scope = "wait"`.
    Queue,
    /// Access token: `aud = "booking"`, `scope = "book"`.
    Booking,
}

impl Audience {
    pub fn aud(self) -> &'static str {
        match self {
            Audience::Queue => "queue",
            Audience::Booking => "booking",
        }
    }

    pub fn scope(self) -> &'static str {
        match self {
            Audience::Queue => "wait",
            Audience::Booking => "book",
        }
    }

    fn from_aud(aud: &str) -> Option<Self> {
        match aud {
            "queue" => Some(Audience::Queue),
            "booking" => Some(Audience::Booking),
            _ => None,
        }
    }
}

/// The claims of both token kinds, as they appear on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub cid: i64,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub scope: String,
}

/// Claims of a token that passed verification, in their parsed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub audience: Audience,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    /// The queue ticket id; the same for a user's ticket and access token.
    pub ticket_id: Uuid,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl Claims {
    pub fn to_wire(&self) -> WireClaims {
        WireClaims {
            iss: ISSUER.to_owned(),
            sub: self.user_id.to_string(),
            aud: self.audience.aud().to_owned(),
            cid: self.concert_id.get(),
            jti: self.ticket_id,
            iat: self.issued_at,
            exp: self.expires_at,
            scope: self.audience.scope().to_owned(),
        }
    }
}

/// Why a token was refused. Every variant is a `401 UNAUTHENTICATED`; the
/// reason is for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a compact JWS")]
    Malformed,
    #[error("token algorithm is not EdDSA")]
    Algorithm,
    #[error("token key id is unknown")]
    UnknownKid,
    #[error("token signature is invalid")]
    Signature,
    #[error("token claims are missing or invalid")]
    Claims,
    #[error("token has expired")]
    Expired,
    #[error("token issuer is wrong")]
    Issuer,
    #[error("token audience is not accepted here")]
    Audience,
}

impl TokenError {
    /// A short label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Algorithm => "algorithm",
            TokenError::UnknownKid => "unknown_kid",
            TokenError::Signature => "signature",
            TokenError::Claims => "claims",
            TokenError::Expired => "expired",
            TokenError::Issuer => "issuer",
            TokenError::Audience => "audience",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
    kid: Option<&'a str>,
}

/// The `kid` of a token's header, without verifying anything.
pub fn peek_kid(token: &str) -> Result<String, TokenError> {
    let header_b64 = token.split('.').next().ok_or(TokenError::Malformed)?;
    let header_json = B64.decode(header_b64).map_err(|_| TokenError::Malformed)?;
    let header: Header<'_> =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    header.kid.map(str::to_owned).ok_or(TokenError::UnknownKid)
}

/// Sign `claims` with `signer` into a compact JWS.
pub fn encode(signer: &Signer, claims: &Claims) -> String {
    let header = serde_json::to_vec(&Header {
        alg: "EdDSA",
        typ: Some("JWT"),
        kid: Some(signer.kid()),
    })
    .expect("header serialises");
    let payload = serde_json::to_vec(&claims.to_wire()).expect("claims serialise");
    let mut token = String::with_capacity(256);
    B64.encode_string(header, &mut token);
    token.push('.');
    B64.encode_string(payload, &mut token);
    let signature = signer.sign(token.as_bytes());
    token.push('.');
    B64.encode_string(signature, &mut token);
    token
}

/// Verify a compact JWS: header (`alg = EdDSA`, known `kid`), signature,
/// then the claims (`iss`, `aud` among `accepted`, `exp` after `now`, `sub`,
/// `cid`, `jti`, matching `scope`).
pub fn verify(
    token: &str,
    keys: &KeySet,
    accepted: &[Audience],
    now: i64,
) -> Result<Claims, TokenError> {
    let mut parts = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header_json = B64.decode(header_b64).map_err(|_| TokenError::Malformed)?;
    let header: Header<'_> =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Algorithm);
    }
    let key = header
        .kid
        .and_then(|kid| keys.get(kid))
        .ok_or(TokenError::UnknownKid)?;
    let sig_bytes: [u8; 64] = B64
        .decode(sig_b64)
        .map_err(|_| TokenError::Malformed)?
        .try_into()
        .map_err(|_| TokenError::Signature)?;
    let signature = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.verify_strict(signed.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;

    let payload = B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
    let wire: WireClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Claims)?;
    check_claims(&wire, accepted, now)
}

fn check_claims(wire: &WireClaims, accepted: &[Audience], now: i64) -> Result<Claims, TokenError> {
    if wire.iss != ISSUER {
        return Err(TokenError::Issuer);
    }
    let audience = Audience::from_aud(&wire.aud).ok_or(TokenError::Audience)?;
    if !accepted.contains(&audience) {
        return Err(TokenError::Audience);
    }
    if wire.scope != audience.scope() {
        return Err(TokenError::Claims);
    }
    if wire.exp <= now {
        return Err(TokenError::Expired);
    }
    if wire.exp - wire.iat > MAX_TOKEN_LIFETIME_SECS || wire.iat > wire.exp {
        return Err(TokenError::Claims);
    }
    let user_id = wire.sub.parse::<UserId>().map_err(|_| TokenError::Claims)?;
    let concert_id = ConcertId::new(wire.cid).map_err(|_| TokenError::Claims)?;
    Ok(Claims {
        audience,
        user_id,
        concert_id,
        ticket_id: wire.jti,
        issued_at: wire.iat,
        expires_at: wire.exp,
    })
}

#[cfg(test)]
mod tests;
