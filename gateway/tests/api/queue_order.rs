//! FIFO: positions without gaps or duplicates, admission in join order, and
//! one ticket per user however often they join.

use std::collections::HashSet;

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn thousand_concurrent_joins_get_positions_1_to_1000_and_are_admitted_in_join_order() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(1000).await;

    let joins = join_all(users.iter().map(|&u| app.join(concert, u))).await;
    let mut by_position: Vec<(u64, String)> = joins
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            (
                body["position"].as_u64().unwrap(),
                body["ticket_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    by_position.sort();
    let positions: Vec<u64> = by_position.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        positions,
        (1..=1000).collect::<Vec<u64>>(),
        "positions must be exactly 1..=1000"
    );
    let distinct: HashSet<&String> = by_position.iter().map(|(_, t)| t).collect();
    assert_eq!(distinct.len(), 1000, "every user has their own ticket");

    // 100 per tick: tick k admits exactly the users at positions (k-1)*100+1 ..= k*100.
    let mut admitted_so_far: HashSet<String> = HashSet::new();
    for k in 0..10 {
        app.tick().await;
        let active: HashSet<String> = app.active_tickets(concert).await.into_iter().collect();
        let newly: HashSet<String> = active.difference(&admitted_so_far).cloned().collect();
        let expected: HashSet<String> = by_position[k * 100..(k + 1) * 100]
            .iter()
            .map(|(_, t)| t.clone())
            .collect();
        assert_eq!(newly, expected, "tick {} admitted out of join order", k + 1);
        admitted_so_far = active;
    }
    assert_eq!(app.stats(concert).await["waiting"], 0);
}

#[tokio::test]
async fn same_user_joining_50_times_concurrently_gets_one_ticket_and_one_place() {
    let app = spawn_app().await;
    let concert = app.create_concert().await;
    let users = app.create_users(4).await;
    for &u in &users[..3] {
        app.join_ok(concert, u).await;
    }
    let me = users[3];

    let joins = join_all((0..50).map(|_| app.join(concert, me))).await;
    let created = joins
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let again = joins.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(
        (created, again),
        (1, 49),
        "exactly one join creates the ticket"
    );
    let tickets: HashSet<&str> = joins
        .iter()
        .map(|(_, b)| b["ticket_id"].as_str().unwrap())
        .collect();
    assert_eq!(tickets.len(), 1, "one ticket: {tickets:?}");
    assert!(
        joins
            .iter()
            .all(|(_, b)| b["position"] == 4 && b["waiting"] == 4)
    );
    assert_eq!(app.stats(concert).await["waiting"], 4, "one place only");
}
