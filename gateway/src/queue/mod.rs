//! The waiting room: join, poll, leave, public numbers and operator settings.
//!
//! Each request is answered by a Lua script on the concert's keys (see
//! [`crate::keys`]; polls and joins share script calls, see [`calls`]); the
//! script's reply is parsed into a [`Place`] and rendered as the contract's
//! `QueueStatus`.

mod calls;
pub mod eta;
mod join;
mod settings;
mod status;

use chrono::{SecondsFormat, TimeZone, Utc};
use redis::Value;
use serde::Serialize;
use shared::ids::{ConcertId, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub use calls::QueueCalls;

use crate::error::ApiError;
use crate::state::AppState;

/// The queue's routes; each path and method is in its handler's
/// `#[utoipa::path]`, which also documents it.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join::join, settings::public_stats))
        .routes(routes!(status::status))
        .routes(routes!(status::leave))
        .routes(routes!(settings::update))
}

/// Where a ticket stands, as the scripts report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Waiting {
        position: u64,
        waiting: u64,
        paused: bool,
        admitted_last_minute: u64,
        window_ms: u64,
        /// Seats neither held nor sold on the concert's upcoming schedules
        /// (the ticker's count, at most 5 s old); `None` if not counted.
        seats_available: Option<u64>,
        /// Ticks in the rate window, and the sum of the squares of what
        /// each admitted: the spread of the rate ([`eta`]).
        ticks: u64,
        admitted_sq: u64,
    },
    /// In the pre-queue: before the scheduled opening (API.md, "Scheduled
    /// opening, fair draw").
    Prequeue {
        opens_at_ms: i64,
        /// SHA-256 of the draw seed.
        commitment: [u8; 32],
    },
    /// Every seat is sold (API.md, "Sold out"); the ticket holds no place.
    SoldOut,
    Active {
        session_end_ms: i64,
        /// The queue's epoch, carried by the access token (`qep`).
        epoch: Option<i64>,
    },
    /// No place; `idle` when it was just dropped for not polling.
    Gone { idle: bool },
}

/// One request's reply from a batched script: a line of text.
fn line(value: &Value) -> Result<&str, ApiError> {
    match value {
        Value::BulkString(bytes) => {
            std::str::from_utf8(bytes).map_err(|e| ApiError::Protocol(e.to_string()))
        }
        other => Err(ApiError::Protocol(format!(
            "expected a string, got {other:?}"
        ))),
    }
}

impl Place {
    /// Parse a status encoded by `encode` of `status_fn.lua`: its fields,
    /// split on spaces.
    pub fn parse(fields: &[&str]) -> Result<Self, ApiError> {
        let field = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or_else(|| ApiError::Protocol(format!("short status reply {fields:?}")))
        };
        let int = |i: usize| -> Result<i64, ApiError> {
            let f = field(i)?;
            f.parse()
                .map_err(|e| ApiError::Protocol(format!("status field {f:?}: {e}")))
        };
        let u = |i: usize| -> Result<u64, ApiError> { Ok(u64::try_from(int(i)?).unwrap_or(0)) };
        match field(0)? {
            "w" => Ok(Place::Waiting {
                position: u(1)?,
                waiting: u(2)?,
                paused: field(3)? == "1",
                admitted_last_minute: u(4)?,
                window_ms: u(5)?,
                seats_available: fields.get(6).and_then(|n| n.parse().ok()),
                ticks: fields.get(7).and_then(|n| n.parse().ok()).unwrap_or(0),
                admitted_sq: fields.get(8).and_then(|n| n.parse().ok()).unwrap_or(0),
            }),
            "p" => Ok(Place::Prequeue {
                opens_at_ms: int(1)?,
                commitment: unhex(field(2)?)
                    .ok_or_else(|| ApiError::Protocol(format!("bad commitment {fields:?}")))?,
            }),
            "s" => Ok(Place::SoldOut),
            "a" => Ok(Place::Active {
                session_end_ms: int(1)?,
                epoch: fields.get(2).and_then(|e| e.parse().ok()),
            }),
            "n" => Ok(Place::Gone {
                idle: fields.get(1) == Some(&"idle"),
            }),
            other => Err(ApiError::Protocol(format!("unknown status tag {other:?}"))),
        }
    }
}

