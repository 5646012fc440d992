//! The fair draw of a scheduled opening (API.md, "Scheduled opening, fair
//! draw"): a commit–reveal over a secret seed.
//!
//! - When a queue's first `opens_at` is set, the gateway picks `draw_seed`
//!   (32 random bytes as 64 lowercase hex characters) and publishes
//!   `draw_commitment` = hex SHA-256 of the seed's ASCII text. The seed is
//!   kept in Postgres (`queue_settings.draw_seed`) and in the queue's Redis
//!   config hash; neither is readable through the public API before the
//!   opening.
//! - A ticket's draw key is hex SHA-256 of the seed followed by the ticket
//!   id (lowercase, hyphenated) as ASCII; the draw orders the pre-queue by
//!   ascending key. [`draw_key`] is the whole rule: anyone holding the
//!   published seed and a list of ticket ids can recompute the order.
//! - The order is fixed at join time: a pre-queue ticket is put in the line
//!   with the score `draw_base + first 51 bits of its key` ([`draw_score`]),
//!   so the draw at `opens_at` is one O(1) step (a flag and the join counter
//!   moved past the pre-queue) however long the pre-queue is. A join whose
//!   51-bit prefix equals one already taken gets another ticket id, so the
//!   scores are distinct and order exactly as the full keys do.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Pre-queue scores lie in `[draw_base, draw_base + DRAW_SPAN)`: 2^51, so a
/// base below 2^52 (a join counter of Unix ms × 1000 until the year 2112)
/// keeps every score an exact integer in a Redis double.
pub const DRAW_SPAN: i64 = 1 << 51;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A new secret seed: 32 bytes from the operating system's generator, as
/// 64 lowercase hex characters.
///
/// # Errors
/// The operating system's random source failed.
pub fn new_seed() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex(&bytes))
}

/// `draw_commitment`: lowercase hex SHA-256 of the seed's ASCII text.
pub fn commitment(seed: &str) -> String {
    hex(&Sha256::digest(seed.as_bytes()))
}

/// A ticket's draw key: lowercase hex SHA-256 of `seed` followed by the
/// ticket id (lowercase, hyphenated). The pre-queue is drawn in ascending
/// order of this key.
pub fn draw_key(seed: &str, ticket: Uuid) -> String {
    let mut hasher = Sha256::new();
    hasher.update(seed.as_bytes());
    hasher.update(ticket.hyphenated().to_string().as_bytes());
    hex(&hasher.finalize())
}

/// The waiting-line score of a pre-queue ticket: `base` plus the first 51
/// bits of its draw key, so scores order as the keys do (ties are refused
/// at join and the ticket id re-picked).
pub fn draw_score(seed: &str, ticket: Uuid, base: i64) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.as_bytes());
    hasher.update(ticket.hyphenated().to_string().as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let prefix = u64::from_be_bytes(first) >> 13;
    base.saturating_add(i64::try_from(prefix).unwrap_or(0))
}

/// Whether `s` has the shape of a seed: 64 lowercase hex characters.
pub fn is_seed(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn commitment_is_sha256_of_the_seed_text() {
        // sha256("abc")
        assert_eq!(
            commitment("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_seed(&new_seed().unwrap()));
        assert!(!is_seed(&SEED.to_uppercase()));
    }

    #[test]
    fn scores_order_as_the_draw_keys_do() {
        let mut tickets: Vec<Uuid> = (0..2000).map(|_| Uuid::new_v4()).collect();
        let base = 1_700_000_000_000_000;
        tickets.sort_by_key(|&t| draw_score(SEED, t, base));
        let keys: Vec<String> = tickets.iter().map(|&t| draw_key(SEED, t)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(
            tickets
                .iter()
                .all(|&t| (base..base + DRAW_SPAN).contains(&draw_score(SEED, t, base)))
        );
    }
}
