//! Value types that can only hold valid values ("parse, don't validate"):
//! each has one constructor that refuses bad input, and handlers convert at
//! the edge, so the rest of the code never re-checks a seat number or amount.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name, concert title or venue: 1 to 200 characters without control
/// characters (API.md, Errors); blank ones are refused where they are used.
pub type Label = shared::text::Text<1, 200>;

/// A new password: 8 to 128 characters without control characters (API.md,
/// `POST /v1/admin/users`).
pub type NewPassword = shared::text::Text<8, 128>;

/// A password given at login: any length up to 128 characters, so that a
/// short wrong guess is a `401` like any other; control characters are `400`.
pub type Password = shared::text::Text<1, 128>;

/// A seat of a schedule: a positive integer. Whether it exists is the
/// schedule's business (`404 SEAT_NOT_FOUND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SeatNumber(i32);

impl SeatNumber {
    pub fn new(value: i64) -> Result<Self, String> {
        if value <= 0 {
            return Err(format!(
                "seat_number must be a positive integer, got {value}"
            ));
        }
        i32::try_from(value)
            .map(Self)
            .map_err(|_| format!("seat_number {value} is out of range"))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for SeatNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// In the OpenAPI document: an integer `1..=1000` (the most seats a
/// schedule can have; 50 unless the concert was created with another count).
/// A positive number over the schedule's `total_seats` is `404 SEAT_NOT_FOUND`.
impl utoipa::PartialSchema for SeatNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(MAX_SEATS_PER_SCHEDULE))
            .description(Some(
                "A seat: 1..=total_seats of its schedule (50 seats unless the concert was \
                 created with another count, at most 1000)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for SeatNumber {}

/// The most seats one schedule can have (`POST /v1/admin/concerts`).
pub const MAX_SEATS_PER_SCHEDULE: i32 = 1000;

impl std::fmt::Display for SeatNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An amount of KRW to add to a balance: `1..=10,000,000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ChargeAmount(i64);

impl ChargeAmount {
    pub const MAX: i64 = 10_000_000;

    pub fn new(value: i64) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!(
                "amount must be between 1 and {}, got {value}",
                Self::MAX
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// In the OpenAPI document: an integer `1..=10,000,000` (KRW).
impl utoipa::PartialSchema for ChargeAmount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(Self::MAX))
            .description(Some("KRW to add, 1..=10,000,000"))
            .into()
    }
}

impl utoipa::ToSchema for ChargeAmount {}

impl<'de> Deserialize<'de> for ChargeAmount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The largest balance a user may have (also a CHECK in the schema), far
/// below `i64::MAX` so that adding a charge can never overflow.
pub const MAX_BALANCE: i64 = 1_000_000_000_000;

/// The lifecycle of a reservation, as stored: `held` until paid
/// (`confirmed`), released (`cancelled`) or timed out (`expired`, as soon as
/// `expires_at` passed, swept or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

impl ReservationStatus {
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "held" => Some(Self::Held),
            "confirmed" => Some(Self::Confirmed),
            "expired" => Some(Self::Expired),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// The status as the client sees it at `now`: a hold whose time has run
    /// out is `expired`, whether or not the sweeper has visited it yet.
    pub fn at(self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match self {
            Self::Held if expires_at <= now => Self::Expired,
            other => other,
        }
    }
}

/// The current time, to the millisecond (what the API shows and stores).
/// Handlers read it once and pass it down: time is an input of every rule.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Deserialize a timestamp sent by a client: strict RFC 3339 (API.md:
/// "Timestamps are RFC 3339 … strings"), read as [`shared::text::Text`]
/// first, so a control character is refused like in any text field (chrono's
/// own parser would skip whitespace such as a tab).
pub fn rfc3339_in<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = shared::text::Text::<1, 64>::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {e}")))
}

/// Serialize a timestamp as RFC 3339 UTC with milliseconds (`…T10:05:00.000Z`).
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seat_numbers_are_positive_integers() {
        assert!(serde_json::from_str::<SeatNumber>("0").is_err());
        assert!(serde_json::from_str::<SeatNumber>("-1").is_err());
        assert!(serde_json::from_str::<SeatNumber>("\"7\"").is_err());
        assert!(serde_json::from_str::<SeatNumber>("7.5").is_err());
        assert!(serde_json::from_str::<SeatNumber>("99999999999999999999").is_err());
        assert!(serde_json::from_str::<SeatNumber>("4294967296").is_err());
        assert_eq!(
            serde_json::from_str::<SeatNumber>("51")
                .map(SeatNumber::get)
                .ok(),
            Some(51)
        );
    }

    #[test]
    fn an_expired_hold_reads_as_expired() {
        let now = now();
        let later = now + chrono::Duration::seconds(1);
        assert_eq!(
            ReservationStatus::Held.at(later, now),
            ReservationStatus::Held
        );
        assert_eq!(
            ReservationStatus::Held.at(now, now),
            ReservationStatus::Expired
        );
        assert_eq!(
            ReservationStatus::Confirmed.at(now, later),
            ReservationStatus::Confirmed
        );
    }

    proptest! {
        #[test]
        fn charge_amount_accepts_exactly_its_range(value in any::<i64>()) {
            prop_assert_eq!(ChargeAmount::new(value).is_ok(), (1..=10_000_000).contains(&value));
        }

        #[test]
        fn seat_number_accepts_exactly_positive_i32(value in any::<i64>()) {
            prop_assert_eq!(SeatNumber::new(value).is_ok(), value > 0 && value <= i64::from(i32::MAX));
        }
    }
}
