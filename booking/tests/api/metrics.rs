//! `/metrics`: the series operators chart and alert on exist, histograms are
//! real histograms, the numbers move with holds, payments, charges and
//! rejected tokens, and the invariant audit reports 0 on a healthy database
//! and catches an oversold seat and a balance that left its ledger.
//! Every app of this test binary shares one recorder, so values are compared
//! with a reading taken before.

use std::time::Duration;

use booking::audit::{self, AuditReport};
use reqwest::StatusCode;
use shared::testing::{
    assert_moved, metric_sum, metric_value as value, scrape_metrics, scrape_metrics_until,
};

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn store_traffic_moves_the_hold_payment_token_and_http_series() {
    let app = spawn_app().await;
    let buyer = app.create_user("Buyer").await;
    let rival = app.create_user("Rival").await;
    let (concert, schedule) = app.create_concert(50_000).await;
    let before = scrape_metrics(&app.client, &app.address).await;

    app.fund(buyer, 60_000).await;
    let access = app.admit(buyer, concert).await;
    let other = app.admit(rival, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 7).await;
    let lost = app.hold_seat(&other.token, schedule, 7).await;
    assert_eq!(lost.status(), StatusCode::CONFLICT);
    let paid = app.pay(&access.token, &reservation, None).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    let refused = app.get("/v1/concerts/1/schedules", "not-a-token").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // The audit runs every second in tests; the upkeep task every few.
    let after = scrape_metrics_until(&app.client, &app.address, 40, |after| {
        let audited = value(after, "audit_runs_total", &[("result", "ok")])
            > value(&before, "audit_runs_total", &[("result", "ok")]);
        audited && metric_sum(after, "service_ready", &[]).is_some()
    })
    .await;

    let moved = |name: &str, labels: &[(&str, &str)], by: f64| {
        assert_moved(&before, &after, name, labels, by);
    };
    moved("holds_total", &[("outcome", "won")], 1.0);
    moved("holds_total", &[("outcome", "lost_redis")], 1.0);
    moved("payments_total", &[("outcome", "paid")], 1.0);
    moved("charges_total", &[("outcome", "charged")], 1.0);
    moved("token_rejections_total", &[], 1.0);
    moved("audit_runs_total", &[("result", "ok")], 1.0);
    let hold_route = [
        ("method", "POST"),
        ("route", "/v1/reservations"),
        ("status", "201"),
    ];
    moved("http_requests_total", &hold_route, 1.0);
    moved("http_request_duration_seconds_count", &hold_route, 1.0);

    for histogram in ["http_request_duration_seconds", "audit_duration_seconds"] {
        assert!(
            after.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is a histogram with buckets, not a summary"
        );
    }
    for name in [
        "oversold_seats",
        "ledger_mismatched_balances",
        "service_ready",
        "db_pool_max_connections",
        "redis_errors_total",
        "postgres_errors_total",
    ] {
        assert!(
            metric_sum(&after, name, &[]).is_some(),
            "{name} is exported"
        );
    }
    for state in ["in_use", "idle"] {
        assert!(
            metric_sum(&after, "db_pool_connections", &[("state", state)]).is_some(),
            "db_pool_connections{{state={state}}} is exported"
        );
    }
}

/// Run the audit, retrying while this app's own audit task holds the lock.
async fn audit_now(app: &TestApp) -> AuditReport {
    for _ in 0..50 {
        if let Some(report) = audit::check(&app.db, chrono::Utc::now()).await.unwrap() {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the audit lock stayed taken");
}

#[tokio::test]
async fn the_audit_counts_oversold_seats_and_balances_off_their_ledger() {
    let app = spawn_app().await;
    let buyer = app.create_user("Buyer").await;
    let rival = app.create_user("Rival").await;
    let (concert, schedule) = app.create_concert(50_000).await;
    app.fund(buyer, 60_000).await;
    let access = app.admit(buyer, concert).await;
    let reservation = app.hold_ok(&access.token, schedule, 3).await;
    assert_eq!(
        app.pay(&access.token, &reservation, None).await.status(),
        StatusCode::CREATED
    );
    let healthy = AuditReport {
        oversold_seats: 0,
        ledger_mismatches: 0,
    };
    assert_eq!(
        audit_now(&app).await,
        healthy,
        "real traffic breaks nothing"
    );

    // What only a bypassed constraint or a manual fix could do: sell seat 3
    // a second time, and move a balance without a ledger entry.
    sqlx::query("DROP INDEX reservations_live_seat_uidx")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO reservations (reservation_id, user_id, schedule_id, seat_number, price,
                                   status, expires_at, created_at, updated_at)
         VALUES (gen_random_uuid(), $1, $2, 3, 50000, 'confirmed', now(), now(), now())",
    )
    .bind(rival)
    .bind(schedule)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE balances SET balance = balance + 1 WHERE user_id = $1")
        .bind(rival)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        audit_now(&app).await,
        AuditReport {
            oversold_seats: 1,
            ledger_mismatches: 1,
        }
    );
}
