//! Per-request limits: the body is read whole, within the body timeout and
//! before the request takes a worker slot (so slow senders hold a connection,
//! never a slot), and the answer is due within the request timeout.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::Serving;
use crate::extract::MAX_BODY_BYTES;
use crate::problem::{ErrorCode, Problem};

/// How much of an oversized body is read and thrown away after the answer
/// is ready, so the client, still sending, receives it instead of a reset.
const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Part of [`crate::http::with_standard_layers`]: read the body within
/// `BODY_READ_TIMEOUT_SECS`, else `408 REQUEST_TIMEOUT` problem+json
/// (`http_timeouts_total{kind="body"}`). A body over
/// [`MAX_BODY_BYTES`] is handed on cut just past the limit, so the route
/// answers in its own order (authentication first, then `413`), and the
/// rest is drained after the answer is ready.
pub(crate) async fn read_body(
    serving: &Serving,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let (parts, body) = request.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next(Request::from_parts(parts, body)).await;
    }
    let timeout = serving.settings.body_read_timeout;
    let mut body = body;
    let read = tokio::time::timeout(timeout, read_prefix(&mut body)).await;
    match read {
        Err(_) => {
            metrics::counter!("http_timeouts_total", "kind" => "body").increment(1);
            Problem::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
            )
            .into_response()
        }
        Ok(Err(())) => Problem::invalid("could not read the request body").into_response(),
        Ok(Ok((bytes, complete))) => {
            let response = next(Request::from_parts(parts, Body::from(bytes))).await;
            if !complete {
                drain(body).await;
            }
            response
        }
    }
}

/// Read up to one byte past [`MAX_BODY_BYTES`]; `complete` when the body
/// ended within the limit.
async fn read_prefix(body: &mut Body) -> Result<(Bytes, bool), ()> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                let room = MAX_BODY_BYTES + 1 - buf.len();
                buf.extend_from_slice(&data[..room.min(data.len())]);
                return Ok((buf.freeze(), false));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((buf.freeze(), true))
}

async fn drain(mut body: Body) {
    let mut drained = 0usize;
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
}

/// Part of [`crate::http::with_standard_layers`]: the answer is due within
/// `REQUEST_TIMEOUT_SECS` of the body's arrival (a wait for a slot
/// included), else `503 UNAVAILABLE` with `Retry-After`
/// (`http_timeouts_total{kind="request"}`). The handler is dropped: its open
/// Postgres transaction rolls back.
pub(crate) async fn deadline(
    serving: &Serving,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let timeout = serving.settings.request_timeout;
    match tokio::time::timeout(timeout, next(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("http_timeouts_total", "kind" => "request").increment(1);
            Problem::new(
                ErrorCode::Unavailable,
                format!(
                    "the request was not answered within {} s; retry",
                    timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}