/// 64 hex digits as 32 bytes.
fn unhex(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digits = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An RFC 3339 UTC timestamp (seconds precision unless `ms` has a fraction).
pub fn rfc3339_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// The contract's `QueueStatus` (API.md, Gateway): where a ticket stands,
/// told apart by its `status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(
    property_name = "status",
    mapping(
        ("prequeue" = "#/components/schemas/Prequeue"),
        ("waiting" = "#/components/schemas/Waiting"),
        ("active" = "#/components/schemas/Active"),
        ("sold_out" = "#/components/schemas/SoldOut")
    )
))]
pub enum QueueStatus {
    Prequeue(Prequeue),
    Waiting(Waiting),
    Active(Active),
    SoldOut(SoldOut),
}

/// Before the scheduled opening: `status` `prequeue`. Nobody is admitted
/// and arrival time gives no advantage; at `opens_at` the pre-queue is
/// drawn in the order of SHA-256(`draw_seed` + ticket id).
#[derive(Debug, Serialize, ToSchema)]
pub struct Prequeue {
    #[schema(inline)]
    pub status: PrequeueTag,
    /// The scheduled opening (RFC 3339 UTC).
    #[schema(format = DateTime)]
    pub opens_at: String,
    /// Lowercase hex SHA-256 of the secret `draw_seed`'s 64 ASCII
    /// characters; the seed is published at the opening.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub draw_commitment: String,
    /// When to poll again, in milliseconds.
    pub poll_after_ms: u64,
}

/// Every seat of every upcoming schedule is sold: `status` `sold_out`.
/// The ticket holds no place.
#[derive(Debug, Serialize, ToSchema)]
pub struct SoldOut {
    #[schema(inline)]
    pub status: SoldOutTag,
}

/// In line: `status` `waiting`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Waiting {
    #[schema(inline)]
    pub status: WaitingTag,
    /// 1 for the head of the line.
    #[schema(minimum = 1)]
    pub position: u64,
    /// Users waiting in this concert's queue.
    pub waiting: u64,
    /// Seconds until admission at the admission rate measured over the last
    /// minute; `null` while paused or before anyone was admitted.
    #[schema(required = true)]
    pub eta_seconds: Option<u64>,
    /// `[low, high]` in seconds: the range that should contain the real wait
    /// 8 times out of 10. From the spread of the per-tick admissions over
    /// the last minute: with mean `m` and variance `v` over `n` ticks, a
    /// wait of `k = position / m` ticks has a relative rate spread
    /// `c = sqrt(v/k + v/n) / m`, and the range is `eta / (1 ± 1.2816 c)`
    /// widened by one tick on either side (ARCHITECTURE.md, "ETA and its
    /// range"). Always contains `eta_seconds`; `null` while paused or when
    /// no estimate exists.
    #[schema(required = true, min_items = 2, max_items = 2)]
    pub eta_range_seconds: Option<[u64; 2]>,
    /// When to poll again, in milliseconds (well inside the idle timeout,
    /// `QUEUE_IDLE_TIMEOUT_SECS`).
    #[schema(minimum = 250)]
    pub poll_after_ms: u64,
    /// The operator paused admissions; the place is kept.
    pub paused: bool,
    /// Seats of the concert's upcoming schedules neither held nor sold (at
    /// most 5 s old); `null` if unknown.
    #[schema(required = true)]
    pub seats_available: Option<u64>,
}

/// Admitted: `status` `active`, with the access token for booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct Active {
    #[schema(inline)]
    pub status: ActiveTag,
    /// The access token (EdDSA JWS, `aud` `booking`) for booking's admitted
    /// endpoints, valid until `expires_at`.
    pub access_token: String,
    /// End of the active session (RFC 3339 UTC), `ACTIVE_TTL_SECS` after admission.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// The `status` of [`Waiting`]: always `waiting`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitingTag {
    Waiting,
}

