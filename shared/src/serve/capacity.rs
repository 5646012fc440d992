//! Load shedding (API.md, Limits): `MAX_CONCURRENT_REQUESTS` requests run at
//! once; up to `MAX_QUEUED_REQUESTS` more wait for a slot (their wait is
//! bounded by the request timeout); past that a request is answered `503
//! UNAVAILABLE` with `Retry-After` at once, counted in
//! `http_requests_shed_total`, and `/readyz` answers 503 for the next second.
//! Probes and metrics take no slot: they must answer under any load.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::Serving;
use crate::limits::address::is_probe;
use crate::problem::{ErrorCode, Problem};

/// How long after a shed `/readyz` keeps answering 503.
const SHEDDING_FOR_MS: u64 = 1000;

/// The slots and the bounded queue of one process.
pub struct Capacity {
    slots: Semaphore,
    queued: AtomicUsize,
    max_queued: usize,
    started: Instant,
    /// Milliseconds since `started` of the last shed, plus one (0: never).
    last_shed: AtomicU64,
}

impl Capacity {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Self {
            slots: Semaphore::new(max_concurrent.max(1)),
            queued: AtomicUsize::new(0),
            max_queued,
            started: Instant::now(),
            last_shed: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a request was shed within the last second.
    pub fn is_shedding(&self) -> bool {
        let last = self.last_shed.load(Ordering::Relaxed);
        last != 0 && self.now_ms() + 1 < last + SHEDDING_FOR_MS
    }

    fn shed(&self) -> Response {
        self.last_shed.store(self.now_ms() + 1, Ordering::Relaxed);
        metrics::counter!("http_requests_shed_total").increment(1);
        Problem::new(
            ErrorCode::Unavailable,
            "the service is at capacity; retry after the given seconds",
        )
        .with_retry_after(1)
        .into_response()
    }
}

/// A place in the queue, given back however the wait ends.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Part of [`crate::http::with_standard_layers`]: take a slot, wait in the
/// bounded queue for one, or shed with `503 UNAVAILABLE` and `Retry-After:
/// 1` (`http_requests_shed_total`). Probes take no slot. The slot and the
/// place in the queue are given back however `next` ends (answer, timeout,
/// panic or a dropped request).
pub(crate) async fn layer(
    serving: &Serving,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    if is_probe(request.uri().path()) {
        return next(request).await;
    }
    let capacity = &serving.capacity;
    let _slot = match capacity.slots.try_acquire() {
        Ok(slot) => slot,
        Err(_) => {
            if capacity.queued.fetch_add(1, Ordering::AcqRel) >= capacity.max_queued {
                capacity.queued.fetch_sub(1, Ordering::AcqRel);
                return capacity.shed();
            }
            let _queued = Queued(&capacity.queued);
            match capacity.slots.acquire().await {
                Ok(slot) => slot,
                Err(_) => return capacity.shed(),
            }
        }
    };
    next(request).await
}
