//! A bounded cache of tokens that already passed signature verification.
//!
//! Polling is the hottest path of the gateway and every poll carries the same
//! ticket, so verifying the Ed25519 signature each time would spend most of
//! the CPU on work already done. The cache is keyed by the exact token string
//! (any change to header, payload or signature is a different key and goes
//! through full verification), honours `exp` on every hit, and forgets entries
//! after `max_age` so that removing a key from the key set takes effect soon.
//! It holds gateway [`Claims`] or [`SessionClaims`] alike.

use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use super::{Audience, Claims, KeySet, SessionClaims, TokenError, verify};

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

/// Verified claims by exact token string, at most `capacity` of them.
pub struct VerifiedCache<C = Claims> {
    entries: Cache<String, (C, Instant)>,
    max_age: Duration,
}

impl<C: Clone + Expiring> VerifiedCache<C> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity),
            max_age: Duration::from_secs(60),
        }
    }

    /// The claims of `token`: from the cache when it was verified less than
    /// a minute ago and has not expired at `now` (Unix seconds), else from
    /// `verify`, whose success is remembered.
    pub fn get_or_verify(
        &self,
        token: &str,
        now: i64,
        verify: impl FnOnce() -> Result<C, TokenError>,
    ) -> Result<C, TokenError> {
        if let Some((claims, at)) = self.entries.get(token) {
            if claims.expires_at() <= now {
                self.entries.remove(token);
                return Err(TokenError::Expired);
            }
            if at.elapsed() < self.max_age {
                return Ok(claims);
            }
        }
        let claims = verify()?;
        self.entries
            .insert(token.to_owned(), (claims.clone(), Instant::now()));
        Ok(claims)
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
        let claims = self.get_or_verify(token, now, || verify(token, keys, accepted, now))?;
        if accepted.contains(&claims.audience) {
            Ok(claims)
        } else {
            Err(TokenError::Audience)
        }
    }
}
