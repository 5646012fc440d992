//! Test support: every test gets its own Postgres database and Redis key
//! prefix on the real servers, so tests run in parallel on shared servers.
//! [`TcpProxy`] sits between a service and Redis or Postgres so a test can cut
//! the connection (an outage) and restore it without touching the servers
//! other tests use.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// Postgres server URL for tests (`TEST_DATABASE_URL`, without a database name).
pub fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis URL for tests (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis key prefix no other test uses.
pub fn random_prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

/// Serve `jwks` at `http://127.0.0.1:<port>/.well-known/jwks.json` for the
/// rest of the test; returns that URL. A real HTTP endpoint, like any issuer's.
pub async fn serve_jwks(jwks: crate::tokens::Jwks) -> String {
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the JWKS server");
    let port = listener.local_addr().expect("JWKS address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}/.well-known/jwks.json")
}

/// An identity provider for tests of the gateway alone: a signing key whose
/// JWKS is served over HTTP, and session tokens in booking's format.
pub struct IdentityProvider {
    pub signer: crate::tokens::Signer,
    pub jwks_url: String,
}

impl IdentityProvider {
    pub async fn start() -> Self {
        let signer = crate::tokens::Signer::generate();
        let jwks_url = serve_jwks(crate::tokens::Jwks {
            keys: vec![signer.jwk()],
        })
        .await;
        Self { signer, jwks_url }
    }

    /// A session token of `user`, valid for an hour from now.
    pub fn session(&self, user: i64) -> String {
        crate::tokens::encode_session(&self.signer, &self.session_claims(user))
    }

    /// Fresh session claims of `user` (a new `jti`), valid for an hour.
    pub fn session_claims(&self, user: i64) -> crate::tokens::SessionClaims {
        let now = crate::unix_now();
        crate::tokens::SessionClaims {
            user_id: crate::ids::UserId::new(user).expect("a positive user id"),
            session_id: Some(uuid::Uuid::new_v4().to_string()),
            issued_at: now,
            expires_at: now + 3600,
        }
    }
}

/// A fresh database with `migrations` applied. Returns its URL and a pool.
/// Databases are named `test_<uuid>`; the test command drops old ones.
pub async fn fresh_database(migrations: &Path) -> (String, PgPool) {
    let server = postgres_server_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("Postgres is reachable for tests (see scripts/services.sh)");
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create the test database");
    let url = format!("{server}/{name}");
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await
        .expect("connect to the test database");
    sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("read migrations")
        .run(&pool)
        .await
        .expect("apply migrations");
    (url, pool)
}

/// A TCP forwarder that can be cut and restored.
pub struct TcpProxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
}

impl TcpProxy {
    /// Forward a local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = broadcast::channel(1);
        let target = target.to_owned();
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut_rx = cut2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {},
                        _ = cut_rx.recv() => {},
                    }
                });
            }
        });
        Self { port, up, cut }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drop every open connection and refuse new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    /// Accept connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

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

/// The paths a router serves (its route templates, e.g.
/// `/v1/concerts/{concert_id}/queue`), read from the router itself.
///
/// axum has no API that lists routes; its `Debug` output names every path
/// of the path router (`paths: {RouteId(1): "/…", …}`), which is what this
/// reads. Should that output ever change shape, this finds nothing and the
/// tests that use it fail (they also check that known routes are found).
pub fn router_paths<S>(router: &axum::Router<S>) -> std::collections::BTreeSet<String> {
    let debug = format!("{router:?}");
    let start = debug.find("path_router:").unwrap_or(0);
    let end = debug.find("fallback_router:").unwrap_or(debug.len());
    let mut paths = std::collections::BTreeSet::new();
    let mut rest = &debug[start..end];
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at..];
        let Some(open) = rest.find("): \"") else {
            break;
        };
        let after = &rest[open + 4..];
        let Some(close) = after.find('"') else {
            break;
        };
        let path = &after[..close];
        if path.starts_with('/') && !path.contains("__private__axum") {
            paths.insert(path.to_owned());
        }
        rest = &after[close..];
    }
    paths
}

/// Every (path, method) that `document` (an OpenAPI document) lists,
/// methods in upper case.
pub fn documented_operations(
    document: &serde_json::Value,
) -> std::collections::BTreeSet<(String, String)> {
    let mut operations = std::collections::BTreeSet::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|item| item.keys()) {
                operations.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    operations
}

