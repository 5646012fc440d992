//! The OpenAPI document the gateway serves is generated from its router: it
//! lists exactly the routes and methods the router serves, and what API.md
//! requires of every route (problem+json errors, 400/408/429/503, 413 with a
//! body, `Retry-After`).

use shared::testing::{assert_routes_documented, document_gaps, router_paths, served_openapi};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_document_lists_every_route_and_method_the_router_serves() {
    let app = spawn_app().await;
    let document = served_openapi(&app.client, &app.address).await;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );

    let routes = router_paths(&gateway::startup::router(app.state.clone()));
    assert_routes_documented(
        &app.client,
        &app.address,
        &routes,
        &document,
        &[
            "/v1/concerts/{concert_id}/queue/status",
            "/openapi.json",
            "/",
        ],
    )
    .await;
}

#[tokio::test]
async fn every_route_documents_the_shared_answers_and_the_status_discriminator() {
    let app = spawn_app().await;
    let document = served_openapi(&app.client, &app.address).await;
    let gaps = document_gaps(&document);
    assert!(gaps.is_empty(), "{gaps:#?}");

    let status = &document["components"]["schemas"]["QueueStatus"];
    assert_eq!(status["discriminator"]["propertyName"], "status");
    let mapping = status["discriminator"]["mapping"]
        .as_object()
        .expect("a mapping");
    for (tag, target) in mapping {
        let name = target
            .as_str()
            .and_then(|t| t.strip_prefix("#/components/schemas/"))
            .expect("a schema reference");
        let variant = &document["components"]["schemas"][name];
        assert_eq!(
            variant["properties"]["status"]["enum"],
            serde_json::json!([tag]),
            "{tag} maps to a schema whose status is {tag}"
        );
    }
    assert!(mapping.contains_key("waiting") && mapping.contains_key("active"));
}
