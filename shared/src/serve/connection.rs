//! The accept loop and each connection's life: the connection bound, the
//! header and idle deadlines, and the bounded drain at shutdown.
//!
//! hyper closes a keep-alive connection whose next request head does not
//! arrive within its `header_read_timeout`, counted from the moment the
//! connection fell idle; it is set to the keep-alive timeout. The shorter
//! header deadline, counted from a head's first byte, is kept by a watchdog
//! beside each connection ([`Watch`]): the socket reports bytes read while
//! no request runs, the service reports requests starting and ending.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::Serving;

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Accept until `stop`, then drain (see the module documentation of `serve`).
pub(super) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    serving: Arc<Serving>,
    stop: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let settings = &serving.settings;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(settings.keep_alive_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment
                    // instead of spinning, then go on accepting.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics::counter!("http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watch = Arc::new(Watch::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            watch: Arc::clone(&watch),
        });
        let service = {
            let (app, watch) = (app.clone(), Arc::clone(&watch));
            tower::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let busy = Busy::start(Arc::clone(&watch));
                let answer = app.clone().oneshot(request.map(axum::body::Body::new));
                async move {
                    let response = answer.await;
                    drop(busy);
                    response
                }
            })
        };
        let connection = builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let (header_timeout, idle_timeout) =
            (settings.header_read_timeout, settings.keep_alive_timeout);
        tokio::spawn(async move {
            let _slot = slot;
            metrics::gauge!("http_connections_open").increment(1.0);
            watch.guard(connection, header_timeout, idle_timeout).await;
            metrics::gauge!("http_connections_open").decrement(1.0);
        });
    }
    drop(listener);
    let drain = settings.drain_timeout;
    tracing::info!(seconds = drain.as_secs(), "draining connections");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; dropping them");
    }
    Ok(())
}

/// What one connection is doing, for its watchdog. Times are milliseconds
/// since the process's epoch; `head_since` is 0 while no head is awaited
/// with bytes pending.
struct Watch {
    in_flight: AtomicUsize,
    head_since: AtomicU64,
    idle_since: AtomicU64,
}

impl Watch {
    fn new() -> Self {
        let now = now_ms().max(1);
        // The first request's head is due within the header timeout of the
        // connection's opening, whether or not a byte came.
        Self {
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(now),
            idle_since: AtomicU64::new(now),
        }
    }

    /// Bytes arrived: when no request runs, a head has begun.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_since.compare_exchange(
                0,
                now_ms().max(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// Run `connection` until it ends, closing it when a head is overdue or
    /// it has been idle too long.
    async fn guard<C: Future>(&self, connection: C, header: Duration, idle: Duration) {
        let check_every =
            (header.min(idle) / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let header_ms = u64::try_from(header.as_millis()).unwrap_or(u64::MAX);
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        tokio::pin!(connection);
        loop {
            tokio::select! {
                _ = &mut connection => return,
                () = tokio::time::sleep(check_every) => {}
            }
            if self.in_flight.load(Ordering::Acquire) > 0 {
                continue;
            }
            let now = now_ms();
            let head = self.head_since.load(Ordering::Acquire);
            if head != 0 && now.saturating_sub(head) > header_ms {
                metrics::counter!("http_timeouts_total", "kind" => "header").increment(1);
                return;
            }
            let idle_since = self.idle_since.load(Ordering::Acquire);
            if head == 0 && now.saturating_sub(idle_since) > idle_ms {
                metrics::counter!("http_timeouts_total", "kind" => "idle").increment(1);
                return;
            }
        }
    }
}

/// A request in flight on a connection; its end makes the connection idle.
struct Busy(Arc<Watch>);

impl Busy {
    fn start(watch: Arc<Watch>) -> Self {
        watch.in_flight.fetch_add(1, Ordering::AcqRel);
        watch.head_since.store(0, Ordering::Release);
        Self(watch)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, telling its [`Watch`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The peer address of a request served by [`super::serve`].
pub type Peer = ConnectInfo<SocketAddr>;
