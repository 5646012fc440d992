//! Polls and joins reach Redis in batches.
//!
//! A poll or a join is one small Lua script call, and most of what Redis
//! spends on it is the call itself (argument conversion, script setup), not
//! the work. So concurrent polls (and joins) of a concert are coalesced:
//! whatever arrived while the previous calls were in flight goes out as one
//! `EVALSHA` whose script handles every ticket in order, atomically, exactly
//! as one call per request would. When idle a request is a batch of one and
//! goes out at once.
//!
//! Order: requests in flight at the same time have no order between them
//! (two batches may reach Redis in either order), as with separate calls; a
//! request sent after another one's answer arrived is always behind it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::join_all;
use redis::Value;
use shared::Problem;
use shared::batch::{self, BatchError, Batcher};
use shared::ids::{ConcertId, UserId};
use shared::infra::RedisConnection;
use shared::tokens::Claims;
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::keys::{self, QueueKeys, invocation};

/// Most requests answered by one script call.
const MAX_BATCH: usize = 256;
/// Script calls of one kind in flight at once.
const MAX_IN_FLIGHT: usize = 2;

type Answers = Vec<Result<Value, Problem>>;

pub struct QueueCalls {
    status: Batcher<(ConcertId, Claims), Value, Problem>,
    join: Batcher<(ConcertId, UserId, Uuid, Option<i64>), Value, Problem>,
}

struct Context {
    redis: RedisConnection,
    prefix: String,
    clock: Arc<dyn Clock>,
    idle_ms: i64,
}

impl QueueCalls {
    /// Must be called inside a Tokio runtime: it starts the batching tasks.
    pub fn new(
        redis: RedisConnection,
        prefix: String,
        clock: Arc<dyn Clock>,
        idle_ms: i64,
    ) -> Self {
        let cx = Arc::new(Context {
            redis,
            prefix,
            clock,
            idle_ms,
        });
        let status_cx = Arc::clone(&cx);
        Self {
            status: Batcher::spawn(MAX_BATCH, MAX_IN_FLIGHT, move |items| {
                statuses(Arc::clone(&status_cx), items)
            }),
            join: Batcher::spawn(MAX_BATCH, MAX_IN_FLIGHT, move |items| {
                joins(Arc::clone(&cx), items)
            }),
        }
    }

    /// The reply of `status.lua` for one ticket (and its holder marked as
    /// seen, or its place put back when Redis lost it).
    pub async fn status(&self, concert: ConcertId, ticket: Claims) -> Result<Value, ApiError> {
        self.status.call((concert, ticket)).await.map_err(failed)
    }

    /// The reply of `join.lua` for one user; `fresh` becomes the ticket id
    /// if the user holds no place yet, and `score` its number in the
    /// pre-queue (its draw order, [`crate::draw::draw_score`]) when the
    /// caller knows the queue's seed.
    pub async fn join(
        &self,
        concert: ConcertId,
        user: UserId,
        fresh: Uuid,
        score: Option<i64>,
    ) -> Result<Value, ApiError> {
        self.join
            .call((concert, user, fresh, score))
            .await
            .map_err(failed)
    }
}

fn failed(e: BatchError<Problem>) -> ApiError {
    match e {
        BatchError::Failed(problem) => ApiError::Problem(problem),
        BatchError::Stopped => ApiError::Protocol("the queue call task stopped".into()),
    }
}

async fn statuses(cx: Arc<Context>, items: Vec<(ConcertId, Claims)>) -> Answers {
    let now = cx.clock.now_ms();
    per_concert(
        &items,
        |&(c, _)| c,
        |concert, group| {
            let cx = Arc::clone(&cx);
            async move {
                let keys = QueueKeys::new(&cx.prefix, concert);
                let mut call = invocation(&keys::STATUS, &keys);
                call.arg(now).arg(cx.idle_ms);
                let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
                for (_, ticket) in group {
                    call.arg(ticket.ticket_id.to_string())
                        .arg(ticket.user_id.get())
                        .arg(number(ticket.queue_epoch))
                        .arg(number(ticket.seq));
                }
                call.invoke_async(&mut cx.redis.clone()).await
            }
        },
    )
    .await
}

async fn joins(cx: Arc<Context>, items: Vec<(ConcertId, UserId, Uuid, Option<i64>)>) -> Answers {
    let now = cx.clock.now_ms();
    per_concert(
        &items,
        |&(c, _, _, _)| c,
        |concert, group| {
            let cx = Arc::clone(&cx);
            async move {
                let keys = QueueKeys::new(&cx.prefix, concert);
                let mut call = invocation(&keys::JOIN, &keys);
                call.arg(now);
                for (_, user, fresh, score) in group {
                    call.arg(user.get())
                        .arg(fresh.to_string())
                        .arg(score.map(|n| n.to_string()).unwrap_or_default());
                }
                call.invoke_async(&mut cx.redis.clone()).await
            }
        },
    )
    .await
}

/// One script call per concert in the batch (all at once), each answering
/// its items in order; the replies are put back in the order of `items`.
async fn per_concert<T, F, Fut>(
    items: &[T],
    concert_of: impl Fn(&T) -> ConcertId,
    call: F,
) -> Answers
where
    T: Copy,
    F: Fn(ConcertId, Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<Value>, redis::RedisError>>,
{
    let mut groups: BTreeMap<ConcertId, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        groups.entry(concert_of(item)).or_default().push(i);
    }
    let calls = groups
        .iter()
        .map(|(&concert, indexes)| call(concert, indexes.iter().map(|&i| items[i]).collect()));
    let results = join_all(calls).await;
    let mut answers: Vec<Option<Result<Value, Problem>>> = items.iter().map(|_| None).collect();
    for ((_, indexes), result) in groups.iter().zip(results) {
        let replies: Answers = match result {
            Ok(replies) if replies.len() == indexes.len() => replies.into_iter().map(Ok).collect(),
            Ok(replies) => {
                tracing::error!(
                    expected = indexes.len(),
                    got = replies.len(),
                    "a queue script answered the wrong number of requests"
                );
                batch::all(indexes.len(), &Problem::internal())
            }
            Err(e) => batch::all(indexes.len(), &shared::infra::redis_problem(&e)),
        };
        for (&i, reply) in indexes.iter().zip(replies) {
            answers[i] = Some(reply);
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(Problem::internal())))
        .collect()
}
