//! Redis failover, through Sentinel (API.md, Configuration: `REDIS_SENTINELS`,
//! `REDIS_SENTINEL_MASTER`) and on a Redis Cluster (`REDIS_CLUSTER_NODES`).
//! Two gateways and a booking find their Redis through the three Sentinels of
//! `scripts/redis-sentinel.sh` (a primary and one replica), or use the
//! cluster of `scripts/redis-cluster.sh` (three masters, a replica each);
//! twenty fans join, poll, hold, pay and release while the primary (on the
//! cluster: the master of the concert's queue slot) is killed with SIGKILL. Within 30 s joins, polls and holds that
//! started after the kill succeed again (so the promoted replica serves
//! them, without a restart, and the replica did take over); every answer in between is one the contract
//! allows (`503` with `Retry-After` during the switch, never a `500` or a
//! dropped connection); Postgres shows no seat sold twice and every balance
//! equal to its ledger; Redis shows no user active twice at once and no tick
//! admitting more users than its share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use shared::infra::{RedisConnection, RedisTopology};
use shared::testing::{fresh_database, random_prefix};
use tokio::time::Instant;

mod fan;
use fan::{Fan, Tally};
mod servers;
use servers::{ClusterSetup, SentinelSetup, Setup};

#[path = "../stack/mod.rs"]
mod stack;
use stack::{ADMIN, RedisTarget, expect};
const FANS: usize = 20;
const ADMIT_PER_TICK: u32 = 3;
const PRICE: i64 = 10_000;
const TICK_MS: i64 = 100;
const ACTIVE_TTL_MS: i64 = 600_000;
/// Each fan can afford two seats: at most 40 of the 50 are ever sold, so the
/// concert never sells out and holds stay possible to the end.
const BALANCE: i64 = 2 * PRICE;
/// Joins, polls and holds must work again this long after the kill.
const RECOVERY: Duration = Duration::from_secs(30);

/// `REDIS_URL` names a port nothing listens on: with Sentinel configured,
/// only its credentials and database number may be used.
const UNUSED_REDIS_URL: &str = "redis://127.0.0.1:1";

/// The stack's settings with Redis found only through the Sentinels, this
/// test's pace, and no rate limits (one client plays every fan).
fn redis_target(topology: &RedisTopology) -> RedisTarget {
    RedisTarget {
        url: UNUSED_REDIS_URL.to_owned(),
        topology: topology.clone(),
    }
}

fn booking_settings(
    db_url: &str,
    prefix: &str,
    topology: &RedisTopology,
    gateway: &str,
    data_dir: &Path,
) -> booking::Settings {
    booking::Settings {
        limits: shared::limits::RateLimitSettings::off(),
        ..stack::booking_settings(db_url, prefix, &redis_target(topology), gateway, data_dir)
    }
}

fn gateway_settings(
    db_url: &str,
    prefix: &str,
    topology: &RedisTopology,
    data_dir: &Path,
    booking: &str,
) -> gateway::Settings {
    gateway::Settings {
        tick: Duration::from_millis(TICK_MS as u64),
        admit_per_tick: ADMIT_PER_TICK,
        active_ttl: Duration::from_millis(ACTIVE_TTL_MS as u64),
        limits: shared::limits::RateLimitSettings::off(),
        ..stack::gateway_settings(db_url, prefix, &redis_target(topology), booking, data_dir)
    }
}

/// What a watcher of the concert's active set saw: each admitted ticket
/// with its session end (the same for everyone one tick admitted) and user,
/// and any moment at which one user held two active tickets.
#[derive(Default)]
struct Admissions {
    tickets: HashMap<String, (i64, String)>,
    samples: u32,
    doubles: Vec<String>,
}

/// The active set (ticket, session end in Unix ms) and ticket → user.
type ActiveAndOwners = (Vec<(String, i64)>, HashMap<String, String>);

