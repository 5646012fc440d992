//! Session tokens: the proof of who the user is.
//!
//! Booking issues them at login (`POST /v1/sessions`, API.md "Tokens"):
//! `iss` `booking`, `aud` `session`, `sub` the user id, `jti` a UUID naming
//! the session (so it can be revoked), `iat`, `exp`. The gateway accepts them
//! at join from any identity provider that signs EdDSA tokens with keys in a
//! JWKS and puts the numeric user id in `sub`: an [`IdentityPolicy`] names the
//! `iss` and `aud` it must carry (booking's by default). `aud` may be one
//! string or an array of strings (RFC 7519 §4.1.3); `jti` is optional for a
//! foreign issuer, and without it the session cannot be revoked here.

use serde::{Deserialize, Serialize};

use super::{KeySet, Signer, TokenError, check_registered, sign_payload, verified_payload};
use crate::ids::UserId;

/// The `iss` of booking's session tokens.
pub const SESSION_ISSUER: &str = "booking";
/// The `aud` of booking's session tokens.
pub const SESSION_AUDIENCE: &str = "session";
/// Longest `jti` accepted (it becomes part of a Redis key when revoked).
pub const MAX_SESSION_ID_LEN: usize = 255;

/// Which identity tokens count as a session: the issuer and the audience
/// they must name, and whether a `jti` is required. The default is
/// booking's own (`booking`, `session`, a UUID `jti` required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPolicy {
    /// Required `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Require a `jti` that is a UUID (booking's sessions always carry one,
    /// and logout names it). A foreign provider's tokens may lack one.
    pub require_session_id: bool,
}

impl IdentityPolicy {
    /// The policy for an issuer and audience: booking's own (`booking`)
    /// requires a UUID `jti`, any other issuer does not.
    pub fn for_issuer(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            require_session_id: issuer == SESSION_ISSUER,
            issuer,
            audience: audience.into(),
        }
    }
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self::for_issuer(SESSION_ISSUER, SESSION_AUDIENCE)
    }
}

/// A verified session: who the user is, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    pub user_id: UserId,
    /// The `jti`: what revocation names. Always set on booking's sessions.
    pub session_id: Option<String>,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

#[derive(Serialize)]
struct WireOut<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct Wire {
    iss: String,
    sub: String,
    aud: OneOrMany,
    #[serde(default)]
    jti: Option<String>,
    iat: i64,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            OneOrMany::One(aud) => aud == wanted,
            OneOrMany::Many(auds) => auds.iter().any(|a| a == wanted),
        }
    }
}

/// Sign a session token of booking (`iss` `booking`, `aud` `session`).
pub fn encode_session(signer: &Signer, claims: &SessionClaims) -> String {
    sign_payload(
        signer,
        &WireOut {
            iss: SESSION_ISSUER,
            sub: claims.user_id.to_string(),
            aud: SESSION_AUDIENCE,
            jti: claims.session_id.as_deref(),
            iat: claims.issued_at,
            exp: claims.expires_at,
        },
    )
}

/// Verify a session token against `keys` and `policy` at `now` (Unix
/// seconds): the header and signature checks and the registered claims of
/// every token (see the module documentation of [`super`]), then `iss` equal
/// to the policy's (`Issuer`), `aud` naming the policy's (`Audience`), and a
/// `jti` of at most [`MAX_SESSION_ID_LEN`] bytes when present, required and a
/// UUID when the policy says so (`Claims`).
/// Revocation is checked separately (`crate::sessions`), since it needs Redis.
pub fn verify_session(
    token: &str,
    keys: &KeySet,
    policy: &IdentityPolicy,
    now: i64,
) -> Result<SessionClaims, TokenError> {
    let payload = verified_payload(token, keys)?;
    session_claims(&payload, policy, now)
}

/// The claims checks of [`verify_session`] on a payload whose signature was
/// already verified (alone or in a batch: [`super::verify_signatures`]).
pub(crate) fn session_claims(
    payload: &[u8],
    policy: &IdentityPolicy,
    now: i64,
) -> Result<SessionClaims, TokenError> {
    let wire: Wire = serde_json::from_slice(payload).map_err(|_| TokenError::Claims)?;
    if wire.iss != policy.issuer {
        return Err(TokenError::Issuer);
    }
    if !wire.aud.contains(&policy.audience) {
        return Err(TokenError::Audience);
    }
    match &wire.jti {
        Some(jti) if jti.is_empty() || jti.len() > MAX_SESSION_ID_LEN => {
            return Err(TokenError::Claims);
        }
        Some(jti) if policy.require_session_id && uuid::Uuid::parse_str(jti).is_err() => {
            return Err(TokenError::Claims);
        }
        None if policy.require_session_id => return Err(TokenError::Claims),
        _ => {}
    }
    let user_id = check_registered(&wire.sub, wire.iat, wire.exp, wire.nbf, now)?;
    Ok(SessionClaims {
        user_id,
        session_id: wire.jti,
        issued_at: wire.iat,
        expires_at: wire.exp,
    })
}
