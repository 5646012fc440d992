//! The whole journey through both real services, sharing one Postgres
//! database and one Redis prefix: log in at booking, join the gateway's
//! queue with the session, get admitted by its ticker, then list dates and
//! seats, hold, top up and pay at booking — after which the access token no
//! longer works anywhere. And the attack of a stranger with only the public
//! API, who must not be able to act as another user at any step.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::{IdentityProvider, fresh_database, random_prefix};

#[path = "stack/mod.rs"]
mod stack;
use stack::{ADMIN, RedisTarget, expect};

/// Both services on one database and Redis prefix (see [`stack`]).
struct Stack {
    gw: String,
    bk: String,
    db: sqlx::PgPool,
    http: reqwest::Client,
}

async fn start_stack() -> Stack {
    shared::telemetry::init_test_logging();
    let (db_url, db) =
        fresh_database(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).await;
    let prefix = random_prefix();
    let data_dir = std::env::temp_dir().join(format!("e2e-{}", uuid::Uuid::new_v4().simple()));
    let redis = RedisTarget::test_server();
    // Booking's address is known before either starts: each names the other.
    let (booking_listener, bk) = stack::listener().await;
    let gw = stack::start_gateway(stack::gateway_settings(
        &db_url, &prefix, &redis, &bk, &data_dir,
    ))
    .await;
    let settings = stack::booking_settings(&db_url, &prefix, &redis, &gw, &data_dir);
    stack::start_booking(settings, booking_listener).await;
    Stack {
        gw,
        bk,
        db,
        http: reqwest::Client::new(),
    }
}

impl Stack {
    /// A user made by the organiser, with `password`.
    async fn create_user(&self, name: &str, password: &str) -> i64 {
        expect(
            self.http
                .post(format!("{}/v1/admin/users", self.bk))
                .bearer_auth(ADMIN)
                .json(&json!({"name": name, "password": password})),
            StatusCode::CREATED,
        )
        .await["user_id"]
            .as_i64()
            .unwrap()
    }

