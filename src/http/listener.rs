//! The accept loop: connections within bounds, so that sockets which send nothing cannot
//! hold the server. axum's own `serve` has no header timeout, no idle timeout and no
//! connection cap; this loop serves the same router (HTTP/1.1, with upgrades for
//! WebSockets) with all three:
//!
//! - a request's headers must arrive within [`ConnectionLimits::header_timeout`] of the
//!   connection being ready for them, which also closes a kept-alive connection left idle
//!   that long between requests (hyper arms the timer whenever it waits for a head);
//! - at most [`ConnectionLimits::max_connections`] sockets are open at once, WebSockets
//!   included (the permit travels with the socket through an upgrade); past it, the
//!   loop stops accepting and new connections wait in the kernel's backlog, so the
//!   process never runs out of descriptors for its database and files;
//! - an accept error (out of descriptors, say) is logged and retried after a pause that
//!   doubles up to a second, instead of a spin.
//!
//! Request bodies have their own deadline and lingering drain (`body`), in the edge: it
//! answers, so it needs a request.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// How long a stop waits for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Bounds on the connections the server holds.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time for a request's headers to arrive, and the longest a kept-alive connection
    /// may sit idle between requests.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and
/// waits for the requests in flight, up to [`SHUTDOWN_GRACE`] (upgraded WebSockets are
/// not waited for).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Each connection task holds a receiver: when the sender sees none left, every
    // connection has finished.
    let (stop_tx, _) = watch::channel(());
    // HTTP/1.1 alone: hyper-util's auto-detecting builder waits for a first byte without
    // any timeout before hyper's header timer starts.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut pause = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        let (stream, permit, peer) = match accepted {
            Ok(accepted) => {
                pause = Duration::ZERO;
                accepted
            }
            // The peer gave up before we took the connection: nothing to wait for.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                pause = (pause * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                tracing::error!(error = %e, retry_ms = pause.as_millis() as u64, "accept error");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        // Answers go out in one write each; Nagle would hold their last segment back.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let io = TokioIo::new(Counted {
            stream,
            _permit: permit,
        });
        let (builder, mut stop) = (builder.clone(), stop_tx.subscribe());
        tokio::spawn(async move {
            let connection = builder
                .serve_connection(io, TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.as_mut().await;
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    // Requests in flight get a grace period; a stream (an export, a subscription over
    // HTTP) may run for as long as its client reads, so it does not hold the stop up.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, stop_tx.closed()).await;
    Ok(())
}

/// The next connection, once a permit is free.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> io::Result<(TcpStream, OwnedSemaphorePermit, SocketAddr)> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let (stream, peer) = listener.accept().await?;
    Ok((stream, permit, peer))
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The descriptor limit raised as far as the system allows, and the connection cap
/// that fits in it: half the descriptors, the rest for the database pool, uploads,
/// temporary files and logs.
pub fn fit_connections(wanted: usize) -> usize {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(descriptors) => {
            let fits = usize::try_from(descriptors / 2).unwrap_or(usize::MAX);
            if fits < wanted {
                tracing::warn!(
                    descriptors,
                    connections = fits,
                    "the descriptor limit holds fewer connections than configured: capped"
                );
            }
            wanted.min(fits)
        }
        Err(_) => wanted,
    }
}

/// A socket holding its connection permit: it is returned when the socket closes, after
/// an upgrade to a WebSocket as well.
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