/// Sample the active set and the ticket → user hash every 50 ms (one
/// MULTI/EXEC, so both are read at one instant) until `stop`.
async fn watch_admissions(
    mut redis: RedisConnection,
    keys: gateway::keys::QueueKeys,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Admissions>>,
) {
    let (active, tickets) = (keys.active().to_owned(), keys.all()[5].clone());
    while !stop.load(Ordering::SeqCst) {
        let read: redis::RedisResult<ActiveAndOwners> = redis::pipe()
            .atomic()
            .cmd("ZRANGE")
            .arg(&active)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("HGETALL")
            .arg(&tickets)
            .query_async(&mut redis)
            .await;
        if let Ok((active, owners)) = read {
            let mut seen = seen.lock().unwrap();
            seen.samples += 1;
            let mut users = HashSet::new();
            for (ticket, ends) in active {
                let user = owners.get(&ticket).cloned().unwrap_or_default();
                if !users.insert(user.clone()) {
                    seen.doubles
                        .push(format!("user {user} active twice at once"));
                }
                seen.tickets.entry(ticket).or_insert((ends, user));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_redis_primary_fails_over_within_30_s_without_double_sales_or_admissions() {
    tokio::time::timeout(Duration::from_secs(180), async {
        run(Setup::Sentinel(SentinelSetup::start().await)).await;
    })
    .await
    .expect("the failover test finishes within 3 minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_cluster_master_fails_over_within_30_s_without_double_sales_or_admissions() {
    tokio::time::timeout(Duration::from_secs(180), async {
        run(Setup::Cluster(ClusterSetup::start().await)).await;
    })
    .await
    .expect("the cluster failover test finishes within 3 minutes");
}

async fn run(setup: Setup) {
    shared::telemetry::init_test_logging();
    let topology = setup.topology();
    let (db_url, db) =
        fresh_database(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).await;
    let prefix = random_prefix();
    let data_dir = std::env::temp_dir().join(format!("failover-{}", uuid::Uuid::new_v4()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bk = format!("http://{}", listener.local_addr().unwrap());
    let gw1 = stack::start_gateway(gateway_settings(
        &db_url, &prefix, &topology, &data_dir, &bk,
    ))
    .await;
    let gw2 = stack::start_gateway(gateway_settings(
        &db_url, &prefix, &topology, &data_dir, &bk,
    ))
    .await;
    let settings = booking_settings(&db_url, &prefix, &topology, &gw1, &data_dir);
    stack::start_booking(settings, listener).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // The organiser's concert, and fans with money and a session.
    let starts = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let concert = expect(
        http.post(format!("{bk}/v1/admin/concerts"))
            .bearer_auth(ADMIN)
            .json(&json!({"title": "Failover", "venue": "Hall",
                          "schedules": [{"starts_at": starts, "price": PRICE, "seats": 50}]})),
        StatusCode::CREATED,
    )
    .await;
    let (concert_id, schedule) = (
        concert["concert_id"].as_i64().unwrap(),
        concert["schedules"][0]["schedule_id"].as_i64().unwrap(),
    );
    let mut fans = Vec::new();
    for i in 0..FANS {
        let password = format!("fan {i}'s password");
        let user = expect(
            http.post(format!("{bk}/v1/admin/users"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": format!("Fan {i}"), "password": password})),
            StatusCode::CREATED,
        )
        .await["user_id"]
            .as_i64()
            .unwrap();
        let session = expect(
            http.post(format!("{bk}/v1/sessions"))
                .json(&json!({"user_id": user, "password": password})),
            StatusCode::CREATED,
        )
        .await["session_token"]
            .as_str()
            .unwrap()
            .to_owned();
        expect(
            http.post(format!("{bk}/v1/users/{user}/balance/charge"))
                .bearer_auth(&session)
                .json(&json!({"amount": BALANCE})),
            StatusCode::OK,
        )
        .await;
        fans.push(Fan {
            user,
            session,
            gateway: if i % 2 == 0 { gw1.clone() } else { gw2.clone() },
            booking: bk.clone(),
            concert: concert_id,
            schedule,
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let kill_time: Arc<OnceLock<Instant>> = Arc::default();
    let tally = Arc::new(Tally::new(Arc::clone(&kill_time)));
    let watcher =
        shared::infra::connect_redis(UNUSED_REDIS_URL, &topology, Duration::from_secs(10))
            .await
            .expect("the watcher finds the primary");
    let admissions = Arc::new(Mutex::new(Admissions::default()));
    let queue_keys =
        gateway::keys::QueueKeys::new(&prefix, shared::ids::ConcertId::new(concert_id).unwrap());
    let queue_key = queue_keys.active().to_owned();
    let watch = tokio::spawn(watch_admissions(
        watcher,
        queue_keys,
        Arc::clone(&stop),
        Arc::clone(&admissions),
    ));
    let workers: Vec<_> = fans
        .into_iter()
        .map(|fan| {
            let (http, tally, stop) = (http.clone(), Arc::clone(&tally), Arc::clone(&stop));
            tokio::spawn(async move { fan.run(&http, &tally, &stop).await })
        })
        .collect();

    // Kill the primary in the middle of the traffic.
    let busy = Instant::now() + Duration::from_secs(30);
    while tally.holds.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < busy, "no traffic before the kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The kill time is taken once the server is dead: a request that
    // succeeded while the kill was under way does not count as "after".
    let killed_port = setup.kill_primary(&queue_key).await;
    let killed = Instant::now();
    kill_time.set(killed).unwrap();

    // Joins, polls and holds that started after the kill succeed again.
    let deadline = killed + RECOVERY;
    while !tally.recovered() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = tally.after_kill();
    assert!(
        tally.recovered(),
        "{after:?} after the kill: (joins, admissions seen by polls, holds) did not all succeed again within {RECOVERY:?}"
    );
    eprintln!(
        "recovered {:?} after the kill; {} answers were 503",
        killed.elapsed(),
        tally.unavailable.load(Ordering::SeqCst)
    );
    if matches!(setup, Setup::Sentinel(_)) {
        let metrics = shared::testing::scrape_metrics(&http, &gw1).await;
        assert!(
            shared::testing::metric_value(&metrics, "redis_sentinel_reconnects_total", &[]) >= 1.0,
            "the reconnection is counted"
        );
    }
    setup
        .assert_replica_took_over(&queue_key, killed_port, deadline)
        .await;

    // Let the fans go on for a while on the new primary, watched.
    let watched = admissions.lock().unwrap().samples;
    let more = Instant::now() + RECOVERY;
    while (admissions.lock().unwrap().samples < watched + 20
        || tally.holds_after_kill.load(Ordering::SeqCst) < 20)
        && Instant::now() < more
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        admissions.lock().unwrap().samples >= watched + 20,
        "the active set was watched on the new primary"
    );

    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("a fan stops within 30 s")
            .expect("a fan's task does not panic");
    }
    watch.await.unwrap();

    let unexpected = tally.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "answers the contract does not allow: {unexpected:#?}"
    );

    // Postgres: no seat sold twice, every payment once, ledgers = balances.
    let (sold, oversold, paid_twice, mismatched): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM reservations WHERE status = 'confirmed'),
           (SELECT count(*) FROM (SELECT 1 FROM reservations WHERE status = 'confirmed'
                                  GROUP BY schedule_id, seat_number HAVING count(*) > 1) s),
           (SELECT count(*) FROM reservations r WHERE r.status = 'confirmed' AND
              (SELECT count(*) FROM payment_reservations p WHERE p.reservation_id = r.reservation_id) <> 1),
           (SELECT count(*) FROM balances b WHERE b.balance <> (
              SELECT COALESCE(sum(CASE kind WHEN 'charge' THEN amount ELSE -amount END), 0)
              FROM balance_ledger l WHERE l.user_id = b.user_id))",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(sold > 0, "some seats were sold");
    assert_eq!(oversold, 0, "seats sold twice");
    assert_eq!(paid_twice, 0, "sold seats without exactly one payment");
    assert_eq!(mismatched, 0, "balances that differ from their ledger");

    // Redis: nobody active twice at once, no tick over its share.
    let seen = admissions.lock().unwrap();
    assert!(seen.samples > 10, "the active set was sampled");
    assert!(seen.doubles.is_empty(), "{:?}", seen.doubles);
    // A session ends ACTIVE_TTL after the `now` of the tick that admitted
    // it, and that tick's number is `now / tick`.
    let mut ticks: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (ends, user) in seen.tickets.values() {
        let tick = (ends - ACTIVE_TTL_MS) / TICK_MS;
        ticks.entry(tick).or_default().push(user);
    }
    for (tick, users) in &ticks {
        let distinct: HashSet<_> = users.iter().collect();
        assert_eq!(
            distinct.len(),
            users.len(),
            "a user admitted twice in tick {tick}"
        );
        assert!(
            users.len() <= ADMIT_PER_TICK as usize,
            "tick {tick} admitted {} users",
            users.len()
        );
    }
    let admitted_after = tally.admitted_after_kill.load(Ordering::SeqCst);
    assert!(admitted_after > 0, "admissions resumed after the kill");
}
