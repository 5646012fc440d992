//! The admin token: `Authorization: Bearer <ADMIN_TOKEN>`, checked before
//! anything else on admin endpoints, compared in constant time. Without a
//! configured token the admin endpoints are closed (`403 FORBIDDEN`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use shared::ErrorCode;

use super::bearer_token;
use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request carries the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.settings.admin_token else {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "admin endpoints are disabled",
            ));
        };
        let given = bearer_token(parts).unwrap_or("");
        if constant_time_eq(given.as_bytes(), expected.expose_secret().as_bytes()) {
            shared::limits::note_verified();
            Ok(Admin)
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "the admin token is required",
            ))
        }
    }
}

/// Compare two secrets without leaking, through timing, how much of them
/// matches (or their lengths): both are hashed to 32 bytes, then every byte
/// is compared.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
