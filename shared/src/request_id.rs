//! The request id: taken from `x-request-id` or generated, echoed on the
//! response, attached to every log line of the request and to problem bodies.
//!
//! The id is kept in a task-local for the duration of the request so that code
//! far from the handler (error conversion, rejections) can read it without
//! threading it through every signature.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served by this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Part of [`crate::http::with_standard_layers`]: establish
/// the request id, run `next` inside a span that carries it.
pub(crate) async fn layer(
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(HEADER, value.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = REQUEST_ID
        .scope(id, tracing::Instrument::instrument(next(request), span))
        .await;
    response.headers_mut().insert(HEADER, value);
    response
}
