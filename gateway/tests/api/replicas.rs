//! Several gateways ticking against one Redis: each tick runs once, admits
//! at most N, never exceeds max_active, and admits nobody twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use gateway::ticker;

use crate::helpers::{Config, spawn_app_with};

#[tokio::test]
async fn three_gateways_ticking_together_admit_each_user_once_within_the_limits() {
    let config = Config {
        tick_ms: 50,
        admit_per_tick: 7,
        max_active: 60,
        system_clock: true,
        ..Config::default()
    };
    let first = spawn_app_with(config.clone()).await;
    let second = first.replica(config.clone()).await;
    let third = first.replica(config.clone()).await;
    let concert = first.create_concert().await;
    let users = first.create_users(150).await;
    let apps = [&first, &second, &third];
    // Joins spread over the three gateways.
    join_all(
        users
            .iter()
            .enumerate()
            .map(|(i, &u)| apps[i % 3].join_ok(concert, u)),
    )
    .await;

    // Each gateway ticks at every boundary on its own connection, as its
    // ticker loop does; every outcome is recorded by tick number.
    let log: Arc<Mutex<HashMap<i64, Vec<ticker::TickOutcome>>>> = Arc::default();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let runs = apps.iter().map(|app| {
        let state = app.state.clone();
        let log = log.clone();
        async move {
            while tokio::time::Instant::now() < deadline {
                let now = state.clock.now_ms();
                let next = (now / 50 + 1) * 50;
                tokio::time::sleep(Duration::from_millis(u64::try_from(next - now).unwrap())).await;
                let now = state.clock.now_ms();
                for (_, outcome) in ticker::tick_all(&state, now).await.unwrap() {
                    log.lock()
                        .unwrap()
                        .entry(now / 50)
                        .or_default()
                        .push(outcome);
                }
            }
        }
    });
    join_all(runs).await;

    let log = std::mem::take(&mut *log.lock().unwrap());
    let mut total_admitted = 0;
    for (tick, outcomes) in log.iter() {
        let ran: Vec<_> = outcomes.iter().filter(|o| o.ran).collect();
        assert!(ran.len() <= 1, "tick {tick} ran {} times", ran.len());
        for o in ran {
            assert!(o.admitted <= 7, "tick {tick} admitted {}", o.admitted);
            assert!(o.active <= 60, "tick {tick} left {} active", o.active);
            total_admitted += o.admitted;
        }
    }
    assert!(log.len() >= 15, "only {} ticks observed", log.len());
    let active = first.active_tickets(concert).await;
    assert_eq!(
        active.len(),
        60,
        "the active set fills up to max_active and stops"
    );
    assert_eq!(
        total_admitted, 60,
        "admissions counted == distinct active users: nobody admitted twice"
    );
    let stats = first.stats(concert).await;
    assert_eq!(
        stats["waiting"], 90,
        "nobody lost or duplicated: 150 = 60 active + 90 waiting"
    );
}
