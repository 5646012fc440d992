//! JWKS: the document the gateway publishes, and the client booking uses to
//! fetch it, cache it, and refetch it when a token names an unknown `kid`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use super::KeySet;
use super::keys::thumbprint;

/// One Ed25519 public key as a JWK (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `OKP` (RFC 8037).
    #[schema(schema_with = crate::openapi::constant_okp)]
    pub kty: String,
    /// `Ed25519`.
    #[schema(schema_with = crate::openapi::constant_ed25519)]
    pub crv: String,
    /// The public key, base64url without padding (32 bytes).
    pub x: String,
    /// The key id that tokens name in their `kid` header.
    pub kid: String,
    /// `EdDSA`.
    #[schema(schema_with = crate::openapi::constant_eddsa)]
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(schema_with = crate::openapi::constant_sig)]
    pub use_: String,
}

impl Jwk {
    pub fn from_key(key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: B64.encode(key.as_bytes()),
            kid: thumbprint(key),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }

    /// The public key, if this JWK is an Ed25519 signing key.
    pub fn to_key(&self) -> Option<VerifyingKey> {
        if self.kty != "OKP" || self.crv != "Ed25519" || self.alg != "EdDSA" {
            return None;
        }
        let bytes: [u8; 32] = B64.decode(&self.x).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The usable keys; keys of other types are skipped.
    pub fn key_set(&self) -> KeySet {
        KeySet::new(self.keys.iter().filter_map(Jwk::to_key))
    }
}

/// The answer of `GET /.well-known/jwks.json` for a serialised JWKS: JSON,
/// cacheable for 60 s, the longest API.md (Tokens) lets anyone keep public
/// keys, so a key dropped from the set is gone from every cache within a
/// minute.
pub fn jwks_response(body: Vec<u8>) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// Fetches and caches a remote JWKS.
///
/// Keys are refreshed every `max_age` (60 s: API.md, Tokens), and at once when a token names a `kid`
/// the cache does not know (a key rotation), at most once per `min_refetch`
/// so that garbage tokens cannot turn into a flood of requests to the gateway.
#[derive(Clone)]
pub struct JwksClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    http: reqwest::Client,
    keys: RwLock<(Arc<KeySet>, Option<Instant>)>,
    fetch_lock: Mutex<()>,
    max_age: Duration,
    min_refetch: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
}

impl JwksClient {
    pub fn new(url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("a plain HTTP client builds");
        Self {
            inner: Arc::new(Inner {
                url: url.into(),
                http,
                keys: RwLock::new((Arc::new(KeySet::default()), None)),
                fetch_lock: Mutex::new(()),
                max_age: Duration::from_secs(60),
                min_refetch: Duration::from_secs(1),
            }),
        }
    }

    /// The same client with keys refreshed every `max_age` instead of 60 s
    /// (tests of key retirement; an operator has no reason to lengthen it).
    pub fn with_max_age(self, max_age: Duration) -> Self {
        let inner = Arc::into_inner(self.inner).expect("configure a JwksClient before cloning it");
        Self {
            inner: Arc::new(Inner { max_age, ..inner }),
        }
    }

    /// The cached keys, fetching them first if none are cached or they are stale.
    pub async fn keys(&self) -> Result<Arc<KeySet>, JwksError> {
        {
            let guard = self.inner.keys.read().await;
            if let (keys, Some(at)) = &*guard
                && at.elapsed() < self.inner.max_age
            {
                return Ok(keys.clone());
            }
        }
        self.refresh(self.inner.min_refetch).await
    }

    /// The keys, refetched if `kid` is not among them (rate limited).
    pub async fn keys_with(&self, kid: &str) -> Result<Arc<KeySet>, JwksError> {
        let keys = self.keys().await?;
        if keys.get(kid).is_some() {
            return Ok(keys);
        }
        self.refresh(self.inner.min_refetch).await
    }

    /// Fetch unless a fetch happened within `unless_within`. Concurrent
    /// callers wait for one fetch instead of each making their own.
    async fn refresh(&self, unless_within: Duration) -> Result<Arc<KeySet>, JwksError> {
        let _one_at_a_time = self.inner.fetch_lock.lock().await;
        {
            let guard = self.inner.keys.read().await;
            if let (keys, Some(at)) = &*guard
                && at.elapsed() < unless_within
                && !keys.is_empty()
            {
                return Ok(keys.clone());
            }
        }
        let jwks: Jwks = self
            .inner
            .http
            .get(&self.inner.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| JwksError::Fetch(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?;
        let keys = Arc::new(jwks.key_set());
        *self.inner.keys.write().await = (keys.clone(), Some(Instant::now()));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::net::TcpListener;

    use super::*;
    use crate::tokens::{Signer, TokenError, VerifiedCache, encode_session, verify_session};

    /// A JWKS endpoint whose keys the test replaces (a rotation that drops a key).
    async fn rotating_jwks(keys: Arc<std::sync::RwLock<Jwks>>) -> String {
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let jwks = keys.read().unwrap().clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://127.0.0.1:{port}/jwks.json")
    }

    #[test]
    fn keys_are_refreshed_at_least_every_minute() {
        let client = JwksClient::new("http://127.0.0.1:9/jwks.json");
        assert_eq!(client.inner.max_age, Duration::from_secs(60));
    }

    /// A key dropped from the JWKS stops verifying, cached tokens included,
    /// within the client's maximum age (60 s in production, 300 ms here).
    #[tokio::test]
    async fn a_key_dropped_from_the_jwks_is_refused_within_the_max_age() {
        let (retired, current) = (Signer::generate(), Signer::generate());
        let published = Arc::new(std::sync::RwLock::new(Jwks {
            keys: vec![retired.jwk(), current.jwk()],
        }));
        let url = rotating_jwks(Arc::clone(&published)).await;
        let client = JwksClient::new(url).with_max_age(Duration::from_millis(300));
        let cache = VerifiedCache::new(crate::cache::Budget::mib(64, 1));
        let policy = crate::tokens::IdentityPolicy::default();
        let now = crate::unix_now();
        let claims = crate::tokens::SessionClaims {
            user_id: crate::ids::UserId::new(7).unwrap(),
            session_id: Some(uuid::Uuid::new_v4().to_string()),
            issued_at: now,
            expires_at: now + 600,
        };
        let old_token = encode_session(&retired, &claims);
        let verify = |keys: &KeySet| {
            cache.get_or_verify(&old_token, keys, now, || {
                verify_session(&old_token, keys, &policy, now)
            })
        };
        assert!(verify(&client.keys().await.unwrap()).is_ok());

        published.write().unwrap().keys = vec![current.jwk()];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let keys = client.keys().await.unwrap();
            match verify(&keys) {
                Err(TokenError::UnknownKid) => break,
                Ok(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("the retired key was still trusted: {other:?}"),
            }
        }
    }
}
