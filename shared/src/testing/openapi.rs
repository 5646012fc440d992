//! Checking a served OpenAPI document against the router that serves it.

/// The OpenAPI document a service serves at `{base}/openapi.json` (`base`
/// like `http://127.0.0.1:PORT`); panics unless it answers `200` with JSON.
pub async fn served_openapi(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let response = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("the document is JSON")
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
