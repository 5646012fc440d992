//! Revocation and Redis data loss across real processes: one gateway (its
//! ticker on, 100 ms ticks) and two booking processes behind an imagined
//! load balancer, on one database and one Redis prefix.
//!
//! - A token is refused by every booking process from the moment the payment
//!   or the leave that revoked it has answered (API.md, Tokens; Errors).
//! - When Redis loses everything, an admitted user's access token keeps
//!   holding seats, while a paid or left one stays refused (API.md, "Redis
//!   is not the only copy").

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::{delete_prefix, fresh_database, random_prefix};

#[path = "stack/mod.rs"]
mod stack;
use stack::{ADMIN, RedisTarget};

const PASSWORD: &str = "a long enough password";

struct Stack {
    gw: String,
    /// Two booking processes (replicas).
    bk: [String; 2],
    prefix: String,
    http: reqwest::Client,
}

async fn start_stack() -> Stack {
    shared::telemetry::init_test_logging();
    let (db_url, _db) =
        fresh_database(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).await;
    let prefix = random_prefix();
    let data_dir = std::env::temp_dir().join(format!("survival-{}", uuid::Uuid::new_v4().simple()));
    let redis = RedisTarget::test_server();
    let (first, first_url) = stack::listener().await;
    let (second, second_url) = stack::listener().await;
    let bk = [first_url, second_url];
    let gw = stack::start_gateway(stack::gateway_settings(
        &db_url, &prefix, &redis, &bk[0], &data_dir,
    ))
    .await;
    for listener in [first, second] {
        // Both processes share the session key (in `data_dir`), as replicas do.
        let settings = booking::Settings {
            run_migrations: false,
            audit_interval: Duration::from_secs(60),
            ..stack::booking_settings(&db_url, &prefix, &redis, &gw, &data_dir)
        };
        stack::start_booking(settings, listener).await;
    }
    Stack {
        gw,
        bk,
        prefix,
        http: reqwest::Client::new(),
    }
}

/// A logged-in, admitted user with money.
struct Fan {
    user: i64,
    session: String,
    access: String,
}

