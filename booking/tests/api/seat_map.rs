//! The seat map's `mine` flag and its Redis-lock overlay (API.md, Booking:
//! `GET /v1/schedules/{schedule_id}/seats`), and its per-schedule snapshots:
//! every hold, release, payment and expiry shows at the very next read, on
//! the process that took it and on another one (a replica behind the load
//! balancer, same database and Redis prefix).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

fn seat(map: &Value, number: usize) -> (&str, bool) {
    let seat = &map["seats"][number - 1];
    assert_eq!(seat["seat_number"], number);
    (
        seat["status"].as_str().unwrap(),
        seat["mine"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn mine_is_true_only_for_the_callers_live_holds_and_purchases() {
    let app = spawn_app().await;
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(10_000).await;
    app.fund(users[0], 100_000).await;
    let first = app.admit(users[0], concert).await;
    let second = app.admit(users[1], concert).await;
    app.hold_ok(&first.token, schedule, 1).await;
    let bought = app.hold_ok(&first.token, schedule, 2).await;
    let lapsed = app.hold_ok(&first.token, schedule, 4).await;
    app.hold_ok(&second.token, schedule, 3).await;
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second'
         WHERE reservation_id = $1::uuid",
    )
    .bind(&lapsed)
    .execute(&app.db)
    .await
    .unwrap();
    // Seat 4's lock would otherwise outlive the hold moved into the past.
    let mut redis = app.redis.clone();
    let _: () = redis.del(app.seat_lock_key(schedule, 4)).await.unwrap();
    assert_eq!(
        app.pay(&app.session(users[0]), &bought, None)
            .await
            .status(),
        reqwest::StatusCode::CREATED
    );

    let again = app.admit(users[0], concert).await;
    let own = app.seat_map(&again.token, schedule).await;
    assert_eq!(seat(&own, 1), ("held", true));
    assert_eq!(seat(&own, 2), ("sold", true));
    assert_eq!(seat(&own, 3), ("held", false));
    assert_eq!(
        seat(&own, 4),
        ("available", false),
        "an expired hold is nobody's"
    );
    assert_eq!(seat(&own, 5), ("available", false));
    let other = app.seat_map(&second.token, schedule).await;
    assert_eq!(seat(&other, 1), ("held", false));
    assert_eq!(seat(&other, 2), ("sold", false));
    assert_eq!(seat(&other, 3), ("held", true));
    assert_eq!(seat(&other, 4), ("available", false));
}

#[tokio::test]
async fn a_seat_whose_lock_is_won_but_not_yet_written_shows_held() {
    let app = spawn_app().await;
    let processes = [app.address.clone(), app.replica().await];
    let user = app.create_user("Looker").await;
    let (concert, schedule) = app.create_concert(10_000).await;
    let access = app.admit(user, concert).await;
    // Both processes have the map cached before the lock is taken.
    assert_eq!(
        seat_everywhere(&app, &processes, &access.token, schedule, 9).await,
        everywhere("available", false)
    );

    // A hold that has won seat 9 in Redis and not yet written Postgres.
    let reservation = uuid::Uuid::new_v4();
    assert!(app.lock_seat(schedule, 9, reservation).await);
    assert!(!app.lock_seat(schedule, 9, uuid::Uuid::new_v4()).await);
    for base in &processes {
        let map = map_at(&app, base, &access.token, schedule).await;
        assert_eq!(seat(&map, 9), ("held", false), "at {base}");
        assert_eq!(seat(&map, 8), ("available", false), "at {base}");
        assert_eq!(seat(&map, 10), ("available", false), "at {base}");
    }

    // The hold failed: its lock goes, and the seat is free again everywhere.
    app.release_seat_lock(schedule, 9, reservation).await;
    assert_eq!(
        seat_everywhere(&app, &processes, &access.token, schedule, 9).await,
        everywhere("available", false)
    );
}

/// The seat map of `schedule` as `token` sees it on the booking process at
/// `base` (must answer 200).
async fn map_at(app: &TestApp, base: &str, token: &str, schedule: i64) -> Value {
    let response = app
        .client
        .get(format!("{base}/v1/schedules/{schedule}/seats"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "seat map at {base}");
    response.json().await.unwrap()
}

/// Seat `number` as `token` sees it on each of `processes`, read one right
/// after the other.
async fn seat_everywhere(
    app: &TestApp,
    processes: &[String],
    token: &str,
    schedule: i64,
    number: usize,
) -> Vec<(String, bool)> {
    let mut seen = Vec::new();
    for base in processes {
        let map = map_at(app, base, token, schedule).await;
        let (status, mine) = seat(&map, number);
        seen.push((status.to_owned(), mine));
    }
    seen
}

fn everywhere(status: &str, mine: bool) -> Vec<(String, bool)> {
    vec![(status.to_owned(), mine); 2]
}

#[tokio::test]
async fn holds_releases_and_payments_show_at_the_next_read_on_every_process() {
    let app = spawn_app().await;
    let processes = [app.address.clone(), app.replica().await];
    let users = app.create_users(2).await;
    let (concert, schedule) = app.create_concert(30_000).await;
    app.fund(users[0], 100_000).await;
    let mut fan = app.admit(users[0], concert).await;
    let other = app.admit(users[1], concert).await;
    let at = |token: String, number: usize| {
        let (app, processes) = (&app, &processes);
        async move { seat_everywhere(app, processes, &token, schedule, number).await }
    };
    // Both processes have read (and may keep) the map before each change.
    assert_eq!(
        at(fan.token.clone(), 1).await,
        everywhere("available", false)
    );

    let held = app.hold_ok(&fan.token, schedule, 1).await;
    assert_eq!(at(fan.token.clone(), 1).await, everywhere("held", true));
    assert_eq!(at(other.token.clone(), 1).await, everywhere("held", false));

    // Released through the other process.
    let released = app
        .client
        .delete(format!("{}/v1/reservations/{held}", processes[1]))
        .bearer_auth(app.session(users[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        at(fan.token.clone(), 1).await,
        everywhere("available", false)
    );
    assert_eq!(
        at(other.token.clone(), 1).await,
        everywhere("available", false)
    );

    let bought = app.hold_ok(&fan.token, schedule, 2).await;
    assert_eq!(at(fan.token.clone(), 2).await, everywhere("held", true));
    let paid = app.pay(&app.session(users[0]), &bought, None).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    // Paying ended the fan's session: they come back through the queue.
    fan = app.admit(users[0], concert).await;
    assert_eq!(at(fan.token.clone(), 2).await, everywhere("sold", true));
    assert_eq!(at(other.token.clone(), 2).await, everywhere("sold", false));

    // A hold that another user takes right after a release.
    let again = app.hold_ok(&fan.token, schedule, 3).await;
    assert_eq!(at(other.token.clone(), 3).await, everywhere("held", false));
    let released = app
        .client
        .delete(app.url(&format!("/v1/reservations/{again}")))
        .bearer_auth(&fan.token)
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    app.hold_ok(&other.token, schedule, 3).await;
    assert_eq!(at(other.token.clone(), 3).await, everywhere("held", true));
    assert_eq!(at(fan.token.clone(), 3).await, everywhere("held", false));
}

#[tokio::test]
async fn an_expired_hold_shows_available_at_the_next_read_on_every_process() {
    let app = spawn_app_with(Options {
        hold_ttl: Duration::from_secs(1),
        sweep_interval: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    let processes = [app.address.clone(), app.replica().await];
    let user = app.create_user("Late").await;
    let (concert, schedule) = app.create_concert(30_000).await;
    let fan = app.admit(user, concert).await;
    let held = app.hold_ok(&fan.token, schedule, 5).await;
    // Both processes keep the map with the live hold.
    assert_eq!(
        seat_everywhere(&app, &processes, &fan.token, schedule, 5).await,
        everywhere("held", true)
    );

    // The hold's time runs out (no sweeper runs: its interval is an hour).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read: Value = app
            .get(&format!("/v1/reservations/{held}"), &fan.token)
            .await
            .json()
            .await
            .unwrap();
        if read["status"] == "expired" {
            break;
        }
        assert!(Instant::now() < deadline, "the hold never expired: {read}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seat_everywhere(&app, &processes, &fan.token, schedule, 5).await,
        everywhere("available", false)
    );
}

/// A hold or payment and when its answer arrived.
struct Answered {
    seat: usize,
    status: &'static str,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_holds_and_reads_never_show_a_taken_seat_available() {
    let app = Arc::new(spawn_app().await);
    let processes = [app.address.clone(), app.replica().await];
    let (concert, schedule) = app.create_concert(10_000).await;
    let buyers = app.create_users(10).await;
    let watcher = app.create_user("Watcher").await;
    for buyer in &buyers {
        app.fund(*buyer, 100_000).await;
    }

    // Readers on both processes read the map over and over, noting when
    // each read was sent.
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = JoinSet::new();
    for (i, base) in processes.iter().cloned().enumerate() {
        let (app, done) = (Arc::clone(&app), Arc::clone(&done));
        let token = app.admit(watcher, concert).await.token;
        readers.spawn(async move {
            let mut reads = Vec::new();
            while !done.load(Ordering::SeqCst) || reads.len() < 5 {
                let sent = Instant::now();
                let map = map_at(&app, &base, &token, schedule).await;
                let statuses: Vec<String> = (1..=50).map(|n| seat(&map, n).0.to_owned()).collect();
                reads.push((i, sent, statuses));
            }
            reads
        });
    }

    // Each buyer holds two seats (two buyers race for each pair), checks
    // that each hold is theirs on the other process at once, and pays.
    let mut buyers_done = JoinSet::new();
    for (i, buyer) in buyers.iter().copied().enumerate() {
        let (app, processes) = (Arc::clone(&app), processes.clone());
        let token = app.admit(buyer, concert).await.token;
        buyers_done.spawn(async move {
            let mut answered = Vec::new();
            let mut mine = Vec::new();
            for number in [2 * (i / 2) + 1, 2 * (i / 2) + 2] {
                let response = app.hold_seat(&token, schedule, number as i64).await;
                if response.status() != StatusCode::CREATED {
                    assert_eq!(response.status(), StatusCode::CONFLICT);
                    continue;
                }
                let at = Instant::now();
                let body: Value = response.json().await.unwrap();
                answered.push(Answered {
                    seat: number,
                    status: "held",
                    at,
                });
                let map = map_at(&app, &processes[(i + number) % 2], &token, schedule).await;
                assert_eq!(seat(&map, number), ("held", true), "seat {number}");
                mine.push(body["reservation_id"].as_str().unwrap().to_owned());
            }
            if !mine.is_empty() {
                let paid = app.pay_many(&app.session(buyer), &mine, None).await;
                assert_eq!(paid.status(), StatusCode::CREATED);
                let at = Instant::now();
                for seat in answered.iter().map(|a| a.seat).collect::<Vec<_>>() {
                    answered.push(Answered {
                        seat,
                        status: "sold",
                        at,
                    });
                }
            }
            answered
        });
    }
    let answered: Vec<Answered> = buyers_done.join_all().await.into_iter().flatten().collect();
    done.store(true, Ordering::SeqCst);
    let reads: Vec<_> = readers.join_all().await.into_iter().flatten().collect();

    assert_eq!(answered.iter().filter(|a| a.status == "sold").count(), 10);
    for (process, sent, statuses) in &reads {
        for a in answered.iter().filter(|a| a.at < *sent) {
            let status = &statuses[a.seat - 1];
            let ok = match a.status {
                "sold" => status == "sold",
                _ => status != "available",
            };
            assert!(
                ok,
                "seat {} showed {status} on process {process} after its {} answered",
                a.seat, a.status
            );
        }
    }
    assert!(reads.len() >= 10);
}
