//! [`Text`]: the one type through which client text enters either service
//! (names, titles, venues, passwords, `Idempotency-Key`).
//!
//! API.md (Errors) refuses text with control characters (U+0000–U+001F,
//! U+007F) in any text field with `400 INVALID_REQUEST`. Postgres refuses a
//! NUL byte outright, so text that skipped this check would be a 500; every
//! request type therefore declares its text fields as `Text<MIN, MAX>`, and a
//! body that breaks the rule is refused while it is decoded, with the field's
//! path in the problem's `detail` (see [`crate::extract::Json`]).

use std::fmt;

use axum::http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize};

use crate::problem::Problem;

/// Why a string is not acceptable [`Text`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Too short or too long, counted in Unicode scalar values (characters).
    #[error("must be {min} to {max} characters, got {got}")]
    Length { min: usize, max: usize, got: usize },
    /// A control character (U+0000–U+001F or U+007F); `at` counts characters from 1.
    #[error("must not contain control characters (U+{code:04X} at character {at})")]
    Control { code: u32, at: usize },
}

/// A string of `MIN..=MAX` characters without control characters
/// (U+0000–U+001F, U+007F; API.md, Errors). Deserializes from a JSON string
/// and refuses anything else; serializes as the string.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    /// `value` if it has `MIN..=MAX` characters and no control character.
    pub fn new(value: impl Into<String>) -> Result<Self, TextError> {
        let value = value.into();
        check(&value, MIN, MAX)?;
        Ok(Self(value))
    }

    /// The value of header `name`, if present: `Ok(None)` when absent, else
    /// the header as text or `400 INVALID_REQUEST` naming the header (a value
    /// that is not visible ASCII, such as obs-text bytes, is refused too).
    pub fn from_header(headers: &HeaderMap, name: &str) -> Result<Option<Self>, Problem> {
        let Some(value) = headers.get(name) else {
            return Ok(None);
        };
        let text = value
            .to_str()
            .map_err(|_| Problem::invalid(format!("header `{name}`: must be visible ASCII")))?;
        Self::new(text)
            .map(Some)
            .map_err(|e| Problem::invalid(format!("header `{name}`: {e}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Check `value` against the rule of [`Text`] with the given bounds.
pub fn check(value: &str, min: usize, max: usize) -> Result<(), TextError> {
    let mut got = 0;
    for (i, c) in value.chars().enumerate() {
        if c.is_ascii_control() {
            return Err(TextError::Control {
                code: u32::from(c),
                at: i + 1,
            });
        }
        got += 1;
    }
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(TextError::Length { min, max, got })
    }
}

impl<const MIN: usize, const MAX: usize> std::ops::Deref for Text<MIN, MAX> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> AsRef<str> for Text<MIN, MAX> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Display for Text<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Debug shows the length only: the text may be a password.
impl<const MIN: usize, const MAX: usize> fmt::Debug for Text<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({} bytes)", self.0.len())
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Name = Text<1, 5>;

    #[test]
    fn control_characters_are_refused_wherever_they_are() {
        for c in (0u8..=0x1f).chain([0x7f]) {
            let value = format!("a{}b", char::from(c));
            assert_eq!(
                Name::new(value),
                Err(TextError::Control {
                    code: u32::from(c),
                    at: 2
                })
            );
        }
        assert!(Name::new("é ü").is_ok(), "non-ASCII text is fine");
        assert!(
            Name::new("\u{85}").is_ok(),
            "C1 controls are not in the contract's set"
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(Name::new("ééééé").is_ok());
        assert_eq!(
            Name::new("123456"),
            Err(TextError::Length {
                min: 1,
                max: 5,
                got: 6
            })
        );
        assert!(Name::new("").is_err());
    }

    #[test]
    fn deserializing_applies_the_rule() {
        assert!(serde_json::from_str::<Name>(r#""a\u0000b""#).is_err());
        assert!(serde_json::from_str::<Name>("12").is_err());
        assert_eq!(
            serde_json::from_str::<Name>(r#""ok""#).unwrap().as_str(),
            "ok"
        );
    }

    #[test]
    fn headers_are_text_too() {
        let mut headers = HeaderMap::new();
        assert!(Name::from_header(&headers, "k").unwrap().is_none());
        headers.insert("k", "a\tb".parse().unwrap());
        let refused = Name::from_header(&headers, "k").unwrap_err();
        assert!(refused.detail.contains("header `k`"), "{}", refused.detail);
        headers.insert("k", axum::http::HeaderValue::from_bytes(b"\xe9").unwrap());
        assert!(Name::from_header(&headers, "k").is_err());
        headers.insert("k", "abc".parse().unwrap());
        assert_eq!(
            Name::from_header(&headers, "k").unwrap().unwrap().as_str(),
            "abc"
        );
    }
}
