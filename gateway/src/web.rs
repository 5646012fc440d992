//! The pages a fan sees during an on-sale: concert list, waiting room, seat
//! map and checkout. One HTML page with its stylesheet, its entry script
//! (`/app.js`) and the ES modules that script imports (`/js/{file}`, one
//! per view or concern), embedded in the binary (`gateway/web/`), so every
//! gateway serves them with no extra step and no build step. The page calls the gateway's queue API on its own origin and
//! booking at `BOOKING_PUBLIC_URL`, which it reads from a `<meta>` tag.
//!
//! Every answer carries a strict Content-Security-Policy (own origin only,
//! plus booking for `fetch`; no inline script or style), `nosniff`, and
//! `Cache-Control: no-cache` with an `ETag`, so browsers revalidate cheaply
//! and never run a stale script against a newer page.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::extract::Path;
use shared::{ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../web/index.html");
/// Replaced by the HTML-escaped `BOOKING_PUBLIC_URL` when the page is served.
const BOOKING_URL_SLOT: &str = "{{BOOKING_URL}}";

/// A file served as it is embedded, with its validator computed once.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static str, content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            etag: etag_of(body),
        }
    }
}

static APP_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_str!("../web/app.js"),
        "text/javascript; charset=utf-8",
    )
});
/// The ES modules under `gateway/web/js/`, by file name. A module added
/// there is served once it is listed here.
static MODULES: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    macro_rules! modules {
        ($($name:literal),* $(,)?) => {
            vec![$((
                $name,
                Asset::new(
                    include_str!(concat!("../web/js/", $name)),
                    "text/javascript; charset=utf-8",
                ),
            )),*]
        };
    }
    modules![
        "api.js",
        "balance.js",
        "checkout.js",
        "concerts.js",
        "dates.js",
        "done.js",
        "dom.js",
        "format.js",
        "holds.js",
        "join.js",
        "limits.js",
        "login.js",
        "messages.js",
        "notice.js",
        "notfound.js",
        "router.js",
        "seats.js",
        "session.js",
        "shopping.js",
        "store.js",
        "verify.js",
        "waiting.js",
    ]
});
static APP_CSS: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_str!("../web/app.css"), "text/css; charset=utf-8"));
static ICON: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_str!("../web/icon.svg"), "image/svg+xml"));

/// Routes of the pages; merged into the gateway's router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(index_html))
        .routes(routes!(script))
        .routes(routes!(module))
        .routes(routes!(stylesheet))
        .routes(routes!(icon))
}

#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    summary = "The fan pages (HTML)",
    security(()),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
    ),
)]
async fn index(headers: HeaderMap, State(state): State<AppState>) -> Response {
    page(&headers, &state)
}

#[utoipa::path(
    get,
    path = "/index.html",
    tag = "pages",
    summary = "The fan pages (HTML), by file name",
    security(()),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
    ),
)]
async fn index_html(headers: HeaderMap, State(state): State<AppState>) -> Response {
    page(&headers, &state)
}

fn page(headers: &HeaderMap, state: &AppState) -> Response {
    let booking = &state.settings.booking_public_url;
    let body = INDEX_HTML.replace(BOOKING_URL_SLOT, &escape_attribute(booking));
    let etag = etag_of(&body);
    respond(
        headers,
        body,
        "text/html; charset=utf-8",
        etag,
        &content_security_policy(booking),
    )
}

#[utoipa::path(
    get,
    path = "/app.js",
    tag = "pages",
    summary = "The pages' script",
    security(()),
    responses(
        (status = 200, description = "The file", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
    ),
)]
async fn script(headers: HeaderMap, state: State<AppState>) -> Response {
    serve(&APP_JS, &headers, &state)
}

#[utoipa::path(
    get,
    path = "/js/{file}",
    tag = "pages",
    summary = "One ES module of the pages' script",
    security(()),
    params(("file" = String, Path, description = "The module's file name, such as `router.js`")),
    responses(
        (status = 200, description = "The module", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
        (status = 404, description = "NOT_FOUND: no module of that name"),
    ),
)]
async fn module(Path(file): Path<String>, headers: HeaderMap, state: State<AppState>) -> Response {
    match MODULES.iter().find(|(name, _)| *name == file) {
        Some((_, asset)) => serve(asset, &headers, &state),
        None => {
            Problem::new(ErrorCode::NotFound, "no such module of the fan pages").into_response()
        }
    }
}

#[utoipa::path(
    get,
    path = "/app.css",
    tag = "pages",
    summary = "The pages' stylesheet",
    security(()),
    responses(
        (status = 200, description = "The file", content_type = "text/css", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
    ),
)]
async fn stylesheet(headers: HeaderMap, state: State<AppState>) -> Response {
    serve(&APP_CSS, &headers, &state)
}

#[utoipa::path(
    get,
    path = "/icon.svg",
    tag = "pages",
    summary = "The pages' icon",
    security(()),
    responses(
        (status = 200, description = "The file", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
    ),
)]
async fn icon(headers: HeaderMap, state: State<AppState>) -> Response {
    serve(&ICON, &headers, &state)
}

fn serve(asset: &Asset, headers: &HeaderMap, state: &AppState) -> Response {
    respond(
        headers,
        asset.body,
        asset.content_type,
        asset.etag.clone(),
        &content_security_policy(&state.settings.booking_public_url),
    )
}

fn respond(
    request: &HeaderMap,
    body: impl IntoResponse,
    content_type: &'static str,
    etag: HeaderValue,
    csp: &str,
) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|seen| seen.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::ETAG, etag);
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(csp) = HeaderValue::from_str(csp) {
        out.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// Own origin for everything; `fetch` may also reach booking's origin.
fn content_security_policy(booking_url: &str) -> String {
    let booking = origin_of(booking_url);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' {booking}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of a URL (a CSP source with a path would match
/// that one path only).
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn etag_of(body: &str) -> HeaderValue {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_booking_by_origin() {
        let csp = content_security_policy("https://tickets.example/booking");
        assert!(csp.contains("connect-src 'self' https://tickets.example;"));
        assert!(csp.contains("script-src 'self';"));
        assert_eq!(origin_of("http://127.0.0.1:8081"), "http://127.0.0.1:8081");
    }

    #[test]
    fn every_module_the_script_imports_is_served() {
        let sources = std::iter::once(APP_JS.body).chain(MODULES.iter().map(|(_, a)| a.body));
        for source in sources {
            for line in source.lines().filter(|l| l.contains(" from './")) {
                let name = line
                    .split(" from './")
                    .nth(1)
                    .and_then(|rest| rest.split('\'').next())
                    .unwrap_or_default()
                    .trim_start_matches("js/");
                assert!(
                    MODULES.iter().any(|(served, _)| *served == name),
                    "{name} is imported but not served"
                );
            }
        }
    }

    #[test]
    fn the_page_carries_the_booking_url() {
        assert!(INDEX_HTML.contains(BOOKING_URL_SLOT));
        assert_eq!(escape_attribute("a\"<&"), "a&quot;&lt;&amp;");
    }
}
