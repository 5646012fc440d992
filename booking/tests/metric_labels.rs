//! Metrics labels come from a closed set (API.md, Limits): invented methods
//! and random unknown paths add no series. This test binary is a process of
//! its own, so its metrics recorder serves this one booking service and the
//! number of series can be compared exactly.

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "the helpers serve the api test binary too")]
mod helpers;

use shared::testing::{scrape_metrics_until, send_junk, series};

#[tokio::test]
async fn invented_methods_and_unknown_paths_add_no_series() {
    // Without rate limits: a refused burst would answer 429 in one round and
    // 404 in the next, which are different (closed-set) series.
    let app = helpers::spawn_app_with(helpers::Options {
        limits: shared::limits::RateLimitSettings::off(),
        ..helpers::Options::default()
    })
    .await;
    // The first round creates the few series of the closed set (`other`,
    // `unmatched`, their statuses); the background tasks add theirs.
    send_junk(&app.client, &app.address, "/v1/concerts").await;
    // A scrape counts itself from the next one on.
    scrape_metrics_until(&app.client, &app.address, 0, |_| true).await;
    let before = scrape_metrics_until(&app.client, &app.address, 40, |text| {
        text.contains("service_ready") && text.contains("audit_duration_seconds_count")
    })
    .await;

    let invented = send_junk(&app.client, &app.address, "/v1/concerts").await;
    let after = scrape_metrics_until(&app.client, &app.address, 0, |_| true).await;

    let (before, after) = (series(&before), series(&after));
    let added: Vec<_> = after.difference(&before).collect();
    assert!(added.is_empty(), "new series: {added:?}");
    assert_eq!(before.len(), after.len());
    let text = after.iter().cloned().collect::<Vec<_>>().join("\n");
    for token in &invented {
        assert!(!text.contains(token.as_str()), "{token} became a label");
    }
    assert!(
        text.contains(r#"method="other""#),
        "invented methods count as other"
    );
    assert!(
        text.contains(r#"route="unmatched""#),
        "unknown paths count as unmatched"
    );
}
