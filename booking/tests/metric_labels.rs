//! Metrics labels come from a closed set (API.md, Limits): invented methods
//! and random unknown paths add no series. This test binary is a process of
//! its own, so its metrics recorder serves this one booking service and the
//! number of series can be compared exactly.

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "the helpers serve the api test binary too")]
mod helpers;

use shared::testing::assert_junk_adds_no_series;

#[tokio::test]
async fn invented_methods_and_unknown_paths_add_no_series() {
    // Without rate limits: a refused burst would answer 429 in one round and
    // 404 in the next, which are different (closed-set) series.
    let app = helpers::spawn_app_with(helpers::Options {
        limits: shared::limits::RateLimitSettings::off(),
        ..helpers::Options::default()
    })
    .await;
    // The background tasks' series must be there before the comparison.
    assert_junk_adds_no_series(&app.client, &app.address, "/v1/concerts", |text| {
        text.contains("service_ready") && text.contains("audit_duration_seconds_count")
    })
    .await;
}
