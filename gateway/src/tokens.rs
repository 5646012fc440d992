//! Issuing queue tickets and access tokens, authenticating callers (session
//! tokens at join, tickets and access tokens after), and publishing the
//! public keys as a JWKS.

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use shared::cache::{BoundedCache, Budget, bounded};
use shared::ids::{ConcertId, UserId};
use shared::sessions::SessionError;
use shared::tokens::{
    self, Audience, Claims, Jwk, Jwks, KeySet, SessionClaims, Signer, VerifiedCache, VerifyingKey,
};
use shared::{ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::ApiError;
use crate::settings::Settings;
use crate::state::AppState;

/// Lifetime of a queue ticket: the most the contract allows, since a wait
/// can be long; the place itself is kept only while the user keeps polling.
const TICKET_LIFETIME_SECS: i64 = tokens::MAX_TOKEN_LIFETIME_SECS;

/// Size of the cache of verified tickets and access tokens (polls are the
/// hot path): 500,000 tokens (about 700 bytes each with their claims) in at
/// most 256 MiB.
pub const VERIFIED_CACHE: Budget = Budget::mib(500_000, 256);

/// Size of the cache of signed access tokens: 200,000 in at most 128 MiB.
pub const ACCESS_CACHE: Budget = Budget::mib(200_000, 128);

/// Size of the cache of verified session tokens (joins).
pub const SESSION_CACHE: Budget = Budget::mib(100_000, 96);

/// What a queue ticket records of its place: the queue's epoch, the join
/// sequence number (`None` when the user is not waiting) and the wait the
/// user was shown (`None` without an estimate).
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketPlace {
    pub epoch: Option<i64>,
    pub seq: Option<i64>,
    pub shown_eta: Option<shared::tokens::ShownEta>,
}

pub struct TokenService {
    signer: Signer,
    keys: KeySet,
    jwks_body: Vec<u8>,
    verified: VerifiedCache,
    /// Access tokens already signed, by (ticket, session end): an active user
    /// polling again gets the same token instead of a new signature.
    access: BoundedCache<(Uuid, i64), String>,
}

impl TokenService {
    /// Load the signing key (configured, or generated once in `DATA_DIR`) and
    /// the public keys still published from earlier rotations.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let generated = settings.data_dir.join("jwt-ed25519.pem");
        let signer = tokens::load_or_generate_signing_key(
            settings.jwt_private_key_file.as_deref(),
            &generated,
        )
        .map_err(anyhow::Error::msg)?;
        let previous = settings
            .jwt_previous_key_files
            .iter()
            .map(|p| tokens::load_public_key_pem(p).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        tracing::info!(
            kid = signer.kid(),
            previous = previous.len(),
            "signing queue tickets and access tokens with this key"
        );
        Ok(Self::new(signer, previous))
    }

    pub fn new(signer: Signer, previous: Vec<VerifyingKey>) -> Self {
        let mut published = vec![signer.verifying_key()];
        published.extend(previous);
        let jwks = Jwks {
            keys: published.iter().map(Jwk::from_key).collect(),
        };
        let jwks_body = serde_json::to_vec(&jwks).expect("a JWKS serialises");
        Self {
            keys: KeySet::new(published),
            signer,
            jwks_body,
            verified: VerifiedCache::new(VERIFIED_CACHE),
            access: bounded(ACCESS_CACHE),
        }
    }

    /// A queue ticket: `epoch` and `seq` (the queue's epoch and the join
    /// sequence number, `qep` and `seq`) let a place lost with Redis be put
    /// back (see [`crate::recovery`]).
    pub fn issue_ticket(
        &self,
        user: UserId,
        concert: ConcertId,
        ticket: Uuid,
        place: TicketPlace,
        now_secs: i64,
    ) -> String {
        metrics::counter!("tokens_issued_total", "kind" => "ticket").increment(1);
        let claims = Claims {
            audience: Audience::Queue,
            user_id: user,
            concert_id: concert,
            ticket_id: ticket,
            issued_at: now_secs,
            expires_at: now_secs + TICKET_LIFETIME_SECS,
            queue_epoch: place.epoch,
            seq: place.seq,
            shown_eta: place.shown_eta,
        };
        tokens::encode(&self.signer, &claims)
    }

    /// Whether this process already signed the access token of this session.
    pub fn has_access_token(&self, ticket: Uuid, session_end_secs: i64) -> bool {
        self.access.peek(&(ticket, session_end_secs)).is_some()
    }

    /// The access token of an active session; `exp` is the session's end,
    /// `qep` the queue's `epoch` when it was signed.
    pub fn access_token(
        &self,
        user: UserId,
        concert: ConcertId,
        ticket: Uuid,
        session_end_secs: i64,
        epoch: Option<i64>,
        now_secs: i64,
    ) -> String {
        self.access
            .get_or_insert_with(&(ticket, session_end_secs), || {
                metrics::counter!("tokens_issued_total", "kind" => "access").increment(1);
                let claims = Claims {
                    audience: Audience::Booking,
                    user_id: user,
                    concert_id: concert,
                    ticket_id: ticket,
                    issued_at: now_secs.min(session_end_secs),
                    expires_at: session_end_secs,
                    queue_epoch: epoch,
                    seq: None,
                    shown_eta: None,
                };
                Ok::<_, std::convert::Infallible>(tokens::encode(&self.signer, &claims))
            })
            .unwrap_or_else(|never| match never {})
    }

    pub fn verify(
        &self,
        token: &str,
        accepted: &[Audience],
        now_secs: i64,
    ) -> Result<Claims, Problem> {
        self.verified
            .verify(token, &self.keys, accepted, now_secs)
            .map_err(|e| {
                metrics::counter!("token_rejections_total", "reason" => e.reason()).increment(1);
                Problem::unauthenticated(e.to_string())
            })
    }
}

/// The bearer token of a request, if the `Authorization` header has one.
pub fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthenticated("missing Authorization: Bearer token"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthenticated("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Problem::unauthenticated(
            "expected Authorization: Bearer <token>",
        )),
    }
}

