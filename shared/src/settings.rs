//! Reading configuration from the environment: typed, with defaults, and
//! failing fast with the variable's name when a value does not parse.

use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
#[error("configuration variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// The raw value of `name`, or `None` when unset or empty.
pub fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `name` parsed as `T`, or `default` when unset.
pub fn parse_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError {
            name,
            reason: e.to_string(),
            value,
        }),
    }
}

/// Like [`parse_or`], then checks `min..=max`.
pub fn parse_in_range<T>(name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
    T::Err: std::fmt::Display,
{
    let value = parse_or(name, default)?;
    if value < min || value > max {
        return Err(ConfigError {
            name,
            value: value.to_string(),
            reason: format!("must be between {min} and {max}"),
        });
    }
    Ok(value)
}

/// A boolean: `true/false`, `1/0`, `yes/no`, `on/off`.
pub fn bool_or(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError {
                name,
                value,
                reason: "expected true or false".into(),
            }),
        },
    }
}

/// A string with a default.
pub fn string_or(name: &'static str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

/// `REDIS_KEY_PREFIX` must be usable as the first segment of every key.
pub fn key_prefix(name: &'static str, default: &str) -> Result<String, ConfigError> {
    let value = string_or(name, default);
    if value.len() > 64 || value.contains(['{', '}', ' ']) {
        return Err(ConfigError {
            name,
            value,
            reason: "at most 64 characters, without braces or spaces".into(),
        });
    }
    Ok(value)
}
