//! A bounded cache of tokens that already passed signature verification.
//!
//! Polling is the hottest path of the gateway and every poll carries the same
//! ticket, so verifying the Ed25519 signature each time would spend most of
//! the CPU on work already done. The cache is keyed by the exact token string
//! (any change to header, payload or signature is a different key and goes
//! through full verification), honours `exp` on every hit, and forgets entries
//! after `max_age` so that removing a key from the key set takes effect soon.

use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use super::{Audience, Claims, KeySet, TokenError, verify};

pub struct VerifiedCache {
    entries: Cache<String, (Claims, Instant)>,
    max_age: Duration,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity),
            max_age: Duration::from_secs(60),
        }
    }

    /// [`verify`], answered from the cache when this exact token was verified before.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        accepted: &[Audience],
        now: i64,
    ) -> Result<Claims, TokenError> {
        if let Some((claims, at)) = self.entries.get(token) {
            if claims.expires_at <= now {
                self.entries.remove(token);
                return Err(TokenError::Expired);
            }
            if at.elapsed() < self.max_age {
                return if accepted.contains(&claims.audience) {
                    Ok(claims)
                } else {
                    Err(TokenError::Audience)
                };
            }
        }
        let claims = verify(token, keys, accepted, now)?;
        self.entries
            .insert(token.to_owned(), (claims, Instant::now()));
        Ok(claims)
    }
}