    /// Log in; returns the session token.
    async fn login(&self, user: i64, password: &str) -> String {
        let session = expect(
            self.http
                .post(format!("{}/v1/sessions", self.bk))
                .json(&json!({"user_id": user, "password": password})),
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(session["user_id"], user);
        session["session_token"].as_str().unwrap().to_owned()
    }

    /// A concert with two dates a week and more away; returns its id.
    async fn create_concert(&self) -> i64 {
        let starts = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
        expect(
            self.http
                .post(format!("{}/v1/admin/concerts", self.bk))
                .bearer_auth(ADMIN)
                .json(&json!({"title": "E2E", "venue": "Hall", "schedules": [
                    {"starts_at": starts(10), "price": 70000, "seats": 50},
                    {"starts_at": starts(11), "price": 70000, "seats": 50}]})),
            StatusCode::CREATED,
        )
        .await["concert_id"]
            .as_i64()
            .unwrap()
    }

    /// Join with `session` and poll until admitted: (ticket, access token).
    async fn join_and_wait(&self, concert: i64, session: &str) -> (String, String) {
        let joined = expect(
            self.http
                .post(format!("{}/v1/concerts/{concert}/queue", self.gw))
                .bearer_auth(session),
            StatusCode::CREATED,
        )
        .await;
        let ticket = joined["ticket"].as_str().unwrap().to_owned();
        for _ in 0..100 {
            let status = expect(
                self.http
                    .get(format!("{}/v1/concerts/{concert}/queue/status", self.gw))
                    .bearer_auth(&ticket),
                StatusCode::OK,
            )
            .await;
            if let Some(access) = status["access_token"].as_str() {
                return (ticket, access.to_owned());
            }
            // Wait for the next tick (100 ms) before asking again.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not admitted within 10 s");
    }
}

#[tokio::test]
async fn log_in_join_wait_hold_top_up_pay_and_the_token_stops_working() {
    let stack = start_stack().await;
    let (bk, gw, http) = (&stack.bk, &stack.gw, &stack.http);
    let user = stack.create_user("Ada", "ada's long password").await;
    let concert = stack.create_concert().await;
    let session = stack.login(user, "ada's long password").await;
    let (ticket, access) = stack.join_and_wait(concert, &session).await;

    // Neither the queue ticket nor the session is enough to book.
    let with_ticket = http
        .get(format!("{bk}/v1/concerts/{concert}/schedules"))
        .bearer_auth(&ticket);
    assert_eq!(
        expect(with_ticket, StatusCode::UNAUTHORIZED).await["code"],
        "UNAUTHENTICATED"
    );
    let with_session = http
        .get(format!("{bk}/v1/concerts/{concert}/schedules"))
        .bearer_auth(&session);
    assert_eq!(
        expect(with_session, StatusCode::FORBIDDEN).await["code"],
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

    // Not enough money yet; top up with the session (user level), then pay.
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
            .bearer_auth(&session)
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
    .fetch_one(&stack.db)
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
    // The user can still read their reservation with the session.
    let mine = http
        .get(format!("{bk}/v1/reservations/{reservation}"))
        .bearer_auth(&session);
    assert_eq!(expect(mine, StatusCode::OK).await["status"], "confirmed");
}

/// Send a request that must be refused with `status` and `code`.
async fn refused(request: reqwest::RequestBuilder, status: StatusCode, code: &str, step: &str) {
    let response = request.send().await.unwrap();
    let got = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (got, body["code"].as_str()),
        (status, Some(code)),
        "{step}: {body}"
    );
}

#[tokio::test]
async fn a_stranger_with_the_public_api_cannot_act_as_another_user() {
    let stack = start_stack().await;
    let (bk, gw, http) = (&stack.bk, &stack.gw, &stack.http);
    let victim = stack.create_user("Victim", "victim's password").await;
    let stranger = stack.create_user("Stranger", "stranger's password").await;
    let concert = stack.create_concert().await;

    // The victim logs in, waits, is admitted, tops up and holds seat 7.
    let victim_session = stack.login(victim, "victim's password").await;
    let (victim_ticket, victim_access) = stack.join_and_wait(concert, &victim_session).await;
    expect(
        http.post(format!("{bk}/v1/users/{victim}/balance/charge"))
            .bearer_auth(&victim_session)
            .json(&json!({"amount": 100000})),
        StatusCode::OK,
    )
    .await;
    let schedules = expect(
        http.get(format!("{bk}/v1/concerts/{concert}/schedules"))
            .bearer_auth(&victim_access),
        StatusCode::OK,
    )
    .await;
    let schedule = schedules[0]["schedule_id"].as_i64().unwrap();
    let held = expect(
        http.post(format!("{bk}/v1/reservations"))
            .bearer_auth(&victim_access)
            .json(&json!({"schedule_id": schedule, "seat_number": 7})),
        StatusCode::CREATED,
    )
    .await;
    let reservation = held["reservation_id"].as_str().unwrap().to_owned();

    // The stranger: the old attack (a body user id, no credentials) first.
    let join = format!("{gw}/v1/concerts/{concert}/queue");
    refused(
        http.post(&join).json(&json!({"user_id": victim})),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "join as the victim without credentials",
    )
    .await;
    // Guessing the victim's password gets the answer an unknown user gets.
    let wrong = http
        .post(format!("{bk}/v1/sessions"))
        .json(&json!({"user_id": victim, "password": "guess guess"}))
        .send()
        .await
        .unwrap();
    let unknown = http
        .post(format!("{bk}/v1/sessions"))
        .json(&json!({"user_id": 987_654_321, "password": "guess guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (wrong.status(), unknown.status()),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    assert_eq!(
        strip(wrong.json().await.unwrap()),
        strip(unknown.json().await.unwrap()),
        "a wrong password and an unknown user are told apart by nothing"
    );
    // A session the stranger signs with a key of their own.
    let forger = IdentityProvider::start().await;
    let forged = forger.session(victim);
    refused(
        http.post(&join).bearer_auth(&forged),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "join with a forged session",
    )
    .await;
    refused(
        http.get(format!("{bk}/v1/users/{victim}/balance"))
            .bearer_auth(&forged),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "read the balance with a forged session",
    )
    .await;

    // With their own, real session and tokens.
    let session = stack.login(stranger, "stranger's password").await;
    refused(
        http.post(&join)
            .bearer_auth(&session)
            .json(&json!({"user_id": victim})),
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "join naming the victim",
    )
    .await;
    let (ticket, access) = stack.join_and_wait(concert, &session).await;
    for (token, what) in [(&session, "session"), (&access, "access token")] {
        refused(
            http.get(format!("{bk}/v1/users/{victim}/balance"))
                .bearer_auth(token),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!("read the victim's balance with the stranger's {what}"),
        )
        .await;
        refused(
            http.get(format!("{bk}/v1/users/{victim}/balance/history"))
                .bearer_auth(token),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!("read the victim's ledger with the stranger's {what}"),
        )
        .await;
        refused(
            http.post(format!("{bk}/v1/users/{victim}/balance/charge"))
                .bearer_auth(token)
                .json(&json!({"amount": 1})),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!("charge the victim's balance with the stranger's {what}"),
        )
        .await;
        refused(
            http.get(format!("{bk}/v1/reservations/{reservation}"))
                .bearer_auth(token),
            StatusCode::NOT_FOUND,
            "RESERVATION_NOT_FOUND",
            &format!("read the victim's hold with the stranger's {what}"),
        )
        .await;
        refused(
            http.delete(format!("{bk}/v1/reservations/{reservation}"))
                .bearer_auth(token),
            StatusCode::NOT_FOUND,
            "RESERVATION_NOT_FOUND",
            &format!("release the victim's hold with the stranger's {what}"),
        )
        .await;
        refused(
            http.post(format!("{bk}/v1/payments"))
                .bearer_auth(token)
                .json(&json!({"reservation_id": reservation})),
            StatusCode::NOT_FOUND,
            "RESERVATION_NOT_FOUND",
            &format!("pay the victim's hold with the stranger's {what}"),
        )
        .await;
    }
    refused(
        http.get(format!("{bk}/v1/users/{victim}/balance"))
            .bearer_auth(&ticket),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "a queue ticket at booking",
    )
    .await;
    refused(
        http.post(format!("{bk}/v1/reservations"))
            .bearer_auth(&access)
            .json(&json!({"schedule_id": schedule, "seat_number": 8, "user_id": victim})),
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "hold a seat in the victim's name",
    )
    .await;
    // Ending the victim's place needs the victim's ticket; a session is none.
    refused(
        http.delete(format!("{gw}/v1/concerts/{concert}/queue/me"))
            .bearer_auth(&session),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "leave the queue with a session token",
    )
    .await;
    let left = http
        .delete(format!("{gw}/v1/concerts/{concert}/queue/me"))
        .bearer_auth(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        left.status(),
        StatusCode::NO_CONTENT,
        "the stranger leaves their own place"
    );

    // The victim lost nothing: balance and ledger, the hold, the session.
    let (balance, ledger): (i64, i64) = sqlx::query_as(
        "SELECT b.balance, (SELECT COALESCE(sum(amount), 0)::BIGINT FROM balance_ledger l
                            WHERE l.user_id = b.user_id AND kind = 'charge')
         FROM balances b WHERE user_id = $1",
    )
    .bind(victim)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!((balance, ledger), (100_000, 100_000));
    let mine = expect(
        http.get(format!("{bk}/v1/reservations/{reservation}"))
            .bearer_auth(&victim_session),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (mine["status"].as_str(), mine["user_id"].as_i64()),
        (Some("held"), Some(victim))
    );
    let status = expect(
        http.get(format!("{gw}/v1/concerts/{concert}/queue/status"))
            .bearer_auth(&victim_ticket),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["status"], "active");

    // Logging out ends the victim's session at both services at once.
    let out = http
        .delete(format!("{bk}/v1/sessions/current"))
        .bearer_auth(&victim_session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    refused(
        http.get(format!("{bk}/v1/users/{victim}/balance"))
            .bearer_auth(&victim_session),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "a logged-out session at booking",
    )
    .await;
    refused(
        http.post(&join).bearer_auth(&victim_session),
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "a logged-out session at the gateway",
    )
    .await;
}

/// The gateway remembers unknown concert ids, yet a concert created through
/// booking's admin API is found by the gateway the moment the creation
/// answered (API.md, Errors): public numbers and joins alike.
#[tokio::test]
async fn a_concert_refused_as_unknown_is_found_the_moment_its_creation_answered() {
    let stack = start_stack().await;
    let (gw, http) = (&stack.gw, &stack.http);
    let user = stack.create_user("Early", "an early bird's password").await;
    let session = stack.login(user, "an early bird's password").await;
    // A fresh database: the next concerts get the ids 1, 2, …; ask about
    // them before they exist, twice, so the gateway remembers them as unknown.
    for _ in 0..2 {
        for id in 1..=3 {
            let stats = http.get(format!("{gw}/v1/concerts/{id}/queue"));
            assert_eq!(
                expect(stats, StatusCode::NOT_FOUND).await["code"],
                "CONCERT_NOT_FOUND"
            );
            let join = http
                .post(format!("{gw}/v1/concerts/{id}/queue"))
                .bearer_auth(&session);
            expect(join, StatusCode::NOT_FOUND).await;
        }
    }
    let first = stack.create_concert().await;
    assert!(first <= 3, "the concert took an id asked about: {first}");
    expect(
        http.get(format!("{gw}/v1/concerts/{first}/queue")),
        StatusCode::OK,
    )
    .await;
    let second = stack.create_concert().await;
    assert!(second <= 3, "{second}");
    let join = http
        .post(format!("{gw}/v1/concerts/{second}/queue"))
        .bearer_auth(&session);
    expect(join, StatusCode::CREATED).await;
}
