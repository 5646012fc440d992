//! The OpenAPI document booking serves is generated from its router: it
//! lists exactly the routes and methods the router serves, and what API.md
//! requires of every route (problem+json errors, 400/408/429/503, 413 with a
//! body, `Retry-After`) and the ranges of its inputs.

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

    // A second application on the same database and Redis prefix: its
    // router is the one the running service serves.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let twin = booking::Application::build_on(app.settings.clone(), listener)
        .await
        .expect("the application builds");
    let routes = router_paths(&twin.router());
    assert_routes_documented(
        &app.client,
        &app.address,
        &routes,
        &document,
        &["/v1/payments", "/v1/sessions", "/openapi.json"],
    )
    .await;
}

#[tokio::test]
async fn every_route_documents_the_shared_answers_and_the_input_ranges() {
    let app = spawn_app().await;
    let document = served_openapi(&app.client, &app.address).await;
    let gaps = document_gaps(&document);
    assert!(gaps.is_empty(), "{gaps:#?}");

    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["SeatNumber"]["minimum"], 1);
    assert_eq!(
        schemas["HoldRequest"]["properties"]["seat_number"]["$ref"],
        "#/components/schemas/SeatNumber"
    );
    assert_eq!(schemas["ChargeAmount"]["minimum"], 1);
    assert_eq!(schemas["ChargeAmount"]["maximum"], 10_000_000);
    let history = &document["paths"]["/v1/users/{user_id}/balance/history"]["get"];
    let limit = history["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("a limit parameter");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);
    assert!(history["responses"]["200"]["headers"].get("Link").is_some());
}
