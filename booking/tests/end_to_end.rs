//! The whole journey through both real services, sharing one Postgres
//! database and one Redis prefix: join the gateway's queue, get admitted by
//! its ticker, then list dates and seats, hold, top up and pay at booking —
//! after which the access token no longer works anywhere.

use std::path::Path;
use std::time::Duration;

use booking::settings::CorsOrigins;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::{fresh_database, random_prefix, redis_url};

const ADMIN: &str = "e2e-admin-token";

async fn start_gateway(db_url: &str, prefix: &str) -> String {
    let settings = gateway::Settings {
        addr: "127.0.0.1:0".into(),
        database_url: db_url.to_owned(),
        redis_url: redis_url(),
        key_prefix: prefix.to_owned(),
        admin_token: Some(ADMIN.to_owned().into()),
        tick: Duration::from_millis(100),
        admit_per_tick: 100,
        max_active: 1000,
        active_ttl: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(120),
        data_dir: std::env::temp_dir()
            .join(format!("e2e-gateway-{}", uuid::Uuid::new_v4().simple())),
        jwt_private_key_file: None,
        jwt_previous_key_files: Vec::new(),
        run_ticker: true,
        db_pool_size: 4,
        booking_public_url: "http://127.0.0.1:8081".into(),
    };
    let app = gateway::Application::build(settings)
        .await
        .expect("the gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

async fn start_booking(db_url: &str, prefix: &str, gateway: &str) -> String {
    let settings = booking::Settings {
        database_url: db_url.to_owned().into(),
        database_max_connections: 10,
        redis_url: redis_url().into(),
        redis_key_prefix: prefix.to_owned(),
        addr: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(ADMIN.into()),
        jwks_url: format!("{gateway}/.well-known/jwks.json"),
        hold_ttl: Duration::from_secs(300),
        max_seats_per_user: 4,
        cors_allowed_origins: CorsOrigins::List(vec![gateway.parse().unwrap()]),
        run_migrations: true,
        sweep_interval: Duration::from_secs(1),
        max_concurrent_requests: 256,
        audit_interval: Duration::from_secs(1),
    };
    let app = booking::Application::build(settings)
        .await
        .expect("booking builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// Send `request`, check its status, and return its JSON body.
async fn expect(request: reqwest::RequestBuilder, expected: StatusCode) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "{body}");
    body
}

#[tokio::test]
async fn join_wait_hold_top_up_pay_and_the_token_stops_working() {
    shared::telemetry::init_test_logging();
    let (db_url, db) =
        fresh_database(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).await;
    let prefix = random_prefix();
    let gw = start_gateway(&db_url, &prefix).await;
    let bk = start_booking(&db_url, &prefix, &gw).await;
    let http = reqwest::Client::new();

    // An organiser creates a user and a concert with two dates.
    let user = expect(
        http.post(format!("{bk}/v1/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "Ada"})),
        StatusCode::CREATED,
    )
    .await["user_id"]
        .as_i64()
        .unwrap();
    let starts = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let concert = expect(
        http.post(format!("{bk}/v1/admin/concerts"))
            .bearer_auth(ADMIN)
            .json(&json!({"title": "E2E", "venue": "Hall", "schedules": [
                {"starts_at": starts(10), "price": 70000, "seats": 50},
                {"starts_at": starts(11), "price": 70000, "seats": 50}]})),
        StatusCode::CREATED,
    )
    .await["concert_id"]
        .as_i64()
        .unwrap();

    // Join the queue and poll until the ticker admits us.
    let joined = expect(
        http.post(format!("{gw}/v1/concerts/{concert}/queue"))
            .json(&json!({"user_id": user})),
        StatusCode::CREATED,
    )
    .await;
    let ticket = joined["ticket"].as_str().unwrap().to_owned();
    let mut access = None;
    for _ in 0..50 {
        let status = expect(
            http.get(format!("{gw}/v1/concerts/{concert}/queue/status"))
                .bearer_auth(&ticket),
            StatusCode::OK,
        )
        .await;
        if status["status"] == "active" {
            access = status["access_token"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let access = access.expect("admitted within 5 s");

    // A queue ticket is not enough to book.
    let with_ticket = http
        .get(format!("{bk}/v1/concerts/{concert}/schedules"))
        .bearer_auth(&ticket);
    assert_eq!(
        expect(with_ticket, StatusCode::FORBIDDEN).await["code"],
        "NOT_ADMITTED"
    );

    let schedules = expect(
        http.get(format!("{bk}/v1/concerts/{concert}/schedules"))
            .bearer_auth(&access),
        StatusCode::OK,
    )
    .await;
    assert_eq!(schedules.as_array().unwrap().len(), 2);
    let schedule = schedules[0]["schedule_id"].as_i64().unwrap();
    let seats = expect(
        http.get(format!("{bk}/v1/schedules/{schedule}/seats"))
            .bearer_auth(&access),
        StatusCode::OK,
    )
    .await;
    assert_eq!(seats["seats"].as_array().unwrap().len(), 50);

    let held = expect(
        http.post(format!("{bk}/v1/reservations"))
            .bearer_auth(&access)
            .json(&json!({"schedule_id": schedule, "seat_number": 7})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(held["status"], "held");
    let reservation = held["reservation_id"].as_str().unwrap().to_owned();

    // Not enough money yet; top up with the ticket (user-level), then pay.
    let broke = http
        .post(format!("{bk}/v1/payments"))
        .bearer_auth(&access)
        .json(&json!({"reservation_id": reservation}));
    assert_eq!(
        expect(broke, StatusCode::CONFLICT).await["code"],
        "INSUFFICIENT_BALANCE"
    );
    let charged = expect(
        http.post(format!("{bk}/v1/users/{user}/balance/charge"))
            .bearer_auth(&ticket)
            .json(&json!({"amount": 100000})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(charged["balance"], 100000);
    let paid = expect(
        http.post(format!("{bk}/v1/payments"))
            .bearer_auth(&access)
            .header("Idempotency-Key", "e2e-pay-1")
            .json(&json!({"reservation_id": reservation})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (paid["amount"].clone(), paid["balance"].clone()),
        (json!(70000), json!(30000))
    );

    // Sold in Postgres, to this user; the access token is revoked everywhere.
    let (owner, status): (i64, String) = sqlx::query_as(
        "SELECT user_id, status FROM reservations WHERE schedule_id = $1 AND seat_number = 7 AND status = 'confirmed'",
    )
    .bind(schedule)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((owner, status.as_str()), (user, "confirmed"));
    let after = http
        .get(format!("{bk}/v1/schedules/{schedule}/seats"))
        .bearer_auth(&access);
    assert_eq!(
        expect(after, StatusCode::FORBIDDEN).await["code"],
        "NOT_ADMITTED"
    );
    let poll = http
        .get(format!("{gw}/v1/concerts/{concert}/queue/status"))
        .bearer_auth(&ticket);
    assert_eq!(
        expect(poll, StatusCode::NOT_FOUND).await["code"],
        "TICKET_NOT_FOUND",
        "the session ended with the payment"
    );
    // The user can still read their reservation with the ticket.
    let mine = http
        .get(format!("{bk}/v1/reservations/{reservation}"))
        .bearer_auth(&ticket);
    assert_eq!(expect(mine, StatusCode::OK).await["status"], "confirmed");
}