/// The `status` of [`Prequeue`]: always `prequeue`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PrequeueTag {
    Prequeue,
}

/// The `status` of [`SoldOut`]: always `sold_out`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SoldOutTag {
    SoldOut,
}

/// The `status` of [`Active`]: always `active`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActiveTag {
    Active,
}

pub use eta::eta_seconds;

/// When the client should poll again: about a tenth of the ETA, so the
/// answer is fresh where it matters (near the front, at the tick rate) and
/// cheap far back (up to 15 s), and always well inside the idle timeout.
pub fn poll_after_ms(
    eta_seconds: Option<u64>,
    paused: bool,
    tick_ms: u64,
    idle_timeout_ms: u64,
) -> u64 {
    let floor = tick_ms.clamp(250, 1000);
    let wanted = if paused {
        5_000
    } else {
        match eta_seconds {
            Some(eta) => (eta.saturating_mul(1000) / 10).clamp(floor, 15_000),
            None => 2_000,
        }
    };
    wanted.min((idle_timeout_ms / 3).max(250))
}

/// Render a place as the contract's status, signing an access token when active.
pub fn render(
    state: &AppState,
    user: UserId,
    concert: ConcertId,
    ticket: Uuid,
    place: Place,
) -> Option<QueueStatus> {
    let settings = &state.settings;
    match place {
        Place::Waiting {
            position,
            waiting,
            paused,
            admitted_last_minute,
            window_ms,
            seats_available,
            ticks,
            admitted_sq,
        } => {
            let rate = eta::Rate {
                admitted: admitted_last_minute,
                window_ms,
                ticks,
                admitted_sq,
            };
            let (eta, eta_range) = eta::estimate(position, rate, paused);
            let idle_ms = u64::try_from(settings.idle_timeout.as_millis()).unwrap_or(u64::MAX);
            let tick_ms = u64::try_from(settings.tick.as_millis()).unwrap_or(u64::MAX);
            Some(QueueStatus::Waiting(Waiting {
                status: WaitingTag::Waiting,
                position,
                waiting,
                eta_seconds: eta,
                eta_range_seconds: eta_range,
                poll_after_ms: poll_after_ms(eta, paused, tick_ms, idle_ms),
                paused,
                seats_available,
            }))
        }
        Place::Prequeue {
            opens_at_ms,
            commitment,
        } => {
            let idle_ms = u64::try_from(settings.idle_timeout.as_millis()).unwrap_or(u64::MAX);
            Some(QueueStatus::Prequeue(Prequeue {
                status: PrequeueTag::Prequeue,
                opens_at: rfc3339_ms(opens_at_ms),
                draw_commitment: hex(&commitment),
                // As a paused queue: nothing moves until the opening.
                poll_after_ms: poll_after_ms(None, true, 1000, idle_ms),
            }))
        }
        Place::SoldOut => Some(QueueStatus::SoldOut(SoldOut {
            status: SoldOutTag::SoldOut,
        })),
        Place::Active {
            session_end_ms,
            epoch,
        } => {
            let end_secs = session_end_ms.div_euclid(1000);
            let token = state.tokens.access_token(
                user,
                concert,
                ticket,
                end_secs,
                epoch,
                state.clock.now_secs(),
            );
            let expires_at = Utc
                .timestamp_opt(end_secs, 0)
                .single()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            Some(QueueStatus::Active(Active {
                status: ActiveTag::Active,
                access_token: token,
                expires_at,
            }))
        }
        Place::Gone { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_short_near_the_front_and_long_far_back() {
        let near = poll_after_ms(Some(1), false, 1000, 120_000);
        let far = poll_after_ms(Some(3600), false, 1000, 120_000);
        assert_eq!(near, 1000);
        assert_eq!(far, 15_000);
        assert!(poll_after_ms(Some(3600), false, 1000, 9_000) <= 3_000);
        assert_eq!(poll_after_ms(None, true, 1000, 120_000), 5_000);
    }
}
