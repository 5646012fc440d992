//! The draw at scale and across gateways: 1,000 pre-queue tickets admitted
//! exactly in the published order (and the verifier script agrees), three
//! gateways drawing once with joins racing the opening, the seed kept
//! secret until `opens_at`, and a gateway restart keeping the commitment.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use gateway::ticker;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{hex_sha256, id, recompute};
use crate::helpers::{Config, TestApp, spawn_app_with};

/// The secret seed as the gateway stored it in Postgres.
async fn stored_seed(app: &TestApp, concert: i64) -> String {
    sqlx::query_scalar("SELECT draw_seed FROM queue_settings WHERE concert_id = $1")
        .bind(concert)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn verifier() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/verify-draw.py")
}

/// Run `scripts/verify-draw.py` with `args` and the ticket ids on standard
/// input; returns its exit code and the ticket ids it printed, in order.
async fn run_verifier(args: Vec<String>, tickets: &[String]) -> (i32, Vec<String>) {
    let input = tickets.join("\n");
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .arg(verifier())
            .args(&args)
            .args(["--ids-file", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the verifier");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let order = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap_or_default().to_owned())
            .collect();
        (out.status.code().unwrap_or(-1), order)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_thousand_pre_queue_tickets_are_admitted_in_the_published_order() {
    // Long enough an idle timeout for every tick of the admissions.
    let app = spawn_app_with(Config {
        idle_timeout_secs: 3600,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let users = app.create_users(1000).await;
    let scheduled = app.schedule_in(concert, 60_000).await;
    let commitment = scheduled["draw_commitment"].as_str().unwrap().to_owned();
    let joined: Vec<Value> = futures::stream::iter(users.iter().map(|&u| app.join_ok(concert, u)))
        .buffered(32)
        .collect()
        .await;
    assert!(joined.iter().all(|j| j["status"] == "prequeue"));
    let ids: Vec<String> = joined.iter().map(id).collect();

    // 7 per tick: batches that do not line up with any round number.
    let (status, _) = app.patch_queue(concert, json!({"admit_per_tick": 7})).await;
    assert_eq!(status, StatusCode::OK);
    app.advance(60_000);
    let mut batches: Vec<Vec<String>> = Vec::new();
    let mut seen = HashSet::new();
    while seen.len() < ids.len() && batches.len() < 200 {
        app.tick().await;
        let mut batch: Vec<String> = app
            .active_tickets(concert)
            .await
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .collect();
        batch.sort();
        batches.push(batch);
    }
    assert_eq!(seen.len(), 1000, "everyone was admitted");

    let stats = app.stats(concert).await;
    let seed = stats["draw_seed"].as_str().expect("published").to_owned();
    assert_eq!(hex_sha256(&seed), commitment);
    let expected = recompute(&seed, &ids);
    for (i, batch) in batches.iter().enumerate() {
        let mut slice = expected[7 * i..(7 * i + 7).min(1000)].to_vec();
        slice.sort();
        assert_eq!(*batch, slice, "tick {i} admitted the next 7 of the draw");
    }

    // Anyone can check it: the verifier reads the published numbers.
    let stats_url = app.url(&format!("/v1/concerts/{concert}/queue"));
    let (code, order) = run_verifier(
        vec![
            "--stats".into(),
            stats_url.clone(),
            "--commitment".into(),
            commitment.clone(),
        ],
        &ids,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(order, expected, "the verifier prints the admission order");
    // A commitment that is not the seed's is caught.
    let forged = hex_sha256("another seed");
    let (code, _) = run_verifier(
        vec!["--seed".into(), seed, "--commitment".into(), forged],
        &ids,
    )
    .await;
    assert_eq!(code, 1);
}

#[tokio::test]
async fn three_gateways_draw_once_and_later_joins_keep_arrival_order_behind_the_draw() {
    let config = Config {
        tick_ms: 100,
        idle_timeout_secs: 3600,
        system_clock: true,
        ..Config::default()
    };
    let first = spawn_app_with(config.clone()).await;
    let second = first.replica(config.clone()).await;
    let third = first.replica(config.clone()).await;
    let apps = [&first, &second, &third];
    let concert = first.create_concert().await;
    let users = first.create_users(600).await;
    // Paused: the draw still happens at the opening, and positions stay put.
    let (status, _) = first.patch_queue(concert, json!({"paused": true})).await;
    assert_eq!(status, StatusCode::OK);
    let scheduled = first.schedule_in(concert, 1_500).await;
    let commitment = scheduled["draw_commitment"].as_str().unwrap().to_owned();

    // Every gateway ticks at every boundary, as its ticker loop does.
    let stop = Arc::new(AtomicBool::new(false));
    let tickers: Vec<_> = apps
        .iter()
        .map(|app| {
            let state = app.state.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let now = state.clock.now_ms();
                    let wait = 100 - now.rem_euclid(100);
                    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap())).await;
                    ticker::tick_all(&state, state.clock.now_ms())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();

    // One join after another, round the three gateways, until the opening
    // has passed and 20 joins came after it. Joins race the opening; if they
    // are quick enough to reach the last 20 users before it, those wait for
    // the seed to be published, so that 20 joins always come after it.
    let (mut pre, mut late) = (Vec::new(), Vec::new());
    for (i, &user) in users.iter().enumerate() {
        if late.is_empty() && i == users.len() - 20 {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while first.stats(concert).await["draw_seed"].is_null() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no draw within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let app = apps[i % 3];
        let joined = app.join_ok(concert, user).await;
        match joined["status"].as_str().unwrap() {
            "prequeue" => {
                assert!(late.is_empty(), "a pre-queue join after the opening");
                assert_eq!(joined["draw_commitment"], commitment.as_str());
                pre.push(joined);
            }
            "waiting" => late.push(joined),
            other => panic!("unexpected status {other}"),
        }
        if late.len() == 20 {
            break;
        }
    }
    assert_eq!(late.len(), 20, "the opening came while joining");
    assert!(!pre.is_empty());
    stop.store(true, Ordering::Relaxed);
    for t in join_all(tickers).await {
        t.unwrap();
    }

    let seeds: Vec<Value> = join_all(apps.iter().map(|a| a.stats(concert)))
        .await
        .into_iter()
        .map(|s| s["draw_seed"].clone())
        .collect();
    let seed = seeds[0].as_str().expect("published").to_owned();
    assert!(seeds.iter().all(|s| *s == seeds[0]), "{seeds:?}");
    assert_eq!(hex_sha256(&seed), commitment);
    let expected = recompute(&seed, &pre.iter().map(id).collect::<Vec<_>>());
    for (i, joined) in pre.iter().enumerate() {
        let body = apps[(i + 1) % 3].poll_ok(concert, joined).await;
        let rank = expected.iter().position(|t| *t == id(joined)).unwrap();
        assert_eq!(body["status"], "waiting", "{body}");
        assert_eq!(body["position"], rank + 1, "drawn place of {}", id(joined));
    }
    for (i, joined) in late.iter().enumerate() {
        let body = apps[(i + 2) % 3].poll_ok(concert, joined).await;
        assert_eq!(
            body["position"],
            pre.len() + i + 1,
            "joins after the opening queue behind the draw in arrival order"
        );
    }
    assert!(first.active_tickets(concert).await.is_empty(), "paused");
}

#[tokio::test]
async fn the_seed_stays_secret_until_the_opening_and_a_restart_keeps_the_commitment() {
    let config = Config {
        idle_timeout_secs: 3600,
        ..Config::default()
    };
    let before = spawn_app_with(config.clone()).await;
    let concert = before.create_concert().await;
    let users = before.create_users(20).await;
    let scheduled = before.schedule_in(concert, 120_000).await;
    let commitment = scheduled["draw_commitment"].as_str().unwrap().to_owned();
    let seed = stored_seed(&before, concert).await;
    assert_eq!(hex_sha256(&seed), commitment);

    let mut joined = Vec::new();
    for &u in &users[..10] {
        joined.push(before.join_ok(concert, u).await);
    }
    let polled = before.poll_ok(concert, &joined[3]).await;
    let stats = before.stats(concert).await;
    for body in [&scheduled, &stats, &polled, &joined[0]] {
        assert!(!body.to_string().contains(&seed), "the seed leaked: {body}");
    }
    assert_eq!(stats["draw_seed"], Value::Null);

    // A gateway started afresh on the same stores (a restart, or a new
    // replica) knows nothing in memory: it must show the same commitment.
    let after = before.replica(config).await;
    let stats = after.stats(concert).await;
    assert_eq!(stats["draw_commitment"], commitment.as_str(), "{stats}");
    assert_eq!(stats["draw_seed"], Value::Null);
    assert_eq!(stats["opens_at"], scheduled["opens_at"]);
    for &u in &users[10..] {
        let body = after.join_ok(concert, u).await;
        assert_eq!(body["draw_commitment"], commitment.as_str(), "{body}");
        assert!(!body.to_string().contains(&seed));
        joined.push(body);
    }
    let body = after.poll_ok(concert, &joined[0]).await;
    assert_eq!(body["status"], "prequeue");
    assert!(!after.metrics_text().await.contains(&seed));

    // At the opening the same seed is published, and orders every ticket.
    after.advance(120_000);
    let stats = after.stats(concert).await;
    assert_eq!(stats["draw_seed"], seed.as_str(), "{stats}");
    let expected = recompute(&seed, &joined.iter().map(id).collect::<Vec<_>>());
    for joined in &joined {
        let body = after.poll_ok(concert, joined).await;
        let rank = expected.iter().position(|t| *t == id(joined)).unwrap();
        assert_eq!(body["position"], rank + 1, "{body}");
    }
}