impl Stack {
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A concert with one date; returns (concert, schedule).
    async fn concert(&self) -> (i64, i64) {
        let starts = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
        let (status, body) = self
            .send(
                self.http
                    .post(format!("{}/v1/admin/concerts", self.bk[0]))
                    .bearer_auth(ADMIN)
                    .json(&json!({"title": "Survival", "venue": "Hall", "schedules": [
                        {"starts_at": starts, "price": 70000, "seats": 50}]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["concert_id"].as_i64().unwrap(),
            body["schedules"][0]["schedule_id"].as_i64().unwrap(),
        )
    }

    /// Create a user, log in, top up, join and wait for the access token.
    async fn fan(&self, concert: i64) -> Fan {
        let (_, created) = self
            .send(
                self.http
                    .post(format!("{}/v1/admin/users", self.bk[0]))
                    .bearer_auth(ADMIN)
                    .json(&json!({"name": "Fan", "password": PASSWORD})),
            )
            .await;
        let user = created["user_id"].as_i64().unwrap();
        let (_, login) = self
            .send(
                self.http
                    .post(format!("{}/v1/sessions", self.bk[0]))
                    .json(&json!({"user_id": user, "password": PASSWORD})),
            )
            .await;
        let session = login["session_token"].as_str().unwrap().to_owned();
        let (status, _) = self
            .send(
                self.http
                    .post(format!("{}/v1/users/{user}/balance/charge", self.bk[0]))
                    .bearer_auth(&session)
                    .json(&json!({"amount": 1_000_000})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, joined) = self
            .send(
                self.http
                    .post(format!("{}/v1/concerts/{concert}/queue", self.gw))
                    .bearer_auth(&session),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{joined}");
        let ticket = joined["ticket"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self
                .send(
                    self.http
                        .get(format!("{}/v1/concerts/{concert}/queue/status", self.gw))
                        .bearer_auth(&ticket),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if let Some(access) = body["access_token"].as_str() {
                return Fan {
                    user,
                    session,
                    access: access.to_owned(),
                };
            }
            assert!(tokio::time::Instant::now() < deadline, "not admitted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Hold `seat` on booking process `replica`.
    async fn hold(
        &self,
        replica: usize,
        token: &str,
        schedule: i64,
        seat: i64,
    ) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}/v1/reservations", self.bk[replica]))
                .bearer_auth(token)
                .json(&json!({"schedule_id": schedule, "seat_number": seat})),
        )
        .await
    }

    /// The seat map on booking process `replica` (an admitted read).
    async fn seats(&self, replica: usize, token: &str, schedule: i64) -> StatusCode {
        self.send(
            self.http
                .get(format!(
                    "{}/v1/schedules/{schedule}/seats",
                    self.bk[replica]
                ))
                .bearer_auth(token),
        )
        .await
        .0
    }

    async fn pay(&self, replica: usize, token: &str, reservation: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}/v1/payments", self.bk[replica]))
                .bearer_auth(token)
                .json(&json!({"reservation_id": reservation})),
        )
        .await
    }

    async fn leave(&self, concert: i64, token: &str) -> StatusCode {
        self.send(
            self.http
                .delete(format!("{}/v1/concerts/{concert}/queue/me", self.gw))
                .bearer_auth(token),
        )
        .await
        .0
    }
}

fn assert_not_admitted((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "NOT_ADMITTED", "{body}");
}

#[tokio::test]
async fn a_paid_token_is_refused_at_once_by_the_other_booking_process() {
    let stack = start_stack().await;
    let (concert, schedule) = stack.concert().await;
    for round in 0..3 {
        let fan = stack.fan(concert).await;
        // Both processes have seen the token admitted (any answer they
        // might remember is "admitted").
        assert_eq!(stack.seats(0, &fan.access, schedule).await, StatusCode::OK);
        assert_eq!(stack.seats(1, &fan.access, schedule).await, StatusCode::OK);
        let (status, held) = stack.hold(1, &fan.access, schedule, 1 + round * 2).await;
        assert_eq!(status, StatusCode::CREATED, "{held}");
        let (status, paid) = stack
            .pay(0, &fan.session, held["reservation_id"].as_str().unwrap())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");
        assert_not_admitted(stack.hold(1, &fan.access, schedule, 2 + round * 2).await);
        assert_eq!(
            stack.seats(1, &fan.access, schedule).await,
            StatusCode::FORBIDDEN
        );
        assert!(fan.user > 0);
    }
}

#[tokio::test]
async fn a_left_token_is_refused_at_once_by_every_booking_process() {
    let stack = start_stack().await;
    let (concert, schedule) = stack.concert().await;
    for round in 0..3 {
        let fan = stack.fan(concert).await;
        assert_eq!(stack.seats(0, &fan.access, schedule).await, StatusCode::OK);
        assert_eq!(stack.seats(1, &fan.access, schedule).await, StatusCode::OK);
        assert_eq!(
            stack.leave(concert, &fan.access).await,
            StatusCode::NO_CONTENT
        );
        for replica in 0..2 {
            assert_not_admitted(stack.hold(replica, &fan.access, schedule, 1 + round).await);
        }
    }
}

#[tokio::test]
async fn after_redis_lost_everything_an_admitted_token_still_holds_and_a_paid_or_left_one_does_not()
{
    let stack = start_stack().await;
    let (concert, schedule) = stack.concert().await;
    let keeps = stack.fan(concert).await;
    let pays = stack.fan(concert).await;
    let leaves = stack.fan(concert).await;
    let (status, held) = stack.hold(0, &pays.access, schedule, 10).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let (status, _) = stack
        .pay(1, &pays.access, held["reservation_id"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        stack.leave(concert, &leaves.access).await,
        StatusCode::NO_CONTENT
    );

    let mut redis = shared::testing::test_redis().await;
    delete_prefix(&mut redis, &stack.prefix).await;

    // At once (before or after the gateway's next tick rebuilds the queue):
    // the admitted user still holds, on either process; the others do not.
    let (status, body) = stack.hold(1, &keeps.access, schedule, 20).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_not_admitted(stack.hold(0, &pays.access, schedule, 21).await);
    assert_not_admitted(stack.hold(1, &leaves.access, schedule, 22).await);

    // Once the gateway has rebuilt the queue, the same; the session counts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stats) = stack
            .send(
                stack
                    .http
                    .get(format!("{}/v1/concerts/{concert}/queue", stack.gw)),
            )
            .await;
        if stats["active"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not rebuilt: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = stack.hold(0, &keeps.access, schedule, 23).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_not_admitted(stack.hold(0, &pays.access, schedule, 24).await);
    assert_not_admitted(stack.hold(1, &leaves.access, schedule, 25).await);
}
