//! Queue tickets, access tokens and session tokens: compact JWS signed with
//! Ed25519 (`EdDSA`).
//!
//! The gateway signs tickets and access tokens, booking signs session tokens
//! ([`Signer`]); both verify against a [`KeySet`] of public keys (their own,
//! or the JWKS fetched by [`JwksClient`]). Session tokens and the identity
//! providers that may stand in for booking are in [`session`].
//!
//! Every token kind goes through the same checks of the header, signature
//! and registered claims (RFC 7515, RFC 7519, RFC 8725): `alg` `EdDSA` only, a
//! known `kid`, no `crit` header, a `typ` of `JWT` when present, `exp` in the
//! future, `nbf` honoured, `iat` at most [`CLOCK_SKEW_SECS`] ahead, a lifetime
//! of at most [`MAX_TOKEN_LIFETIME_SECS`] computed without overflow, and `sub`
//! a canonical positive decimal user id. Encoding and verification are written directly on
//! `ed25519-dalek`: the format is three base64url segments, and doing it here
//! keeps the verifier strict (one algorithm, a required `kid`, required claims)
//! and about twice as fast as a general JWT library (`benches/tokens.rs`).

mod batch;
mod cache;
mod jwks;
mod keys;
pub mod session;

pub use batch::{SignatureCheck, verify_signatures};
pub use cache::VerifiedCache;
pub use ed25519_dalek::VerifyingKey;
pub use jwks::{Jwk, Jwks, JwksClient, jwks_response};
pub use keys::{KeySet, Signer, load_or_generate_signing_key, load_public_key_pem};
pub use session::{IdentityPolicy, SessionClaims, encode_session, verify_session};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{ConcertId, UserId};

/// The `iss` of queue tickets and access tokens.
pub const ISSUER: &str = "gateway";
/// Longest lifetime of any token, as the contract allows (API.md, Tokens).
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;
/// How far ahead of our clock an `iat` or `nbf` may be (API.md, Tokens:
/// 60 s of clock skew between the issuer and the verifier).
pub const CLOCK_SKEW_SECS: i64 = 60;

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
    /// Not before (RFC 7519 §4.1.5); never set by the gateway, honoured when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub scope: String,
    /// Private claim: the epoch of the concert's queue in Redis when the
    /// token was issued (see [`Claims::queue_epoch`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qep: Option<i64>,
    /// Private claim of queue tickets: the join sequence number (see
    /// [`Claims::seq`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Private claim of queue tickets: the wait the holder was told when
    /// the ticket was issued (see [`Claims::shown_eta`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<ShownEta>,
}

/// The estimate a waiting user was shown when their queue ticket was
/// issued, carried by the ticket so that the gateway can compare it with
/// the real wait at admission (the `queue_eta_*` metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownEta {
    /// When it was shown (Unix milliseconds).
    #[serde(rename = "at")]
    pub at_ms: i64,
    /// `eta_seconds`.
    #[serde(rename = "s")]
    pub eta_seconds: u64,
    /// `eta_range_seconds` `[low, high]`.
    #[serde(rename = "r")]
    pub range_seconds: [u64; 2],
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
    /// `qep`: which incarnation of the concert's queue in Redis issued the
    /// token (a random number the gateway picks each time it builds the
    /// queue's keys, first or after a data loss). A token of an older epoch
    /// whose place or session Redis no longer knows was lost with Redis,
    /// not revoked (API.md, "Redis is not the only copy"). `None` in tokens
    /// issued before epochs existed.
    pub queue_epoch: Option<i64>,
    /// `seq`, queue tickets only: the join sequence number, the ticket's
    /// place in line, so a ticket whose place Redis lost is put back where
    /// it was relative to every other ticket.
    pub seq: Option<i64>,
    /// `eta`, queue tickets only: the wait shown when the ticket was issued
    /// (`None` when it had no estimate, e.g. in the pre-queue).
    pub shown_eta: Option<ShownEta>,
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
            nbf: None,
            scope: self.audience.scope().to_owned(),
            qep: self.queue_epoch,
            seq: self.seq,
            eta: self.shown_eta,
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
    #[error("token names a critical header extension")]
    Critical,
    #[error("token type is not JWT")]
    Type,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token lifetime is over 24 hours or negative")]
    Lifetime,
    #[error("token subject is not a canonical positive user id")]
    Subject,
    #[error("token session has been revoked")]
    Revoked,
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
            TokenError::Critical => "crit",
            TokenError::Type => "typ",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "issued_in_future",
            TokenError::Lifetime => "lifetime",
            TokenError::Subject => "subject",
            TokenError::Revoked => "revoked",
        }
    }
}

/// The JOSE header as signed.
#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The JOSE header as read. Unknown members are ignored, except `crit`
/// (RFC 7515 §4.1.11): it names extensions we would have to understand, and
/// we understand none, so its mere presence refuses the token.
#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    typ: Option<&'a str>,
    kid: Option<&'a str>,
    #[serde(default)]
    crit: Present,
}

/// Whether a header member was there at all (even as `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
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
    sign_payload(signer, &claims.to_wire())
}

/// Sign any serialisable claims set (header `alg` `EdDSA`, `typ` `JWT`, the
/// signer's `kid`).
fn sign_payload(signer: &Signer, claims: &impl Serialize) -> String {
    let header = serde_json::to_vec(&HeaderOut {
        alg: "EdDSA",
        typ: "JWT",
        kid: signer.kid(),
    })
    .expect("header serialises");
    let payload = serde_json::to_vec(claims).expect("claims serialise");
    let mut token = String::with_capacity(256);
    B64.encode_string(header, &mut token);
    token.push('.');
    B64.encode_string(payload, &mut token);
    let signature = signer.sign(token.as_bytes());
    token.push('.');
    B64.encode_string(signature, &mut token);
    token
}

