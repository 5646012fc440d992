//! Coalescing concurrent calls: each caller hands in one item, a driver task
//! takes whatever is queued (up to a maximum) and answers the whole batch
//! with one call to the backend.
//!
//! When nothing is in flight a call is a batch of one, run by the caller
//! itself. Once `max_in_flight` calls are under way, new items queue, and the
//! driver sends whatever queued as the next batch: the number of backend
//! calls grows much more slowly than the number of requests, which is what
//! lets one Redis or Postgres round trip serve dozens of requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

type Reply<O, E> = oneshot::Sender<Result<O, E>>;
type Answers<O, E> = Pin<Box<dyn Future<Output = Vec<Result<O, E>>> + Send>>;
type Run<I, O, E> = Arc<dyn Fn(Vec<I>) -> Answers<O, E> + Send + Sync>;

/// A call through a [`Batcher`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError<E> {
    /// The backend call for the batch failed.
    #[error("{0}")]
    Failed(E),
    /// The batcher stopped, or its backend call gave no answer for this item.
    #[error("the batch gave no answer for this call")]
    Stopped,
}

pub struct Batcher<I, O, E> {
    queue: mpsc::Sender<(I, Reply<O, E>)>,
    permits: Arc<Semaphore>,
    run: Run<I, O, E>,
    /// Whether a call may run as a batch of one on its own task when a slot
    /// is free (see [`Batcher::spawn_gathering`] for when it may not).
    inline: bool,
}

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// Start the driver task (must be called inside a Tokio runtime).
    ///
    /// `run` receives at most `max_batch` items and answers them in order,
    /// one result per item; at most `max_in_flight` batches run at once.
    pub fn spawn<F, Fut>(max_batch: usize, max_in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send + 'static,
    {
        Self::start(max_batch, max_in_flight, true, run)
    }

    /// Like [`Batcher::spawn`] with one batch at a time, for CPU-bound
    /// batches (signature checks) whose cost per item falls with the batch
    /// size. No call runs alone on its own task: every call is queued, and
    /// the driver yields once to the scheduler before it takes a batch, so
    /// calls that other tasks are about to make join it. When idle that costs
    /// one hand-off between tasks (microseconds); under load the batches
    /// grow with the number of requests in flight, not with a timer.
    pub fn spawn_gathering<F, Fut>(max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send + 'static,
    {
        Self::start(max_batch, 1, false, run)
    }

    fn start<F, Fut>(max_batch: usize, max_in_flight: usize, inline: bool, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        let run: Run<I, O, E> = Arc::new(move |items| Box::pin(run(items)));
        let (queue, mut rx) = mpsc::channel::<(I, Reply<O, E>)>(max_batch * 16);
        let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
        let (driver_run, driver_permits) = (Arc::clone(&run), Arc::clone(&permits));
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut batch, max_batch).await > 0 {
                let Ok(permit) = Arc::clone(&driver_permits).acquire_owned().await else {
                    return;
                };
                if !inline {
                    tokio::task::yield_now().await;
                }
                // What queued up while waiting for a slot joins this batch.
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (items, replies): (Vec<I>, Vec<Reply<O, E>>) = batch.drain(..).unzip();
                let answers = driver_run(items);
                tokio::spawn(async move {
                    for (answer, reply) in answers.await.into_iter().zip(replies) {
                        let _ = reply.send(answer);
                    }
                    drop(permit);
                });
            }
        });
        Self {
            queue,
            permits,
            run,
            inline,
        }
    }

    /// Answer `item`: right here as a batch of one when no batch is in
    /// flight (no hand-off between tasks), else queued for the next batch.
    pub async fn call(&self, item: I) -> Result<O, BatchError<E>> {
        if self.inline
            && let Ok(_permit) = self.permits.try_acquire()
        {
            let answer = (self.run)(vec![item]).await.into_iter().next();
            return answer
                .ok_or(BatchError::Stopped)?
                .map_err(BatchError::Failed);
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| BatchError::Stopped)?;
        answer
            .await
            .map_err(|_| BatchError::Stopped)?
            .map_err(BatchError::Failed)
    }
}

/// Answer every item of a batch with the same (failed) result.
pub fn all<O, E: Clone>(n: usize, error: &E) -> Vec<Result<O, E>> {
    (0..n).map(|_| Err(error.clone())).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_calls_share_backend_calls_and_each_gets_its_own_answer() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let batcher = Arc::new(Batcher::spawn(64, 1, move |items: Vec<u32>| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                items.into_iter().map(|i| Ok::<_, ()>(i * 2)).collect()
            }
        }));
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let b = Arc::clone(&batcher);
                tokio::spawn(async move { (i, b.call(i).await) })
            })
            .collect();
        for task in tasks {
            let (i, answer) = task.await.unwrap();
            assert_eq!(answer, Ok(i * 2));
        }
        let backend_calls = calls.load(Ordering::Relaxed);
        assert!(
            backend_calls < 200 / 4,
            "200 concurrent calls took {backend_calls} backend calls"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gathering_batcher_queues_every_call_and_runs_one_batch_at_a_time() {
        let (calls, running) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (counter, gauge) = (Arc::clone(&calls), Arc::clone(&running));
        let batcher = Arc::new(Batcher::spawn_gathering(64, move |items: Vec<u32>| {
            counter.fetch_add(1, Ordering::Relaxed);
            let gauge = Arc::clone(&gauge);
            async move {
                assert_eq!(
                    gauge.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two batches at once"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
                gauge.fetch_sub(1, Ordering::SeqCst);
                items.into_iter().map(|i| Ok::<_, ()>(i + 1)).collect()
            }
        }));
        assert_eq!(batcher.call(1).await, Ok(2), "a lone call is answered");
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let b = Arc::clone(&batcher);
                tokio::spawn(async move { (i, b.call(i).await) })
            })
            .collect();
        for task in tasks {
            let (i, answer) = task.await.unwrap();
            assert_eq!(answer, Ok(i + 1));
        }
        let backend_calls = calls.load(Ordering::Relaxed);
        assert!(
            backend_calls < 1 + 200 / 4,
            "200 concurrent calls took {backend_calls} batches"
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_calls_and_missing_answers_are_errors() {
        let batcher = Batcher::spawn(8, 2, |items: Vec<u32>| async move {
            if items.contains(&13) {
                all::<u32, _>(items.len(), &"unlucky")
            } else {
                Vec::new()
            }
        });
        assert_eq!(batcher.call(13).await, Err(BatchError::Failed("unlucky")));
        assert_eq!(batcher.call(1).await, Err(BatchError::Stopped));
    }
}