/// Assert that `document` (the served OpenAPI document) lists exactly the
/// paths of `routes` (the router's, see [`router_paths`]), which must
/// include every path of `known`, and that the running service at `base`
/// answers exactly the documented methods ([`undocumented_operations`]).
pub async fn assert_routes_documented(
    client: &reqwest::Client,
    base: &str,
    routes: &std::collections::BTreeSet<String>,
    document: &serde_json::Value,
    known: &[&str],
) {
    for path in known {
        assert!(routes.contains(*path), "{path} not found in {routes:?}");
    }
    let documented: std::collections::BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert_eq!(*routes, documented, "router paths vs documented paths");
    let wrong = undocumented_operations(client, base, routes, document).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The methods a route may serve that [`undocumented_operations`] tries.
pub const PROBED_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The operations a running service answers (anything but `405` to a
/// request without credentials or body) that `document` does not list, and
/// the documented ones it answers `405` to. `base` is the service's
/// `http://host:port`; each path of `paths` is called with every parameter
/// set to `1`.
pub async fn undocumented_operations(
    client: &reqwest::Client,
    base: &str,
    paths: &std::collections::BTreeSet<String>,
    document: &serde_json::Value,
) -> Vec<String> {
    let documented = documented_operations(document);
    let mut wrong = Vec::new();
    for path in paths {
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in PROBED_METHODS {
            let method_value = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let status = client
                .request(method_value, format!("{base}{concrete}"))
                .send()
                .await
                .expect("the service answers")
                .status();
            let served = status != reqwest::StatusCode::METHOD_NOT_ALLOWED;
            let listed = documented.contains(&(path.clone(), method.to_owned()));
            if served && !listed {
                wrong.push(format!(
                    "{method} {path} answers {status} but is not documented"
                ));
            }
            if !served && listed {
                wrong.push(format!("{method} {path} is documented but answers 405"));
            }
        }
    }
    wrong
}

/// What the OpenAPI `document` fails to say that API.md requires of every
/// route (empty when nothing): each operation lists `400`, `408`, `429` and
/// `503` (and `413` when it takes a body); every `4xx`/`5xx` answer is
/// `application/problem+json` with the `Problem` schema; `429` and `503`
/// carry a required `Retry-After`; every `$ref` resolves; every security
/// requirement names a declared scheme.
pub fn document_gaps(document: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let mut gaps = Vec::new();
    let resolve = |value: &'_ Value| -> Option<Value> {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => document.pointer(reference.trim_start_matches('#')).cloned(),
            None => Some(value.clone()),
        }
    };
    check_refs(document, document, &mut gaps);
    let schemes = &document["components"]["securitySchemes"];
    for (path, method) in documented_operations(document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let name = format!("{method} {path}");
        let mut required = vec!["400", "408", "429", "503"];
        if operation.get("requestBody").is_some() {
            required.push("413");
        }
        for status in required {
            if operation["responses"].get(status).is_none() {
                gaps.push(format!("{name}: no {status}"));
            }
        }
        let responses = operation["responses"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (status, response) in responses {
            let Some(response) = resolve(&response) else {
                continue;
            };
            if status.starts_with(['4', '5']) {
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                if schema != "#/components/schemas/Problem" {
                    gaps.push(format!("{name}: {status} is not problem+json Problem"));
                }
            }
            if (status == "429" || status == "503")
                && response["headers"]["Retry-After"]["required"] != Value::Bool(true)
            {
                gaps.push(format!("{name}: {status} has no required Retry-After"));
            }
        }
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().into_iter().flat_map(|r| r.keys()) {
                if schemes.get(scheme).is_none() {
                    gaps.push(format!("{name}: undeclared security scheme {scheme}"));
                }
            }
        }
    }
    gaps
}

fn check_refs(document: &serde_json::Value, value: &serde_json::Value, gaps: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && document
                    .pointer(reference.trim_start_matches('#'))
                    .is_none()
            {
                gaps.push(format!("unresolved $ref {reference}"));
            }
            map.values().for_each(|v| check_refs(document, v, gaps));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(document, v, gaps)),
        _ => {}
    }
}

/// A Redis server of one test's own, started by `scripts/redis-scratch.sh`
/// on a free port, without persistence: [`ScratchRedis::restart_empty`] is a
/// production restart that lost every key. Killed when dropped.
pub struct ScratchRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: std::sync::Mutex<Option<tokio::process::Child>>,
}

impl ScratchRedis {
    /// Start the server and wait until it answers `PING`.
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("its address").port()
        };
        let dir =
            std::env::temp_dir().join(format!("redis-scratch-{}", uuid::Uuid::new_v4().simple()));
        let server = Self {
            port,
            dir,
            child: std::sync::Mutex::new(None),
        };
        server.spawn().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (`SIGKILL`) and start a new, empty one on the same port.
    pub async fn restart_empty(&self) {
        let child = self.child.lock().expect("the child").take();
        if let Some(mut child) = child {
            child.kill().await.expect("kill redis-server");
        }
        self.spawn().await;
    }

    async fn spawn(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-scratch.sh");
        let child = tokio::process::Command::new(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/redis-scratch.sh starts");
        *self.child.lock().expect("the child") = Some(child);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ping = async {
                let client = redis::Client::open(self.url())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            if ping.await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the scratch Redis did not answer within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ScratchRedis {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && let Some(child) = child.as_mut()
        {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Delete every key under `prefix` (`<prefix>:*`): what a `FLUSHDB` does to
/// one test's keys, without touching the other tests sharing the server.
pub async fn delete_prefix(redis: &mut crate::infra::RedisConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(redis)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(redis)
            .await
            .expect("DEL");
    }
}

#[cfg(test)]
mod tests {
    use super::metric_sum;

    #[test]
    fn metric_sum_adds_the_matching_samples() {
        let text = "# TYPE x counter\nx{a=\"1\",b=\"2\"} 3\nx{a=\"1\",b=\"3\"} 4\ny 5\nx_total 9\n";
        assert_eq!(metric_sum(text, "x", &[("a", "1")]), Some(7.0));
        assert_eq!(metric_sum(text, "x", &[("b", "3")]), Some(4.0));
        assert_eq!(metric_sum(text, "y", &[]), Some(5.0));
        assert_eq!(metric_sum(text, "x", &[("a", "2")]), None);
        assert_eq!(metric_sum(text, "z", &[]), None);
    }
}
