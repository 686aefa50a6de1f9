//! Serving connections ourselves, so a handler can hang up on its client.
//!
//! `axum::serve` hides the connection; the drop fault needs it: the message is appended and
//! then the TCP connection must close with no answer at all, as when a proxy dies mid-request.
//! So each accepted connection is served by hyper directly, and every request on it carries a
//! [`Hangup`] that its handler can pull.
//!
//! Shutdown follows mini-redis: one signal (a `watch` channel) tells the accept loop to stop
//! and every connection to finish its request in flight, then close.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// How long shutdown waits for requests in flight before cutting connections.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pulled by a handler to close its connection without answering.
#[derive(Clone, Default)]
pub struct Hangup(Arc<Notify>);

impl Hangup {
    pub fn hang_up(&self) {
        // `notify_one` keeps a permit if the connection task is not waiting yet: never lost.
        self.0.notify_one();
    }

    async fn requested(&self) {
        self.0.notified().await;
    }
}

/// The running accept loop; stopping it drains connections gracefully.
pub struct Server {
    stop: watch::Sender<()>,
    accept_loop: JoinHandle<()>,
}

impl Server {
    pub fn spawn(listener: TcpListener, router: Router) -> Server {
        let (stop, stopped) = watch::channel(());
        let accept_loop = tokio::spawn(accept_connections(listener, router, stopped));
        Server { stop, accept_loop }
    }

    /// Stops accepting, lets requests in flight finish (up to a few seconds), then returns.
    pub async fn stop(self) {
        // Dropping the sender is the signal: every receiver's `changed()` resolves.
        drop(self.stop);
        if let Err(error) = self.accept_loop.await {
            tracing::warn!("sandbox accept loop ended abnormally: {error}");
        }
    }
}

async fn accept_connections(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, router.clone(), stopped.clone()));
                }
                Err(error) => {
                    // E.g. out of file descriptors: pause instead of spinning on the error.
                    tracing::warn!("sandbox cannot accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("sandbox: requests still running after {DRAIN_TIMEOUT:?}; closing them");
        connections.abort_all();
    }
}

async fn serve_connection(stream: TcpStream, router: Router, mut stopped: watch::Receiver<()>) {
    // Small answers must leave at once rather than wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let hangup = Hangup::default();
    let tower_service = TowerToHyperService::new(router);
    let hangup_for_requests = hangup.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(hangup_for_requests.clone());
        tower_service.call(request)
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!("sandbox connection ended: {error}");
                }
                return;
            }
            // Returning drops the connection, closing the socket with no answer sent.
            () = hangup.requested() => return,
            _ = stopped.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
