//! Rate limits (API.md, Limits): per client address, per user across
//! replicas; `429 RATE_LIMITED` with `Retry-After`.

use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::json;
use shared::limits::{RateLimitSettings, parse_cidrs};

use crate::helpers::{Options, TestApp, assert_problem, spawn_app_with};

/// A small address budget (5 per second, bursts of 10) so a burst goes over
/// it however fast the machine is; 127.0.0.1 is a trusted proxy when asked.
fn limited(trust_loopback: bool) -> Options {
    Options {
        limits: RateLimitSettings {
            ip_per_sec: 5,
            trusted_proxies: if trust_loopback {
                parse_cidrs("127.0.0.1/32").unwrap()
            } else {
                Vec::new()
            },
            ..RateLimitSettings::default()
        },
        ..Options::default()
    }
}

async fn concerts_from(app: &TestApp, forwarded_for: &str) -> Response {
    app.client
        .get(app.url("/v1/concerts"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("GET /v1/concerts")
}

/// The first refusal of a burst of 60 requests made by `send`, after
/// checking it is a proper 429.
async fn first_refusal<F, Fut>(send: F) -> Response
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    for i in 0..60 {
        let response = send(i).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1, "Retry-After is whole seconds, at least 1");
            return response;
        }
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
    }
    panic!("60 requests in a burst were never limited");
}

#[tokio::test]
async fn a_burst_from_one_address_is_refused_while_others_behind_the_proxy_are_not() {
    let app = spawn_app_with(limited(true)).await;
    let refused = first_refusal(|_| concerts_from(&app, "203.0.113.1")).await;
    assert_problem(refused, 429, "RATE_LIMITED").await;
    // Another fan behind the same trusted proxy has a budget of its own.
    for _ in 0..5 {
        assert_eq!(
            concerts_from(&app, "203.0.113.2").await.status(),
            StatusCode::OK
        );
    }
    // A forged entry left of the proxy's own buys the first client nothing.
    let forged = concerts_from(&app, "198.51.100.77, 203.0.113.1").await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_forwarded_for_from_an_untrusted_peer_buys_no_fresh_budget() {
    let app = spawn_app_with(limited(false)).await;
    // Every request claims to come from somewhere else; all count for the peer.
    let refused = first_refusal(|i| {
        let claimed = format!("198.51.100.{}", i % 250 + 1);
        let app = &app;
        async move { concerts_from(app, &claimed).await }
    })
    .await;
    assert_problem(refused, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn a_bad_token_buys_no_fresh_budget_but_a_valid_one_is_budgeted_by_its_user() {
    let app = spawn_app_with(limited(false)).await;
    let user = app.create_user("Nat").await;
    let refused = first_refusal(|_| async {
        app.client
            .get(app.url("/v1/concerts"))
            .bearer_auth("not-a-token")
            .send()
            .await
            .expect("GET /v1/concerts")
    })
    .await;
    assert_problem(refused, 429, "RATE_LIMITED").await;
    // The address is over its budget; a fan with a valid session behind it is not.
    let balance = app
        .get(&format!("/v1/users/{user}/balance"), &app.session(user))
        .await;
    assert_eq!(balance.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_users_burst_of_charges_is_limited_across_two_replicas_and_the_ledger_adds_up() {
    let app = spawn_app_with(Options {
        limits: RateLimitSettings {
            user_per_min: 10,
            ..RateLimitSettings::default()
        },
        ..Options::default()
    })
    .await;
    let replica = app.replica().await;
    let user = app.create_user("Saver").await;
    let token = app.session(user);
    let charges = (0..40).map(|i| {
        let base = if i % 2 == 0 { &app.address } else { &replica };
        app.client
            .post(format!("{base}/v1/users/{user}/balance/charge"))
            .bearer_auth(&token)
            .json(&json!({ "amount": 100 }))
            .send()
    });
    let responses: Vec<Response> = join_all(charges)
        .await
        .into_iter()
        .map(|r| r.expect("answered"))
        .collect();
    let ok = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let limited: Vec<&Response> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok + limited.len(), 40, "only 200 or 429");
    // One budget of 10 (plus at most one refill) for both processes, not 10 each.
    assert!((10..=11).contains(&ok), "{ok} charges went through");
    assert!(
        limited
            .iter()
            .all(|r| r.headers().contains_key("retry-after"))
    );
    let expected = i64::try_from(ok).unwrap() * 100;
    assert_eq!(app.balance_of(user).await, expected);
    assert_eq!(app.ledger_total(user).await, expected);
}
