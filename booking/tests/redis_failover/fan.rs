//! A fan who keeps buying: join, poll until admitted, hold a random seat,
//! then pay (while the balance lasts) or release the seat and leave, and
//! again — retrying a `503` the way a client honouring `Retry-After` would
//! (sooner, so the test sees the recovery quickly). Every answer is checked
//! against what the contract allows; the rest is recorded in [`Tally`].

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode, header};
use serde_json::{Value, json};
use tokio::time::Instant;

/// How long a fan waits before retrying after a `503`.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Counts shared by the fans and the test.
pub struct Tally {
    kill_time: Arc<OnceLock<Instant>>,
    /// Successful holds since the start.
    pub holds: AtomicU32,
    /// Successes of requests sent after the primary was killed.
    pub joins_after_kill: AtomicU32,
    pub admitted_after_kill: AtomicU32,
    pub holds_after_kill: AtomicU32,
    /// `503 UNAVAILABLE` answers (each with `Retry-After`).
    pub unavailable: AtomicU32,
    /// Answers the contract does not allow here (a 500, a 503 without
    /// `Retry-After`, no answer at all, an unexpected code).
    pub unexpected: Mutex<Vec<String>>,
}

/// An answer worth acting on, or "try again" (a 503 or a rate limit).
enum Answer {
    Got(StatusCode, Value),
    Retry,
}

impl Tally {
    pub fn new(kill_time: Arc<OnceLock<Instant>>) -> Self {
        Self {
            kill_time,
            holds: AtomicU32::new(0),
            joins_after_kill: AtomicU32::new(0),
            admitted_after_kill: AtomicU32::new(0),
            holds_after_kill: AtomicU32::new(0),
            unavailable: AtomicU32::new(0),
            unexpected: Mutex::new(Vec::new()),
        }
    }

    /// Joins, polls that saw an admission, and holds, each sent after the kill.
    pub fn after_kill(&self) -> (u32, u32, u32) {
        (
            self.joins_after_kill.load(Ordering::SeqCst),
            self.admitted_after_kill.load(Ordering::SeqCst),
            self.holds_after_kill.load(Ordering::SeqCst),
        )
    }

    /// Whether joins, polls and holds sent after the kill have all succeeded.
    pub fn recovered(&self) -> bool {
        let (joins, admitted, holds) = self.after_kill();
        joins >= 3 && admitted >= 3 && holds >= 3
    }

    /// Count a success of a request sent at `started` if that was after the kill.
    fn succeeded(&self, counter: &AtomicU32, started: Instant) {
        if self.kill_time.get().is_some_and(|killed| started > *killed) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn unexpected(&self, what: String) {
        self.unexpected.lock().unwrap().push(what);
    }

    async fn send(&self, request: RequestBuilder, what: &str) -> Answer {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                self.unexpected(format!("{what}: no answer: {e}"));
                tokio::time::sleep(RETRY_PAUSE).await;
                return Answer::Retry;
            }
        };
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                if retry_after.is_none() || body["code"] != "UNAVAILABLE" {
                    self.unexpected(format!("{what}: 503 without Retry-After: {body}"));
                }
                self.unavailable.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(RETRY_PAUSE).await;
                Answer::Retry
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let secs = retry_after
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Answer::Retry
            }
            s if s.is_server_error() => {
                self.unexpected(format!("{what}: {s} {body}"));
                tokio::time::sleep(RETRY_PAUSE).await;
                Answer::Retry
            }
            s => Answer::Got(s, body),
        }
    }
}

/// One fan and where they shop.
pub struct Fan {
    pub user: i64,
    pub session: String,
    pub gateway: String,
    pub booking: String,
    pub concert: i64,
    pub schedule: i64,
}

