//! The OpenAPI 3.1 documents both services serve at `GET /openapi.json`.
//!
//! Each document is generated from the code: handlers carry
//! `#[utoipa::path]` attributes and are registered with `utoipa-axum`'s
//! `routes!`, so a route's path and method are written once and the
//! document lists exactly the routes the router serves; the body and answer
//! types derive `utoipa::ToSchema` next to their serde derives. [`serve`]
//! then adds what every route shares (API.md, Errors and Limits):
//!
//! - the one error body, `application/problem+json` (RFC 9457), as the
//!   `Problem` schema, on every 4xx/5xx answer a handler documents;
//! - `400 INVALID_REQUEST` (bad input anywhere: path, query, headers, body),
//!   `408` (the request or its body did not arrive in time),
//!   `429 RATE_LIMITED` and `503 UNAVAILABLE` (both with `Retry-After`, whole
//!   seconds ≥ 1) on every route, and `413 PAYLOAD_TOO_LARGE` on every route
//!   that takes a body;
//! - the security schemes ([`Scheme`]) the handlers name.

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::ids::{ConcertId, ScheduleId, UserId};
use crate::problem::{Body, ErrorCode};

/// The media type of every error body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The ways a caller proves who it is (API.md, Tokens), each an
/// `Authorization: Bearer …` security scheme of the documents. A handler
/// names the ones it accepts by [`Scheme::name`] in its `security(..)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Booking's session token (`POST /v1/sessions`): `iss` booking, `aud`
    /// session, `sub` the user id.
    Session,
    /// The gateway's queue ticket (from a join): `aud` queue, `scope` wait.
    QueueTicket,
    /// The gateway's access token (a poll once active): `aud` booking,
    /// `scope` book; accepted while its `jti` is in the concert's active set.
    Access,
    /// The operator's `ADMIN_TOKEN`.
    Admin,
}

impl Scheme {
    /// The scheme's name in `components.securitySchemes`.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Session => SESSION,
            Scheme::QueueTicket => QUEUE_TICKET,
            Scheme::Access => ACCESS,
            Scheme::Admin => ADMIN,
        }
    }

    fn security_scheme(self) -> SecurityScheme {
        let (format, description) = match self {
            Scheme::Session => (
                Some("JWT"),
                "A session token from booking's `POST /v1/sessions` (EdDSA JWS, `iss` \
                 `booking`, `aud` `session`, `sub` the user id, at most 24 h). Refused by \
                 every replica once `DELETE /v1/sessions/current` answered.",
            ),
            Scheme::QueueTicket => (
                Some("JWT"),
                "A queue ticket from the gateway's join (`ticket`; EdDSA JWS, `iss` \
                 `gateway`, `aud` `queue`, `scope` `wait`, `cid` the concert). Booking \
                 never accepts it (401).",
            ),
            Scheme::Access => (
                Some("JWT"),
                "An access token from the gateway's status poll once `active` (EdDSA JWS, \
                 `iss` `gateway`, `aud` `booking`, `scope` `book`, `cid` the concert). \
                 At the admitted level it is accepted only while its `jti` is in the \
                 concert's active set (else 403 NOT_ADMITTED).",
            ),
            Scheme::Admin => (
                None,
                "The operator's `ADMIN_TOKEN`; with none configured, admin endpoints answer \
                 403 FORBIDDEN to everyone.",
            ),
        };
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = format.map(str::to_owned);
        http.description = Some(description.to_owned());
        SecurityScheme::Http(http)
    }
}

/// `session_token`: see [`Scheme::Session`].
pub const SESSION: &str = "session_token";
/// `queue_ticket`: see [`Scheme::QueueTicket`].
pub const QUEUE_TICKET: &str = "queue_ticket";
/// `access_token`: see [`Scheme::Access`].
pub const ACCESS: &str = "access_token";
/// `admin_token`: see [`Scheme::Admin`].
pub const ADMIN: &str = "admin_token";

