//! A bounded cache of tokens that already passed signature verification.
//!
//! Polling is the hottest path of the gateway and every poll carries the same
//! ticket, so verifying the Ed25519 signature each time would spend most of
//! the CPU on work already done. The cache is keyed by the exact token string
//! (any change to header, payload or signature is a different key and goes
//! through full verification), honours `exp` on every hit, and answers a hit
//! only while the token's `kid` is still in the key set it is checked
//! against, so a key removed from a JWKS stops its tokens as soon as the
//! JWKS is refetched (at most 60 s: API.md, Tokens). Entries are also
//! forgotten after `max_age`. It holds gateway [`Claims`] or
//! [`SessionClaims`] alike, within a [`Budget`] of entries and bytes (a
//! token is as long as the client's header makes it, and its bytes count).
//! Only tokens that verified are stored, so a client cannot fill it with
//! garbage.

use std::time::{Duration, Instant};

use crate::cache::{BoundedCache, Budget, Footprint, bounded};

use super::{Audience, Claims, KeySet, SessionClaims, TokenError, peek_kid, verify};

impl Footprint for Claims {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

impl Footprint for SessionClaims {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.session_id.as_ref().map_or(0, String::capacity)
    }
}

/// Claims that end at an `exp` (Unix seconds).
pub trait Expiring {
    fn expires_at(&self) -> i64;
}

impl Expiring for Claims {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl Expiring for SessionClaims {
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// Verified claims by exact token string, within a [`Budget`].
pub struct VerifiedCache<C = Claims> {
    /// Token → (claims, when verified, the `kid` that verified it).
    entries: BoundedCache<String, (C, Instant, String)>,
    max_age: Duration,
}

impl<C: Clone + Expiring + Footprint> VerifiedCache<C> {
    pub fn new(budget: Budget) -> Self {
        Self {
            entries: bounded(budget),
            max_age: Duration::from_secs(60),
        }
    }

    /// The claims of `token`: from the cache when it was verified less than
    /// a minute ago, its key is still in `keys` and it has not expired at
    /// `now` (Unix seconds); else from `verify` (which must check it against
    /// `keys`), whose success is remembered.
    pub fn get_or_verify(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
        verify: impl FnOnce() -> Result<C, TokenError>,
    ) -> Result<C, TokenError> {
        if let Some(claims) = self.get(token, keys, now)? {
            return Ok(claims);
        }
        let claims = verify()?;
        self.remember(token, claims.clone())?;
        Ok(claims)
    }

    /// The cached claims of `token` (see [`Self::get_or_verify`]): `None`
    /// when it must be verified, `Expired` when its cached `exp` has passed.
    pub fn get(&self, token: &str, keys: &KeySet, now: i64) -> Result<Option<C>, TokenError> {
        let Some((claims, at, kid)) = self.entries.get(token) else {
            return Ok(None);
        };
        if claims.expires_at() <= now {
            self.entries.remove(token);
            return Err(TokenError::Expired);
        }
        Ok((at.elapsed() < self.max_age && keys.get(&kid).is_some()).then_some(claims))
    }

    /// Remember `claims`, just verified from `token`.
    pub fn remember(&self, token: &str, claims: C) -> Result<(), TokenError> {
        let kid = peek_kid(token)?;
        self.entries
            .insert(token.to_owned(), (claims, Instant::now(), kid));
        Ok(())
    }
}

impl VerifiedCache<Claims> {
    /// [`verify`], answered from the cache when this exact token was verified before.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        accepted: &[Audience],
        now: i64,
    ) -> Result<Claims, TokenError> {
        let claims = self.get_or_verify(token, keys, now, || verify(token, keys, accepted, now))?;
        if accepted.contains(&claims.audience) {
            Ok(claims)
        } else {
            Err(TokenError::Audience)
        }
    }
}
