//! Passwords: stored only as Argon2id hashes (PHC strings), hashed and
//! verified off the async runtime.
//!
//! Parameters are OWASP's recommendation for Argon2id (Password Storage Cheat
//! Sheet): 19 MiB of memory, 2 iterations, 1 degree of parallelism. Each
//! hash takes those 19 MiB for tens of milliseconds of CPU, so at most
//! [`Passwords::MAX_CONCURRENT`] run at once (memory stays bounded whatever
//! the number of logins); the rest wait their turn.
//!
//! Verifying a user that does not exist (or has no password) verifies
//! against a dummy hash with the same parameters, so the answer takes as long
//! as for a wrong password: no user enumeration by timing.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// OWASP's Argon2id memory cost, KiB.
const M_COST_KIB: u32 = 19 * 1024;
/// OWASP's Argon2id iterations.
const T_COST: u32 = 2;
/// OWASP's Argon2id parallelism.
const P_COST: u32 = 1;

// Passwords' length and characters are checked where they enter: see
// `crate::domain::NewPassword` and `crate::domain::Password`.

/// Hashes and verifies passwords with a bounded number of hashes at once.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl Passwords {
    /// Hashes that may run at once.
    pub const MAX_CONCURRENT: usize = 4;

    /// Computes the dummy hash (one hash, tens of milliseconds).
    pub fn new() -> Self {
        let dummy = hash_blocking("not the password of anybody").expect("Argon2id hashes");
        Self {
            permits: Arc::new(Semaphore::new(Self::MAX_CONCURRENT)),
            dummy: dummy.into(),
        }
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) of
    /// `password`, with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.blocking(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches `stored` (a PHC string); `None` (no such
    /// user, or no password set) costs the same time and answers `false`.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let dummy = Arc::clone(&self.dummy);
        self.blocking(move || {
            let matches = verify_blocking(&password, stored.as_deref().unwrap_or(&dummy));
            matches && stored.is_some()
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("password hashing stopped".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, None).expect("OWASP's parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, ApiError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password failed: {e}")))
}

/// A stored hash that does not parse never matches (and is logged).
fn verify_blocking(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash does not parse");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let passwords = Passwords::new();
        let a = passwords.hash("correct horse".into()).await.unwrap();
        let b = passwords.hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(!a.contains("correct horse"));
        assert!(
            passwords
                .verify("correct horse".into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("correct horsf".into(), Some(a))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("not the password of anybody".into(), None)
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("x".into(), Some("garbage".into()))
                .await
                .unwrap()
        );
    }
}