/// Answers every route may give, as `components.responses` entries:
/// (status, component name, description).
const EVERY_ROUTE: [(&str, &str, &str); 4] = [
    (
        "400",
        "InvalidRequest",
        "INVALID_REQUEST: malformed, unknown or out-of-range input in the path, query, \
         headers or body (a text field with control characters names the field)",
    ),
    (
        "408",
        "RequestTimeout",
        "INVALID_REQUEST: the request (headers within 10 s, body within 30 s) or its \
         handling took too long (API.md, Limits)",
    ),
    (
        "429",
        "RateLimited",
        "RATE_LIMITED: the client address or the user went over its budget (API.md, \
         Limits); retry after `Retry-After` seconds",
    ),
    (
        "503",
        "Unavailable",
        "UNAVAILABLE: Redis or Postgres is unreachable, or the service is shedding load; \
         nothing was half-written; retry after `Retry-After` seconds",
    ),
];

/// The answer every route with a body may give.
const TOO_LARGE: (&str, &str, &str) = (
    "413",
    "PayloadTooLarge",
    "PAYLOAD_TOO_LARGE: the body is over 64 KiB",
);

/// The header of 429 and 503 answers (RFC 9110 §10.2.3), as documented.
const RETRY_AFTER: &str = "Retry-After";

/// Statuses whose answers carry `Retry-After` (API.md, Errors).
const RETRY_AFTER_STATUSES: [&str; 2] = ["429", "503"];

/// Turn a router whose documented routes were registered with `routes!`
/// into the plain router the service runs: the document gets the shared
/// parts (see the module docs) and the schemes in `schemes`, and is served
/// at `GET /openapi.json` (itself documented).
///
/// Panics at start-up if the document cannot be serialised (a bug, caught
/// by every test that builds a router).
pub fn serve<S>(router: OpenApiRouter<S>, schemes: &[Scheme]) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (router, mut doc) = router.split_for_parts();
    doc.merge(DocumentRoute::openapi());
    complete(&mut doc, schemes);
    let body = Bytes::from(render(&doc));
    router.route("/openapi.json", get(move || openapi_document(body.clone())))
}

/// The document's own route, added by [`serve`] once the document is known.
#[derive(utoipa::OpenApi)]
#[openapi(paths(openapi_document))]
struct DocumentRoute;

