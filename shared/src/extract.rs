//! Extractors whose rejections are problem+json, so bad input always gets the
//! envelope of the contract instead of axum's plain-text defaults.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::problem::{ErrorCode, Problem};

/// Largest request body accepted anywhere (the contract's 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of an oversized body is read and thrown away before answering 413,
/// so the client, still sending, receives the answer instead of a reset.
const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A JSON body: `application/json`, at most [`MAX_BODY_BYTES`], decoded with
/// serde (unknown fields are rejected by the target types).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Problem> {
        read_json(request, false)
            .await?
            .map(Json)
            .ok_or_else(|| Problem::invalid("a JSON body is required"))
    }
}

/// A JSON body like [`Json`], or no body at all (an empty body, with or
/// without a `Content-Type`), which gives `T::default()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrEmpty<T>(pub T);

impl<T, S> FromRequest<S> for JsonOrEmpty<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Problem> {
        read_json(request, true)
            .await
            .map(|v| JsonOrEmpty(v.unwrap_or_default()))
    }
}

/// The JSON body of `request`; `None` only when `allow_empty` and the body
/// has no bytes.
async fn read_json<T: DeserializeOwned>(
    request: Request,
    allow_empty: bool,
) -> Result<Option<T>, Problem> {
    {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        let declared_too_large = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|len| len > MAX_BODY_BYTES as u64);
        let bytes = read_limited(request.into_body()).await?;
        if declared_too_large {
            return Err(too_large());
        }
        if allow_empty && bytes.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(Problem::invalid(
                "expected a body with Content-Type: application/json",
            ));
        }
        decode(&bytes).map(Some)
    }
}

/// Decode a JSON document; a failure is `400 INVALID_REQUEST` whose
/// `detail` names the field at fault (`name`, `schedules[0].price`), so a
/// client can tell which input to correct.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            Problem::invalid(format!("invalid JSON body: {inner}"))
        } else {
            Problem::invalid(format!("invalid JSON body: field `{path}`: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| Problem::invalid(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

fn too_large() -> Problem {
    Problem::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Read the body up to the limit; past it, drain (bounded) and answer 413.
async fn read_limited(body: axum::body::Body) -> Result<Vec<u8>, Problem> {
    let mut body = body;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Problem::invalid("could not read the request body"))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                let mut drained = buf.len() + data.len();
                let drain = async {
                    while let Some(Ok(frame)) = body.frame().await {
                        if let Ok(data) = frame.into_data() {
                            drained += data.len();
                            if drained > DRAIN_LIMIT_BYTES {
                                break;
                            }
                        }
                    }
                };
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

impl<T> axum::response::IntoResponse for Json<T>
where
    T: serde::Serialize,
{
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Wraps one of axum's parts extractors so its rejection is a 400 problem.
macro_rules! problem_extractor {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $rejection:ty, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<T>(pub T);

        impl<T, S> FromRequestParts<S> for $name<T>
        where
            T: DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = Problem;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &S,
            ) -> Result<Self, Problem> {
                axum::extract::$inner::<T>::from_request_parts(parts, state)
                    .await
                    .map(|axum::extract::$inner(v)| $name(v))
                    .map_err(|e: $rejection| Problem::invalid(format!(concat!($what, ": {}"), e.body_text())))
            }
        }
    };
}

problem_extractor!(
    /// Path parameters; a value that does not parse is `400 INVALID_REQUEST`.
    Path,
    Path,
    PathRejection,
    "invalid path parameter"
);
problem_extractor!(
    /// Query parameters; unknown or malformed ones are `400 INVALID_REQUEST`.
    Query,
    Query,
    QueryRejection,
    "invalid query"
);