/// Verify a gateway token (queue ticket or access token): header, signature
/// (see [`verified_payload`]), then the claims (`iss` `gateway`, `aud` among
/// `accepted`, matching `scope`, `cid`, `jti`, and the registered claims of
/// [`check_registered`]). `now` is Unix seconds.
pub fn verify(
    token: &str,
    keys: &KeySet,
    accepted: &[Audience],
    now: i64,
) -> Result<Claims, TokenError> {
    let payload = verified_payload(token, keys)?;
    let wire: WireClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Claims)?;
    check_claims(&wire, accepted, now)
}

/// Check a compact JWS's header and signature and return its decoded
/// payload: [`signature_check`], then [`SignatureCheck::verify`].
fn verified_payload(token: &str, keys: &KeySet) -> Result<Vec<u8>, TokenError> {
    if !signature_check(token, keys)?.verify() {
        return Err(TokenError::Signature);
    }
    payload_of(token)
}

/// Check a compact JWS's header and return what its signature check needs.
/// Refuses: not three base64url segments (`Malformed`), `alg` other than
/// `EdDSA` (`Algorithm`, so `none` and HMAC-with-the-public-key are out), a
/// missing or unknown `kid` (`UnknownKid`), a `crit` header (`Critical`), a
/// `typ` other than `JWT` (`Type`; RFC 7515 §4.1.9 compares it
/// case-insensitively and allows the `application/` prefix), and a signature
/// that is not 64 bytes (`Signature`). The signature itself is not checked
/// yet: see [`SignatureCheck::verify`] and [`verify_signatures`].
pub fn signature_check(token: &str, keys: &KeySet) -> Result<SignatureCheck, TokenError> {
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
    if header.crit.0 {
        return Err(TokenError::Critical);
    }
    if let Some(typ) = header.typ {
        let typ = typ
            .get(..12)
            .filter(|p| p.eq_ignore_ascii_case("application/"))
            .map_or(typ, |_| &typ[12..]);
        if !typ.eq_ignore_ascii_case("JWT") {
            return Err(TokenError::Type);
        }
    }
    let key = *header
        .kid
        .and_then(|kid| keys.get(kid))
        .ok_or(TokenError::UnknownKid)?;
    let sig_bytes: [u8; 64] = B64
        .decode(sig_b64)
        .map_err(|_| TokenError::Malformed)?
        .try_into()
        .map_err(|_| TokenError::Signature)?;
    Ok(SignatureCheck {
        key,
        signature: ed25519_dalek::Signature::from_bytes(&sig_bytes),
        message: token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()].into(),
    })
}

/// The decoded payload of a compact JWS (whose form [`signature_check`]
/// already accepted). `Malformed` when it is not base64url.
pub(crate) fn payload_of(token: &str) -> Result<Vec<u8>, TokenError> {
    let payload_b64 = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    B64.decode(payload_b64).map_err(|_| TokenError::Malformed)
}

/// The registered claims every token kind carries, checked the same way:
/// `exp` after `now` (`Expired`), `nbf` (when present) at most
/// [`CLOCK_SKEW_SECS`] after `now` (`NotYetValid`), `iat` at most
/// [`CLOCK_SKEW_SECS`] after `now` (`IssuedInFuture`), `exp - iat` within
/// `0..=MAX_TOKEN_LIFETIME_SECS` computed with checked arithmetic
/// (`Lifetime`: `iat = -1, exp = i64::MAX` overflows and is refused), and `sub`
/// a canonical positive decimal user id (`Subject`). All times in Unix seconds.
fn check_registered(
    sub: &str,
    iat: i64,
    exp: i64,
    nbf: Option<i64>,
    now: i64,
) -> Result<UserId, TokenError> {
    if exp <= now {
        return Err(TokenError::Expired);
    }
    let latest_start = now.saturating_add(CLOCK_SKEW_SECS);
    if nbf.is_some_and(|nbf| nbf > latest_start) {
        return Err(TokenError::NotYetValid);
    }
    if iat > latest_start {
        return Err(TokenError::IssuedInFuture);
    }
    match exp.checked_sub(iat) {
        Some(lifetime) if (0..=MAX_TOKEN_LIFETIME_SECS).contains(&lifetime) => {}
        _ => return Err(TokenError::Lifetime),
    }
    parse_subject(sub)
}

/// A `sub` that is a user id written canonically: ASCII digits without sign,
/// leading zero or whitespace, positive, within `i64` (`"3"`; not `"003"`,
/// `"+3"`, `" 3"` or `"0"`), so one user has exactly one subject string.
pub fn parse_subject(sub: &str) -> Result<UserId, TokenError> {
    let canonical =
        !sub.is_empty() && !sub.starts_with('0') && sub.bytes().all(|b| b.is_ascii_digit());
    if !canonical {
        return Err(TokenError::Subject);
    }
    sub.parse::<i64>()
        .ok()
        .and_then(|id| UserId::new(id).ok())
        .ok_or(TokenError::Subject)
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
    let user_id = check_registered(&wire.sub, wire.iat, wire.exp, wire.nbf, now)?;
    let concert_id = ConcertId::new(wire.cid).map_err(|_| TokenError::Claims)?;
    Ok(Claims {
        audience,
        user_id,
        concert_id,
        ticket_id: wire.jti,
        issued_at: wire.iat,
        expires_at: wire.exp,
        queue_epoch: wire.qep,
        seq: wire.seq,
        shown_eta: wire.eta,
    })
}

#[cfg(test)]
mod tests;