impl Fan {
    /// Shop until `stop`.
    pub async fn run(&self, http: &reqwest::Client, tally: &Tally, stop: &AtomicBool) {
        let mut rng = (self.user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            // xorshift64: a fan's choices differ from the others' and vary.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (gw, bk, concert) = (&self.gateway, &self.booking, self.concert);
        let mut paid = 0;
        'cycle: while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let join = http
                .post(format!("{gw}/v1/concerts/{concert}/queue"))
                .bearer_auth(&self.session);
            let ticket = match tally.send(join, "join").await {
                Answer::Got(StatusCode::CREATED | StatusCode::OK, body) => {
                    tally.succeeded(&tally.joins_after_kill, started);
                    body["ticket"].as_str().unwrap_or_default().to_owned()
                }
                Answer::Got(s, body) => {
                    tally.unexpected(format!("join: {s} {body}"));
                    continue;
                }
                Answer::Retry => continue,
            };

            let access = loop {
                if stop.load(Ordering::SeqCst) {
                    break 'cycle;
                }
                let started = Instant::now();
                let poll = http
                    .get(format!("{gw}/v1/concerts/{concert}/queue/status"))
                    .bearer_auth(&ticket);
                match tally.send(poll, "poll").await {
                    Answer::Got(StatusCode::OK, body) if body["status"] == "active" => {
                        tally.succeeded(&tally.admitted_after_kill, started);
                        break body["access_token"].as_str().unwrap_or_default().to_owned();
                    }
                    Answer::Got(StatusCode::OK, body) if body["status"] == "waiting" => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    // A place written after the replica's last copy is gone:
                    // join again (healing it is not this test's subject).
                    Answer::Got(StatusCode::NOT_FOUND, body)
                        if body["code"] == "TICKET_NOT_FOUND" =>
                    {
                        continue 'cycle;
                    }
                    Answer::Got(s, body) => {
                        tally.unexpected(format!("poll: {s} {body}"));
                        continue 'cycle;
                    }
                    Answer::Retry => {}
                }
            };

            let mut reservation = None;
            for _ in 0..20 {
                if stop.load(Ordering::SeqCst) {
                    break 'cycle;
                }
                let seat = 1 + next() % 50;
                let started = Instant::now();
                let hold = http
                    .post(format!("{bk}/v1/reservations"))
                    .bearer_auth(&access)
                    .json(&json!({"schedule_id": self.schedule, "seat_number": seat}));
                match tally.send(hold, "hold").await {
                    Answer::Got(StatusCode::CREATED, body) => {
                        tally.holds.fetch_add(1, Ordering::SeqCst);
                        tally.succeeded(&tally.holds_after_kill, started);
                        reservation = body["reservation_id"].as_str().map(str::to_owned);
                        break;
                    }
                    Answer::Got(StatusCode::CONFLICT, body)
                        if body["code"] == "SEAT_UNAVAILABLE" => {}
                    // A session lost with Redis data: join again.
                    Answer::Got(StatusCode::FORBIDDEN, body) if body["code"] == "NOT_ADMITTED" => {
                        continue 'cycle;
                    }
                    Answer::Got(s, body) => {
                        tally.unexpected(format!("hold seat {seat}: {s} {body}"));
                        continue 'cycle;
                    }
                    Answer::Retry => {}
                }
            }
            let Some(reservation) = reservation else {
                continue;
            };

            if paid < 2 && next() % 3 == 0 {
                // One key for every attempt: a retried payment debits once.
                let key = uuid::Uuid::new_v4().to_string();
                loop {
                    let pay = http
                        .post(format!("{bk}/v1/payments"))
                        .bearer_auth(&access)
                        .header("Idempotency-Key", &key)
                        .json(&json!({"reservation_id": reservation}));
                    match tally.send(pay, "pay").await {
                        // Paying ends the session; the fan queues again.
                        Answer::Got(StatusCode::CREATED, _) => {
                            paid += 1;
                            continue 'cycle;
                        }
                        Answer::Got(s, body) => {
                            tally.unexpected(format!("pay: {s} {body}"));
                            break;
                        }
                        Answer::Retry if stop.load(Ordering::SeqCst) => break,
                        Answer::Retry => {}
                    }
                }
            }

            loop {
                let release = http
                    .delete(format!("{bk}/v1/reservations/{reservation}"))
                    .bearer_auth(&self.session);
                match tally.send(release, "release").await {
                    Answer::Got(StatusCode::NO_CONTENT, _) => break,
                    Answer::Got(s, body) => {
                        tally.unexpected(format!("release: {s} {body}"));
                        break;
                    }
                    Answer::Retry if stop.load(Ordering::SeqCst) => break 'cycle,
                    Answer::Retry => {}
                }
            }
            loop {
                let leave = http
                    .delete(format!("{gw}/v1/concerts/{concert}/queue/me"))
                    .bearer_auth(&access);
                match tally.send(leave, "leave").await {
                    // (404: an earlier attempt that answered 503 had left.)
                    Answer::Got(StatusCode::NO_CONTENT | StatusCode::NOT_FOUND, _) => break,
                    Answer::Got(s, body) => {
                        tally.unexpected(format!("leave: {s} {body}"));
                        break;
                    }
                    Answer::Retry if stop.load(Ordering::SeqCst) => break 'cycle,
                    Answer::Retry => {}
                }
            }
        }
    }
}
