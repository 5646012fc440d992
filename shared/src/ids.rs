//! Identifier and value types that can only hold valid values.
//!
//! Each has exactly one way in (`new`, or deserialisation, which calls it), so
//! a handler that holds a `UserId` never has to ask whether it is positive.

use serde::{Deserialize, Deserializer, Serialize};

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Accepts positive values only.
            pub fn new(value: i64) -> Result<Self, String> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(format!("{} must be a positive integer, got {value}", $what))
                }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = i64::deserialize(d)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }

        /// In the OpenAPI documents: an `int64` of at least 1.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::positive_id_schema($what)
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let value: i64 = s
                    .parse()
                    .map_err(|_| format!("{} must be a positive integer, got {s:?}", $what))?;
                Self::new(value)
            }
        }
    };
}

positive_id!(
    /// A user (`users.user_id`).
    UserId,
    "user id"
);
positive_id!(
    /// A concert (`concerts.concert_id`).
    ConcertId,
    "concert id"
);
positive_id!(
    /// A schedule, one date of a concert (`schedules.schedule_id`).
    ScheduleId,
    "schedule id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_zero_negative_and_non_numbers() {
        assert!(UserId::new(0).is_err());
        assert!(UserId::new(-3).is_err());
        assert_eq!(UserId::new(7).map(UserId::get), Ok(7));
        assert!(serde_json::from_str::<UserId>("\"7\"").is_err());
        assert!(serde_json::from_str::<UserId>("99999999999999999999").is_err());
        assert!(serde_json::from_str::<UserId>("1.5").is_err());
        assert_eq!(
            serde_json::from_str::<ConcertId>("42")
                .map(ConcertId::get)
                .ok(),
            Some(42)
        );
        assert!("0".parse::<ScheduleId>().is_err());
        assert!("abc".parse::<ScheduleId>().is_err());
    }
}
