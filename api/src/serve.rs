//! Serving HTTP on threads of their own, one current-thread runtime each.
//!
//! `mindset serve` answers every connection on one of `--http-threads` serving threads (by
//! default one per core). An acceptor on the caller's runtime accepts connections and hands them
//! out in turn; each thread then serves its connections to the end with its own current-thread
//! tokio runtime. Nothing moves between threads while a request is handled, so no work is stolen
//! and no task hops cores. On 2 cores this served 14–27 % more webhook requests per second than
//! the same router on one multi-thread runtime, in each of nine alternating pairs
//! (docs/BENCHMARKS.md, "Serving threads"). The hand-out is plain round-robin of connections, the
//! same on every platform (no `SO_REUSEPORT`, which balances only on Linux). A thread's requests
//! wait for it even when another thread is idle, so the connections should outnumber the
//! threads, as platform webhooks' do.
//!
//! Anything a handler spawns runs on the serving thread that answered it.

use std::{
    future::{Future, IntoFuture},
    io,
    net::SocketAddr,
};

use axum::Router;
use tokio::sync::{mpsc, oneshot, watch};

/// A connection as the acceptor hands it to a serving thread.
type Handoff = (std::net::TcpStream, SocketAddr);

/// The connections handed to one serving thread, as axum's listener.
struct Handed {
    rx: mpsc::UnboundedReceiver<Handoff>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handed {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((tcp, peer)) = self.rx.recv().await else {
                // The acceptor has stopped: only the shutdown signal ends this thread's serving.
                return std::future::pending().await;
            };
            match tokio::net::TcpStream::from_std(tcp) {
                Ok(io) => return (io, peer),
                Err(e) => {
                    tracing::warn!(error = %e, %peer, "a connection could not be registered with its serving thread; closed")
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The serving threads `mindset serve` starts unless told otherwise: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Serve `app` on `listener` with `threads` serving threads (at least one), named
/// `<name>-<n>`, until `shutdown` completes. Then no connection is accepted any more, requests
/// in flight are answered, idle connections are closed, and this returns once every serving
/// thread has finished. Accepted connections get `TCP_NODELAY`. A serving thread that fails
/// (its runtime panicked) ends serving with an error.
pub async fn serve_on_threads(
    listener: tokio::net::TcpListener,
    app: Router,
    threads: usize,
    name: &str,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut lanes = Vec::new();
    let mut finished = Vec::new();
    for n in 0..threads.max(1) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done, done_rx) = oneshot::channel::<io::Result<()>>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let app = app.clone();
        let mut stopped = stopped.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{n}"))
            .spawn(move || {
                let serving =
                    axum::serve(Handed { rx, local }, app).with_graceful_shutdown(async move {
                        // A dropped sender (the caller gave up on serving) stops it too.
                        let _ = stopped.wait_for(|s| *s).await;
                    });
                let _ = done.send(rt.block_on(serving.into_future()));
            })?;
        lanes.push(tx);
        finished.push(done_rx);
    }

    let mut listener = listener;
    let mut failed = None;
    let mut next = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // axum's own accept: it retries after connection errors and waits out others
            // (too many open files) instead of failing.
            (tcp, peer) = axum::serve::Listener::accept(&mut listener) => {
                let _ = tcp.set_nodelay(true);
                let tcp = match tcp.into_std() {
                    Ok(tcp) => tcp,
                    Err(e) => {
                        tracing::warn!(error = %e, %peer, "an accepted connection could not be handed to a serving thread; closed");
                        continue;
                    }
                };
                if lanes[next].send((tcp, peer)).is_err() {
                    failed = Some(io::Error::other(format!("serving thread {name}-{next} stopped")));
                    break;
                }
                next = (next + 1) % lanes.len();
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    for (n, done) in finished.into_iter().enumerate() {
        let result = done.await.unwrap_or_else(|_| {
            Err(io::Error::other(format!(
                "serving thread {name}-{n} panicked"
            )))
        });
        if let Err(e) = result {
            failed.get_or_insert(e);
        }
    }
    failed.map_or(Ok(()), Err)
}
