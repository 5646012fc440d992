//! The balance history is paged (API.md, Booking): newest first, 100
//! entries by default, `limit` up to 1,000 (more is `400`), and the `Link:
//! rel="next"` header walks every entry exactly once, in order.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// `count` charges of 1..=count KRW in the user's ledger (and balance).
async fn ledger_of(app: &TestApp, user: i64, count: i64) {
    sqlx::query(
        "INSERT INTO balance_ledger (user_id, kind, amount, balance_after, at)
         SELECT $1, 'charge', n, n * (n + 1) / 2, now() FROM generate_series(1, $2) AS n
         ORDER BY n",
    )
    .bind(user)
    .bind(count)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE balances SET balance = $2 * ($2 + 1) / 2 WHERE user_id = $1")
        .bind(user)
        .bind(count)
        .execute(&app.db)
        .await
        .unwrap();
}

/// The `rel="next"` target of a response, if any.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap();
    let (target, params) = link.split_once(';').expect("<target>; rel");
    assert_eq!(params.trim(), r#"rel="next""#, "{link}");
    Some(
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned(),
    )
}

#[tokio::test]
async fn history_pages_default_to_100_and_the_next_link_walks_every_entry_once() {
    let app = spawn_app().await;
    let user = app.create_user("Saver").await;
    ledger_of(&app, user, 2_345).await;
    let token = app.session(user);

    let first = app
        .get(&format!("/v1/users/{user}/balance/history"), &token)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(next_link(&first).is_some());
    let page: Vec<Value> = first.json().await.unwrap();
    assert_eq!(page.len(), 100, "the default page");
    assert_eq!(page[0]["amount"], 2_345, "newest first");

    // Walking with the largest page: 1000 + 1000 + 345, then no link.
    let mut path = Some(format!("/v1/users/{user}/balance/history?limit=1000"));
    let (mut amounts, mut pages) = (Vec::new(), Vec::new());
    while let Some(p) = path {
        let response = app.get(&p, &token).await;
        assert_eq!(response.status(), StatusCode::OK, "{p}");
        path = next_link(&response);
        let page: Vec<Value> = response.json().await.unwrap();
        pages.push(page.len());
        amounts.extend(page.iter().map(|e| e["amount"].as_i64().unwrap()));
    }
    assert_eq!(pages, [1000, 1000, 345]);
    let expected: Vec<i64> = (1..=2_345).rev().collect();
    assert_eq!(amounts, expected, "every entry once, newest first");
}

#[tokio::test]
async fn a_history_limit_outside_1_to_1000_is_a_400() {
    let app = spawn_app().await;
    let user = app.create_user("Bounded").await;
    let token = app.session(user);
    for limit in ["0", "1001", "100000", "-1"] {
        let response = app
            .get(
                &format!("/v1/users/{user}/balance/history?limit={limit}"),
                &token,
            )
            .await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let empty = app
        .get(
            &format!("/v1/users/{user}/balance/history?limit=1000"),
            &token,
        )
        .await;
    assert_eq!(empty.status(), StatusCode::OK);
    assert!(empty.headers().get("link").is_none());
    assert_eq!(empty.json::<Vec<Value>>().await.unwrap().len(), 0);

    // A page that ends exactly at the oldest entry has no next link.
    ledger_of(&app, user, 200).await;
    let first = app
        .get(&format!("/v1/users/{user}/balance/history"), &token)
        .await;
    let next = next_link(&first).expect("a second page");
    let second = app.get(&next, &token).await;
    assert!(next_link(&second).is_none());
    assert_eq!(second.json::<Vec<Value>>().await.unwrap().len(), 100);
}
