//! Reading a service's `/metrics` in tests, and the junk a hostile client
//! sends to grow it.

/// The sum of the samples named `name` whose labels include every pair in
/// `labels`, read from a Prometheus text exposition (`GET /metrics`);
/// `None` when no such sample exists. Tests share one process-wide
/// recorder, so compare a reading with an earlier one, not with a constant.
pub fn metric_sum(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches = metric == name
            && labels.iter().all(|(k, v)| {
                let wanted = format!("{k}=\"{v}\"");
                label_text.split(',').any(|pair| pair == wanted)
            });
        if let (true, Ok(value)) = (matches, value.parse::<f64>()) {
            total = Some(total.unwrap_or(0.0) + value);
        }
    }
    total
}

/// `GET <base>/metrics`, asserting a 200, and return the exposition text.
pub async fn scrape_metrics(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape /metrics");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.text().await.expect("a metrics body")
}

/// Assert that what a hostile client sends ([`send_junk`]) adds no metric
/// series to the service at `base`: a first round creates the few series of
/// the closed label set, then, once `ready` accepts a scrape (the
/// background tasks' series are there), a second round must change nothing,
/// name none of its invented methods or paths, and count as `other` and
/// `unmatched` (API.md, Limits). `known_path` is a route the service serves.
pub async fn assert_junk_adds_no_series(
    client: &reqwest::Client,
    base: &str,
    known_path: &str,
    ready: impl Fn(&str) -> bool,
) {
    send_junk(client, base, known_path).await;
    // A scrape counts itself from the next one on.
    scrape_metrics_until(client, base, 0, |_| true).await;
    let before = scrape_metrics_until(client, base, 40, ready).await;

    let invented = send_junk(client, base, known_path).await;
    let after = scrape_metrics_until(client, base, 0, |_| true).await;

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

/// Scrape `<base>/metrics` every 250 ms until `ready` accepts the text (at
/// most `attempts` times); returns the last scrape either way.
pub async fn scrape_metrics_until(
    client: &reqwest::Client,
    base: &str,
    attempts: u32,
    ready: impl Fn(&str) -> bool,
) -> String {
    let mut text = scrape_metrics(client, base).await;
    for _ in 0..attempts {
        if ready(&text) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        text = scrape_metrics(client, base).await;
    }
    text
}

/// Assert that a series grew by at least `by` from the `before` scrape to the `after` one.
pub fn assert_moved(before: &str, after: &str, name: &str, labels: &[(&str, &str)], by: f64) {
    let (was, now) = (
        metric_value(before, name, labels),
        metric_value(after, name, labels),
    );
    assert!(
        now - was >= by,
        "{name}{labels:?} went from {was} to {now}, expected +{by}"
    );
}

/// [`metric_sum`], or 0 for a series that has not appeared yet.
pub fn metric_value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_sum(exposition, name, labels).unwrap_or(0.0)
}

/// The series of a Prometheus text exposition: every sample's name and
/// labels (its value dropped), so two scrapes can be compared as sets.
pub fn series(exposition: &str) -> std::collections::BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

/// Send what a hostile client would to grow the metrics: 300 requests with
/// invented methods (half on `known_path`, a route the service serves, half
/// on unknown paths) and 300 `GET`/`POST`s of random unknown paths. Returns
/// the invented methods and paths, which no series may mention afterwards.
pub async fn send_junk(client: &reqwest::Client, base: &str, known_path: &str) -> Vec<String> {
    let mut invented = Vec::new();
    for i in 0..300 {
        let token = uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase();
        let method = format!("X{token}");
        let path = if i % 2 == 0 {
            known_path.to_owned()
        } else {
            format!("/junk-{token}/{i}")
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("a method token");
        let response = client
            .request(m, format!("{base}{path}"))
            .send()
            .await
            .expect("an answer to an invented method");
        assert!(response.status().is_client_error(), "{method} {path}");
        invented.push(method);
    }
    for i in 0..300 {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let path = format!("/v1/{token}/{i}");
        let request = if i % 2 == 0 {
            client.get(format!("{base}{path}"))
        } else {
            client.post(format!("{base}{path}"))
        };
        let response = request.send().await.expect("an answer to an unknown path");
        assert!(response.status().is_client_error(), "{path}");
        invented.push(token);
    }
    invented
}