/// This document (`body`, rendered once at start).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    description = "The OpenAPI 3.1 description of this service, generated from its code.",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)),
)]
async fn openapi_document(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Add the shared parts to a generated document (see the module docs).
pub fn complete(doc: &mut OpenApi, schemes: &[Scheme]) {
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("Problem".into(), <Body<'static> as PartialSchema>::schema());
    components
        .schemas
        .insert(ErrorCode::name().into_owned(), ErrorCode::schema());
    // Path parameters name these by reference, but utoipa registers a
    // schema only when a body type uses it.
    for (name, schema) in [
        (UserId::name(), UserId::schema()),
        (ConcertId::name(), ConcertId::schema()),
        (ScheduleId::name(), ScheduleId::schema()),
    ] {
        components.schemas.insert(name.into_owned(), schema);
    }
    for (status, name, description) in EVERY_ROUTE.into_iter().chain([TOO_LARGE]) {
        components
            .responses
            .insert(name.into(), RefOr::T(problem_response(status, description)));
    }
    for scheme in schemes {
        components
            .security_schemes
            .insert(scheme.name().into(), scheme.security_scheme());
    }
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            complete_operation(operation);
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn complete_operation(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && status.starts_with(['4', '5'])
        {
            if response.content.is_empty() {
                response
                    .content
                    .insert(PROBLEM_JSON.into(), problem_content());
            }
            if RETRY_AFTER_STATUSES.contains(&status.as_str()) {
                response.headers.insert(RETRY_AFTER.into(), retry_after());
            }
        }
    }
    let with_body = operation.request_body.is_some();
    for (status, name, _) in EVERY_ROUTE
        .into_iter()
        .chain(with_body.then_some(TOO_LARGE))
    {
        responses
            .entry(status.into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

fn problem_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

fn problem_response(status: &str, description: &str) -> utoipa::openapi::Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content());
    if RETRY_AFTER_STATUSES.contains(&status) {
        response = response.header(RETRY_AFTER, retry_after());
    }
    response.build()
}

fn retry_after() -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .build(),
        )
        .description(Some("Whole seconds to wait before retrying (≥ 1)"))
        .build()
}

/// The document as JSON, with what utoipa's model cannot say: the
/// `Retry-After` headers of 429 and 503 answers are `required`, and an
/// optional body or parameter (`Option<T>`, which utoipa describes as `T` or
/// `null`) is a `T` or absent (a JSON `null` body, or a header or query
/// value, is not an absent one).
pub fn render(doc: &OpenApi) -> Vec<u8> {
    let mut value = serde_json::to_value(doc).expect("an OpenAPI document serialises");
    require_retry_after(&mut value);
    if let Some(Value::Object(paths)) = value.get_mut("paths") {
        paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(|operation| operation.pointer_mut("/requestBody/content"))
            .filter_map(Value::as_object_mut)
            .flat_map(|content| content.values_mut())
            .filter_map(|media| media.get_mut("schema"))
            .for_each(drop_null_alternative);
    }
    if let Some(Value::Object(paths)) = value.get_mut("paths") {
        paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(|operation| operation.get_mut("parameters"))
            .filter_map(Value::as_array_mut)
            .flatten()
            .filter_map(|parameter| parameter.get_mut("schema"))
            .for_each(drop_null_type);
    }
    serde_json::to_vec(&value).expect("a JSON value serialises")
}

/// An optional parameter (`Option<T>`) is absent or a `T`, never `null`:
/// `"type": ["string", "null"]` → `"type": "string"`.
fn drop_null_type(schema: &mut Value) {
    drop_null_alternative(schema);
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema["type"] = only;
        }
    }
}

/// `{"oneOf": [{"type": "null"}, X]}` → `X`.
fn drop_null_alternative(schema: &mut Value) {
    let Some(Value::Array(alternatives)) = schema.get("oneOf") else {
        return;
    };
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    if let [a, b] = alternatives.as_slice()
        && (is_null(a) || is_null(b))
    {
        let other = if is_null(a) { b.clone() } else { a.clone() };
        *schema = other;
    }
}

fn require_retry_after(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(headers)) = map.get_mut("headers")
                && let Some(Value::Object(retry)) = headers.get_mut(RETRY_AFTER)
            {
                retry.insert("required".into(), Value::Bool(true));
            }
            map.values_mut().for_each(require_retry_after);
        }
        Value::Array(items) => items.iter_mut().for_each(require_retry_after),
        _ => {}
    }
}

/// The schema of a positive id ([`crate::ids`]): an `int64` of at least 1.
pub fn positive_id_schema(what: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .description(Some(format!("A {what}: a positive 64-bit integer")))
        .into()
}

fn constant(value: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
}

/// `"OKP"` and nothing else (a JWK's `kty`, RFC 8037).
pub fn constant_okp() -> ObjectBuilder {
    constant("OKP")
}

/// `"Ed25519"` and nothing else (a JWK's `crv`, RFC 8037).
pub fn constant_ed25519() -> ObjectBuilder {
    constant("Ed25519")
}

/// `"EdDSA"` and nothing else (a JWK's `alg`, RFC 8037).
pub fn constant_eddsa() -> ObjectBuilder {
    constant("EdDSA")
}

/// `"sig"` and nothing else (a JWK's `use`, RFC 7517).
pub fn constant_sig() -> ObjectBuilder {
    constant("sig")
}
