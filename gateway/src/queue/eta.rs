//! How long a waiting user will wait: `eta_seconds` and the range
//! `eta_range_seconds` (API.md, Gateway: "the range that should contain the
//! real wait 8 times out of 10, from the spread of the recent admission
//! rate").
//!
//! Both come from what the ticker keeps per tick over the last minute (the
//! `admits` and `stats` keys, see [`crate::keys`]): `n` ticks that had
//! someone to admit, over `window_ms`, admitted `a_1 … a_n` users, of which
//! the stats keep the sum `A` and the sum of squares `Q`. A poll reads
//! these three numbers with the line length in the same script call, so
//! the range costs no Redis work per poll.
//!
//! The method (ARCHITECTURE.md, "ETA and its range"):
//!
//! - rate `r = A / window_ms`; `eta = position / r`, rounded up;
//! - per tick, mean `m = A / n` and variance `v = Q / n - m²`;
//! - the wait spans `k = position / m` ticks; the average admission over
//!   them is uncertain by its own noise (`v / k`) and by how well the last
//!   minute knows the mean (`v / n`): relative spread
//!   `c = sqrt(v / k + v / n) / m`;
//! - 8 in 10 of a normal spread lie within `z = 1.2816` of its centre, so
//!   the rate over the wait lies in `r (1 ± z c)` and the wait in
//!   `[eta / (1 + z c), eta / (1 - z c)]` (the divisor is kept at 0.1 or
//!   more: a rate that may fall to nothing bounds the wait at ten times the
//!   estimate);
//! - admissions happen at tick boundaries, so one tick's length is added
//!   on either side; the bounds are whole seconds (floor and ceiling) and
//!   always contain `eta_seconds`.

/// `z` of the central 80 % of a normal distribution (the 90th percentile).
const Z_80: f64 = 1.281_551_565_545;

/// The smallest share of the measured rate the range allows for.
const MIN_RATE_SHARE: f64 = 0.1;

/// What the ticker measured over the last minute of ticks that had someone
/// to admit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rate {
    /// Users admitted over the window.
    pub admitted: u64,
    /// The window's length, in milliseconds.
    pub window_ms: u64,
    /// Ticks in the window.
    pub ticks: u64,
    /// Sum over those ticks of the square of each one's admissions.
    pub admitted_sq: u64,
}

/// Seconds until `position` reaches the front at the measured rate
/// (`admitted` users over the last `window_ms`); `None` while paused or
/// before anyone was admitted.
pub fn eta_seconds(position: u64, admitted: u64, window_ms: u64, paused: bool) -> Option<u64> {
    if paused || admitted == 0 || window_ms == 0 {
        return None;
    }
    let ms = u128::from(position) * u128::from(window_ms);
    u64::try_from(ms.div_ceil(u128::from(admitted) * 1000)).ok()
}

/// `eta_seconds` and `eta_range_seconds` `[low, high]` of a waiting user at
/// `position` (the method is in the module's documentation). Both are
/// `None` while paused or before anyone was admitted; the range is also
/// `None` for a window without per-tick figures (kept by the ticker from
/// its next tick on). `low <= eta <= high` always.
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts and seconds far below 2^52; the bounds are non-negative and finite"
)]
pub fn estimate(position: u64, rate: Rate, paused: bool) -> (Option<u64>, Option<[u64; 2]>) {
    let Some(eta) = eta_seconds(position, rate.admitted, rate.window_ms, paused) else {
        return (None, None);
    };
    if rate.ticks == 0 {
        return (Some(eta), None);
    }
    let n = rate.ticks as f64;
    let mean = rate.admitted as f64 / n;
    let variance = (rate.admitted_sq as f64 / n - mean * mean).max(0.0);
    let horizon = (position as f64 / mean).max(1.0);
    let spread = (variance / horizon + variance / n).sqrt() / mean;
    let exact = position as f64 * rate.window_ms as f64 / (rate.admitted as f64 * 1000.0);
    let tick_s = rate.window_ms as f64 / n / 1000.0;
    let low = exact / (1.0 + Z_80 * spread) - tick_s;
    let high = exact / (1.0 - Z_80 * spread).max(MIN_RATE_SHARE) + tick_s;
    let low = (low.max(0.0).floor() as u64).min(eta);
    let high = (high.ceil().min(1.0e15) as u64).max(eta);
    (Some(eta), Some([low, high]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_measured_rate() {
        // 100 admitted over 10 s = 10/s; position 50 → 5 s.
        assert_eq!(eta_seconds(50, 100, 10_000, false), Some(5));
        assert_eq!(eta_seconds(51, 100, 10_000, false), Some(6));
        assert_eq!(eta_seconds(50, 100, 10_000, true), None);
        assert_eq!(eta_seconds(50, 0, 10_000, false), None);
    }

    fn rate(per_tick: &[u64]) -> Rate {
        Rate {
            admitted: per_tick.iter().sum(),
            window_ms: 1000 * per_tick.len() as u64,
            ticks: per_tick.len() as u64,
            admitted_sq: per_tick.iter().map(|a| a * a).sum(),
        }
    }

    #[test]
    fn a_steady_rate_gives_a_range_of_one_tick_either_side() {
        let (eta, range) = estimate(100, rate(&[10; 60]), false);
        assert_eq!(eta, Some(10));
        assert_eq!(range, Some([9, 11]));
    }

    #[test]
    fn an_uneven_rate_widens_the_range_and_it_always_holds_the_eta() {
        let even = estimate(300, rate(&[5; 60]), false).1.unwrap();
        let uneven: Vec<u64> = (0..60).map(|i| if i % 2 == 0 { 0 } else { 10 }).collect();
        let (eta, wide) = estimate(300, rate(&uneven), false);
        let eta = eta.unwrap();
        let wide = wide.unwrap();
        assert!(
            wide[1] - wide[0] > even[1] - even[0],
            "{wide:?} vs {even:?}"
        );
        assert!(wide[0] <= eta && eta <= wide[1]);
        for position in [1, 2, 7, 50, 1_000, 1_000_000] {
            for per_tick in [&[1, 0, 0, 0][..], &[100, 0, 3], &[2; 240]] {
                let (eta, range) = estimate(position, rate(per_tick), false);
                let [low, high] = range.unwrap();
                assert!(
                    low <= eta.unwrap() && eta.unwrap() <= high,
                    "{position} {per_tick:?}"
                );
            }
        }
    }

    #[test]
    fn no_range_while_paused_or_without_a_rate() {
        assert_eq!(estimate(10, rate(&[10; 60]), true), (None, None));
        assert_eq!(estimate(10, rate(&[0; 60]), false), (None, None));
        let no_ticks = Rate {
            ticks: 0,
            ..rate(&[10; 60])
        };
        assert_eq!(estimate(10, no_ticks, false), (Some(1), None));
    }
}
