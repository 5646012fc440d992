//! Ed25519 signature checks, one at a time or many at once.
//!
//! A first join verifies a session token nobody has presented before, so the
//! verified-token cache cannot help, and one strict Ed25519 verification is
//! most of what the join costs. Checking many signatures together
//! (`ed25519_dalek::verify_batch`: one multiscalar multiplication with
//! random weights) costs less than half as much per signature from about
//! eight signatures on (docs/benchmarks.md), and a stampede of joins supplies
//! them. [`verify_signatures`] is what a batch of concurrent checks runs.

use ed25519_dalek::{Signature, VerifyingKey};

/// One signature to check: `signature` over `message` (a compact JWS's
/// `header.payload`, ASCII) by `key`. Made by [`super::signature_check`],
/// which has already checked the header and found `key` by `kid`.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    pub(super) key: VerifyingKey,
    pub(super) signature: Signature,
    pub(super) message: Box<[u8]>,
}

impl SignatureCheck {
    /// Strict single verification (`verify_strict`: RFC 8032 §5.1.7 with a
    /// canonical `S` and no small-order `R` or key).
    pub fn verify(&self) -> bool {
        self.key
            .verify_strict(&self.message, &self.signature)
            .is_ok()
    }
}

/// Whether each signature of `checks` is valid, in order.
///
/// One check is verified strictly ([`SignatureCheck::verify`]). Several are
/// verified together with `ed25519_dalek::verify_batch`, whose random weights
/// are derived from every input (so a forger cannot aim at them); if the
/// batch fails, each is verified strictly on its own to find the bad ones, so
/// one bad token costs its batch about one extra verification per token.
///
/// What a batch accepts: a batch holds exactly when every signature satisfies
/// the cofactorless equation `[S]B = R + [k]A`, except with probability
/// about 2⁻¹²⁸. It differs from `verify_strict` only on signatures whose `R`
/// has a small-order component, which only the holder of the private key can
/// make; keys of small order are refused when a key set is built (see
/// [`super::KeySet`]), so nobody without the private key gets a token through
/// a batch that a strict check would refuse.
pub fn verify_signatures(checks: &[SignatureCheck]) -> Vec<bool> {
    if let [one] = checks {
        return vec![one.verify()];
    }
    let messages: Vec<&[u8]> = checks.iter().map(|c| &*c.message).collect();
    let signatures: Vec<Signature> = checks.iter().map(|c| c.signature).collect();
    let keys: Vec<VerifyingKey> = checks.iter().map(|c| c.key).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return vec![true; checks.len()];
    }
    checks.iter().map(SignatureCheck::verify).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeySet, Signer, sign_payload, signature_check};

    fn tokens(signer: &Signer, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| sign_payload(signer, &serde_json::json!({ "n": i })))
            .collect()
    }

    #[test]
    fn a_batch_of_good_signatures_passes_and_one_bad_signature_is_found() {
        let signer = Signer::generate();
        let other = Signer::generate();
        let keys = KeySet::new([signer.verifying_key(), other.verifying_key()]);
        let mut all = tokens(&signer, 9);
        all.extend(tokens(&other, 7));
        let checks: Vec<SignatureCheck> = all
            .iter()
            .map(|t| signature_check(t, &keys).unwrap())
            .collect();
        assert_eq!(verify_signatures(&checks), vec![true; 16]);

        // Flip one bit of one signature: only that one fails.
        let mut bad = checks.clone();
        let mut bytes = bad[5].signature.to_bytes();
        bytes[3] ^= 1;
        bad[5].signature = Signature::from_bytes(&bytes);
        let verdicts = verify_signatures(&bad);
        let expected: Vec<bool> = (0..16).map(|i| i != 5).collect();
        assert_eq!(verdicts, expected);

        // Two messages swapped between their signatures: both fail.
        let mut swapped = checks.clone();
        let first = swapped[0].message.clone();
        swapped[0].message = swapped[1].message.clone();
        swapped[1].message = first;
        let verdicts = verify_signatures(&swapped);
        let expected: Vec<bool> = (0..16).map(|i| i > 1).collect();
        assert_eq!(verdicts, expected);
    }

    #[test]
    fn a_key_of_small_order_is_left_out_of_a_key_set() {
        // The identity point: every signature with S = 0 and R = identity
        // verifies against it under the cofactorless equation.
        let weak = VerifyingKey::from_bytes(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        })
        .unwrap();
        let good = Signer::generate().verifying_key();
        let keys = KeySet::new([weak, good]);
        assert_eq!(keys.len(), 1);
        assert!(keys.iter().all(|k| *k == good));
    }

    #[test]
    fn a_single_check_is_strict() {
        let signer = Signer::generate();
        let keys = KeySet::new([signer.verifying_key()]);
        let token = &tokens(&signer, 1)[0];
        let mut check = signature_check(token, &keys).unwrap();
        assert_eq!(verify_signatures(std::slice::from_ref(&check)), vec![true]);
        check.message = b"eyJhbGciOiJFZERTQSJ9.e30".as_slice().into();
        assert_eq!(verify_signatures(&[check]), vec![false]);
    }
}
