//! `/metrics`: the series operators chart and alert on exist, histograms are
//! real histograms (aggregatable across replicas), and the numbers move when
//! users join, get admitted, poll and leave. Every app of this test binary
//! shares one recorder, so values are compared with a reading taken before.

use reqwest::StatusCode;
use shared::testing::{assert_moved, metric_sum, scrape_metrics, scrape_metrics_until};

use crate::helpers::{Config, spawn_app_with};

#[tokio::test]
async fn queue_traffic_moves_the_queue_token_and_http_series() {
    let app = spawn_app_with(Config {
        admit_per_tick: 1,
        ..Config::default()
    })
    .await;
    let concert = app.create_concert().await;
    let c = concert.to_string();
    let users = app.create_users(3).await;
    let before = scrape_metrics(&app.client, &app.address).await;

    let a = app.join_ok(concert, users[0]).await;
    app.tick().await; // admits A; the admission rate is now measured
    let b = app.join_ok(concert, users[1]).await;
    let _c = app.join_ok(concert, users[2]).await;
    assert_eq!(b["status"], "waiting");
    assert!(b["eta_seconds"].as_u64().is_some(), "{b}");
    let (status, polled) = app.poll(concert, a["ticket"].as_str().unwrap()).await;
    assert_eq!(
        (status, polled["status"].as_str()),
        (StatusCode::OK, Some("active"))
    );
    assert_eq!(
        app.leave(concert, b["ticket"].as_str().unwrap()).await,
        StatusCode::NO_CONTENT
    );
    app.tick().await; // admits C
    app.stats(concert).await;

    // The upkeep task reads readiness and the pool every few seconds.
    let after = scrape_metrics_until(&app.client, &app.address, 24, |after| {
        metric_sum(after, "service_ready", &[]).is_some()
    })
    .await;

    let moved = |name: &str, labels: &[(&str, &str)], by: f64| {
        assert_moved(&before, &after, name, labels, by);
    };
    moved("queue_joins_total", &[], 3.0);
    moved("queue_admissions_total", &[("concert", &c)], 2.0);
    moved("queue_drops_total", &[("reason", "left")], 1.0);
    moved("tokens_issued_total", &[("kind", "ticket")], 3.0);
    moved("tokens_issued_total", &[("kind", "access")], 1.0);
    moved("queue_tick_duration_seconds_count", &[], 2.0);
    moved("queue_wait_predicted_seconds_count", &[], 2.0);
    moved("queue_wait_duration_seconds_count", &[], 1.0);
    let join_route = [
        ("method", "POST"),
        ("route", "/v1/concerts/{concert_id}/queue"),
        ("status", "201"),
    ];
    moved("http_requests_total", &join_route, 3.0);
    moved("http_request_duration_seconds_count", &join_route, 3.0);

    for histogram in [
        "http_request_duration_seconds",
        "queue_tick_duration_seconds",
        "queue_wait_predicted_seconds",
        "queue_wait_duration_seconds",
    ] {
        assert!(
            after.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is a histogram with buckets, not a summary"
        );
    }
    for gauge in [
        "queue_waiting",
        "queue_active",
        "queue_admissions_per_second",
        "queue_paused",
        "queue_max_active",
        "queue_admit_per_tick",
    ] {
        assert!(
            metric_sum(&after, gauge, &[("concert", &c)]).is_some(),
            "{gauge} of concert {c} is exported"
        );
    }
    for name in [
        "service_ready",
        "db_pool_connections",
        "db_pool_max_connections",
        "redis_errors_total",
        "postgres_errors_total",
        "queue_drops_total",
    ] {
        assert!(
            metric_sum(&after, name, &[]).is_some(),
            "{name} is exported"
        );
    }
}