/// A verified session token of the identity provider (`IDENTITY_JWKS_URL`,
/// `IDENTITY_ISSUER`, `IDENTITY_AUDIENCE`), not revoked: who is joining.
pub struct Session(pub SessionClaims);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        match state.sessions.verify(token, state.clock.now_secs()).await {
            Ok(claims) => {
                shared::limits::note_verified();
                Ok(Session(claims))
            }
            Err(SessionError::Token(e)) => {
                metrics::counter!("token_rejections_total", "reason" => e.reason()).increment(1);
                Err(Problem::unauthenticated(format!("session token: {e}")).into())
            }
            Err(SessionError::Keys(cause)) => {
                tracing::warn!(error = %cause, "the identity provider's keys cannot be fetched");
                Err(Problem::unavailable().into())
            }
            Err(SessionError::Redis(e)) => Err(e.into()),
            Err(SessionError::Postgres(e)) => Err(e.into()),
        }
    }
}

/// A verified queue ticket (`aud = queue`).
pub struct Ticket(pub Claims);

/// A verified queue ticket or access token.
pub struct AnyToken(pub Claims);

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    accepted: &[Audience],
) -> Result<Claims, ApiError> {
    let token = bearer(parts)?;
    let claims = state
        .tokens
        .verify(token, accepted, state.clock.now_secs())?;
    shared::limits::note_verified();
    Ok(claims)
}

impl FromRequestParts<AppState> for Ticket {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, &[Audience::Queue])
            .await
            .map(Ticket)
    }
}

impl FromRequestParts<AppState> for AnyToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, &[Audience::Queue, Audience::Booking])
            .await
            .map(AnyToken)
    }
}

/// A token may only act on the concert it was issued for.
pub fn require_concert(claims: &Claims, concert: ConcertId) -> Result<(), ApiError> {
    if claims.concert_id == concert {
        Ok(())
    } else {
        Err(ApiError::code(
            ErrorCode::Forbidden,
            format!("this token is for concert {}", claims.concert_id),
        ))
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// The public keys of queue tickets and access tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "tokens",
    summary = "Public keys of queue tickets and access tokens (JWKS)",
    security(()),
    responses((status = 200, description = "The JWKS (RFC 7517); cacheable for a minute", body = shared::tokens::Jwks)),
)]
async fn jwks(State(state): State<AppState>) -> Response {
    shared::tokens::jwks_response(state.tokens.jwks_body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_out_key_stays_published_and_its_tokens_keep_verifying() {
        let old = Signer::generate();
        let new = Signer::generate();
        let service = TokenService::new(new.clone(), vec![old.verifying_key()]);
        let jwks: Jwks = serde_json::from_slice(&service.jwks_body).unwrap();
        let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(
            kids,
            [new.kid(), old.kid()],
            "signing key first, previous key still published"
        );

        let user = UserId::new(1).unwrap();
        let concert = ConcertId::new(2).unwrap();
        let issued_before_rotation = tokens::encode(
            &old,
            &Claims {
                audience: Audience::Queue,
                user_id: user,
                concert_id: concert,
                ticket_id: Uuid::new_v4(),
                issued_at: 100,
                expires_at: 200,
                queue_epoch: None,
                seq: None,
                shown_eta: None,
            },
        );
        assert!(
            service
                .verify(&issued_before_rotation, &[Audience::Queue], 150)
                .is_ok()
        );
        let fresh =
            service.issue_ticket(user, concert, Uuid::new_v4(), TicketPlace::default(), 150);
        assert_eq!(
            tokens::peek_kid(&fresh).unwrap(),
            new.kid(),
            "new tokens use the new key"
        );
        assert!(service.verify(&fresh, &[Audience::Queue], 151).is_ok());
    }
}
