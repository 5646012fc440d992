//! Signing keys, their key ids, and sets of public keys to verify with.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, spki::der::pem::LineEnding,
};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::Jwk;

/// The RFC 7638 thumbprint of an Ed25519 public key, used as its `kid`.
pub fn thumbprint(key: &VerifyingKey) -> String {
    let x = B64.encode(key.as_bytes());
    // Members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

/// The private key tokens are signed with, and its `kid`.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    kid: String,
}

impl Signer {
    pub fn new(key: SigningKey) -> Self {
        let kid = thumbprint(&key.verifying_key());
        Self { key, kid }
    }

    /// A fresh random key (tests, first start without a configured key).
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).expect("the OS random source works");
        Self::new(SigningKey::from_bytes(&seed))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn to_pkcs8_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key encodes as PKCS#8")
            .to_string()
    }

    pub fn jwk(&self) -> Jwk {
        Jwk::from_key(&self.verifying_key())
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Public keys by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// The keys by `kid` (their RFC 7638 thumbprint). A key of small order
    /// (`is_weak`: any signature verifies against it) is left out, with a
    /// warning, so no token can rely on it.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .filter(|k| {
                    let weak = k.is_weak();
                    if weak {
                        tracing::warn!(kid = thumbprint(k), "ignoring a public key of small order");
                    }
                    !weak
                })
                .map(|k| (thumbprint(&k), k))
                .collect(),
        }
    }

    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.values()
    }
}

/// Read a PKCS#8 PEM private key from `path`.
pub fn load_private_key_pem(path: &Path) -> anyhow_like::Result<Signer> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read signing key {}: {e}", path.display()))?;
    let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        format!(
            "{} is not a PKCS#8 Ed25519 private key: {e}",
            path.display()
        )
    })?;
    Ok(Signer::new(key))
}

/// Read a public key from a PEM file holding either the public key (SPKI) or
/// the private key (PKCS#8). Used for keys still published after a rotation.
pub fn load_public_key_pem(path: &Path) -> anyhow_like::Result<VerifyingKey> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key {}: {e}", path.display()))?;
    if let Ok(key) = VerifyingKey::from_public_key_pem(&pem) {
        return Ok(key);
    }
    SigningKey::from_pkcs8_pem(&pem)
        .map(|k| k.verifying_key())
        .map_err(|e| format!("{} is not an Ed25519 PEM key: {e}", path.display()))
}

/// The signing key: from `configured` when set, else the key kept at
/// `generated_path`, created on first use. Creation is atomic (write a temp
/// file, then hard-link it into place), so gateways starting together on one
/// data directory end up with the same key.
pub fn load_or_generate_signing_key(
    configured: Option<&Path>,
    generated_path: &Path,
) -> anyhow_like::Result<Signer> {
    if let Some(path) = configured {
        return load_private_key_pem(path);
    }
    if generated_path.exists() {
        return load_private_key_pem(generated_path);
    }
    if let Some(dir) = generated_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let signer = Signer::generate();
    let tmp = generated_path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        restrict_permissions(&file);
        file.write_all(signer.to_pkcs8_pem().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    }
    let linked = std::fs::hard_link(&tmp, generated_path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(signer),
        // Another process won the race: use its key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_private_key_pem(generated_path)
        }
        Err(e) => Err(format!("cannot store {}: {e}", generated_path.display())),
    }
}

#[cfg(unix)]
fn restrict_permissions(file: &std::fs::File) {
    use std::os::unix::fs::PermissionsExt;
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_file: &std::fs::File) {}

/// Key loading reports a readable sentence; callers add it to their own errors.
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}
