//! The standard stack as a whole, on a router of test routes (no network).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tower::ServiceExt;

use super::*;
use crate::limits::RateLimitSettings;
use crate::serve::ServeSettings;

/// A router with the standard stack, one worker slot and no queue,
/// requests due within `request_timeout`, and 1 request/s (burst 2) per
/// address without a token. `/stack-test/held` takes the slot, tells
/// `held` and never answers.
fn app_with(request_timeout: Duration, held: Arc<Notify>) -> Router {
    let _ = telemetry::metrics_handle();
    let serving = Serving::new(ServeSettings {
        request_timeout,
        max_concurrent_requests: 1,
        max_queued_requests: 0,
        ..ServeSettings::default()
    });
    let addresses = Arc::new(AddressLimiter::new(&RateLimitSettings {
        ip_per_sec: 1,
        ..RateLimitSettings::default()
    }));
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/stack-test/items/{id}", get(|| async { "item" }))
        .route("/stack-test/counted/{id}", get(|| async { "counted" }))
        .route(
            "/stack-test/panics",
            get(|| async {
                if true {
                    panic!("a bug");
                }
                "never"
            }),
        )
        .route(
            "/stack-test/held",
            get(async move || {
                held.notify_one();
                std::future::pending::<()>().await;
            }),
        )
        .route("/stack-test/echo", post(|body: String| async move { body }));
    with_standard_layers(routes, &serving, &addresses, None)
}

/// [`app_with`] with requests due within 1 ms.
fn app() -> Router {
    app_with(Duration::from_millis(1), Arc::new(Notify::new()))
}

/// `GET path` from `peer`, through a clone of `app`.
async fn send(app: &Router, path: &str, peer: [u8; 4]) -> Response {
    app.clone().oneshot(get_from(path, peer)).await.unwrap()
}

fn get_from(path: &str, peer: [u8; 4]) -> Request<Body> {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 4000))));
    request
}

/// The problem+json body of `response`, after checking that it carries
/// the same request id as its header.
async fn problem(response: Response) -> serde_json::Value {
    let id = response.headers()[request_id::HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    body
}

/// The `http_requests_total` series of `route` and `status`, 0 if none.
fn requests_counted(route: &str, status: u16) -> f64 {
    let labels = [
        format!(r#"route="{route}""#),
        format!(r#"status="{status}""#),
    ];
    telemetry::render_metrics()
        .lines()
        .filter(|line| line.starts_with("http_requests_total{"))
        .filter(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_panicking_handler_answers_an_opaque_500_with_the_request_id_and_frees_its_slot() {
    let app = app();
    let mut request = get_from("/stack-test/panics", [10, 0, 0, 1]);
    request
        .headers_mut()
        .insert(request_id::HEADER, "trace-me".parse().unwrap());
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()[request_id::HEADER], "trace-me");
    let body = problem(response).await;
    assert_eq!(body["code"], "INTERNAL");
    assert!(!body.to_string().contains("a bug"), "{body}");
    // The one slot came back when the handler unwound.
    let response = send(&app, "/stack-test/items/1", [10, 0, 0, 1]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_is_counted_by_route_template() {
    let before = requests_counted("/stack-test/counted/{id}", 200);
    let response = send(&app(), "/stack-test/counted/42", [10, 0, 0, 2]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()[request_id::HEADER].to_str().unwrap();
    assert_eq!(id.len(), 32, "a fresh id: {id}");
    assert_eq!(
        requests_counted("/stack-test/counted/{id}", 200),
        before + 1.0
    );
    assert!(!telemetry::render_metrics().contains("/stack-test/counted/42"));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problem_json_through_the_stack() {
    let app = app();
    let unmatched = requests_counted(telemetry::UNMATCHED_ROUTE, 404);
    let missing = send(&app, "/stack-test/nothing", [10, 0, 0, 3]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(missing).await["code"], "NOT_FOUND");
    assert!(requests_counted(telemetry::UNMATCHED_ROUTE, 404) > unmatched);
    let mut wrong = get_from("/stack-test/items/1", [10, 0, 0, 4]);
    *wrong.method_mut() = axum::http::Method::DELETE;
    let wrong = app.oneshot(wrong).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem(wrong).await["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn an_address_past_its_budget_is_refused_with_retry_after() {
    let app = app();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = send(&app, "/stack-test/items/1", [10, 0, 0, 5]).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(problem(response).await["code"], "RATE_LIMITED");
        }
    }
    assert_eq!(statuses[..2], [StatusCode::OK, StatusCode::OK]);
    assert!(
        statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_request_past_its_deadline_answers_503_and_frees_its_slot() {
    let app = app();
    for peer in [[10, 0, 0, 6], [10, 0, 0, 7]] {
        let response = send(&app, "/stack-test/held", peer).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        let body = problem(response).await;
        assert_eq!(body["code"], "UNAVAILABLE");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("was not answered within"),
            "a timeout, not a shed: {body}"
        );
    }
    // The one slot is free again: the timed-out handlers gave it back.
    let response = send(&app, "/stack-test/items/1", [10, 0, 0, 8]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn probes_answer_with_every_slot_taken_and_the_address_over_budget() {
    let held = Arc::new(Notify::new());
    let app = app_with(Duration::from_secs(60), Arc::clone(&held));
    let holder = tokio::spawn({
        let app = app.clone();
        async move { send(&app, "/stack-test/held", [10, 0, 0, 10]).await }
    });
    held.notified().await;
    // The one slot is taken and nothing may queue: a request is shed...
    let shed = send(&app, "/stack-test/items/1", [10, 0, 0, 11]).await;
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem(shed).await["detail"]
            .as_str()
            .unwrap()
            .contains("at capacity")
    );
    // ...and the holder's address soon goes past its budget (shed
    // requests count against it).
    let mut statuses = Vec::new();
    while statuses.last() != Some(&StatusCode::TOO_MANY_REQUESTS) {
        assert!(statuses.len() < 4, "never refused: {statuses:?}");
        let response = send(&app, "/stack-test/items/1", [10, 0, 0, 10]).await;
        statuses.push(response.status());
    }
    for _ in 0..3 {
        let probe = send(&app, "/healthz", [10, 0, 0, 10]).await;
        assert_eq!(probe.status(), StatusCode::OK);
    }
    holder.abort();
}

#[tokio::test]
async fn a_body_reaches_the_handler_whole_up_to_the_limit_and_cut_past_it() {
    use crate::extract::MAX_BODY_BYTES;
    for (sent, received) in [
        (MAX_BODY_BYTES, MAX_BODY_BYTES),
        (MAX_BODY_BYTES + 100_000, MAX_BODY_BYTES + 1),
    ] {
        let mut request = Request::post("/stack-test/echo")
            .body(Body::from("x".repeat(sent)))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 9], 4000))));
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let echoed = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(echoed.len(), received, "{sent} bytes sent");
    }
}
