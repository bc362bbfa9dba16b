//! The gateway's own accept loop, for both planes, where `axum::serve` would do: it admits a
//! connection only within the plane's caps ([`caps`]: in all, and per peer address on the data
//! plane), times the client's sending of headers and body, its idle waits and its taking of
//! answers ([`timeouts`]), and drains — stops accepting, lets each connection finish the request
//! it carries, and closes what is left when the grace is over ([`crate::drain`]). The admin plane has caps of its own,
//! so a data plane full of clients never locks operators out; and the data plane's cap is kept
//! under what the process's file limit allows ([`fd_limit`]).
//!
//! A refused connection gets a 503 whose JSON-RPC error names the cap, then is closed.

pub mod caps;
pub mod fd_limit;
pub mod timeouts;

use crate::drain::Drain;
use crate::rejection::Rejection;
use crate::settings::Limits;
use crate::telemetry::metrics::{ConnectionMetrics, PlaneLabels, RefusalLabels};
use axum::Router;
use axum::extract::ConnectInfo;
use caps::{Admitted, Caps};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use timeouts::{Clock, Finishing, TimedBody, Timeouts, Watched};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Refused connections being answered at once at most; past that, a refused connection is closed
/// without an answer (a flood must not cost more than it is refused for).
const REFUSING_AT_ONCE: usize = 64;
/// How long answering a refused connection may take.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// The pause after a failed accept (out of descriptors, say), so that the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Refusals and accept errors are logged at most this often (with their count).
const LOG_EVERY: Duration = Duration::from_secs(5);

/// One plane's caps and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct PlaneLimits {
    /// `data` or `admin`, for the log.
    pub plane: &'static str,
    pub max_connections: usize,
    /// Connections from one peer address at most (`None`: only the plane's cap).
    pub per_address: Option<usize>,
    pub timeouts: Timeouts,
}

impl PlaneLimits {
    /// The data plane's and the admin plane's limits under `limits`, the data plane's cap lowered
    /// to what `soft_nofile` descriptors allow ([`fd_limit::budget`]); lowered, one address may
    /// hold half of it at most, so that others are still served.
    pub fn planes(limits: &Limits, soft_nofile: Option<u64>) -> (PlaneLimits, PlaneLimits) {
        let timeouts = Timeouts {
            header: limits.header_read_timeout,
            body: limits.body_read_timeout,
            idle: limits.idle_timeout,
            write: limits.write_timeout,
        };
        let budget = soft_nofile.map(|n| fd_limit::budget(n, limits.admin_max_connections));
        let (max, per_address) = match budget {
            Some(b) if b < limits.max_connections => {
                tracing::warn!(
                    configured = limits.max_connections,
                    allowed = b,
                    open_files = soft_nofile,
                    "the open-file limit lowers [limits] max_connections; raise the hard limit (ulimit -Hn, LimitNOFILE=) to allow more"
                );
                (b, limits.max_connections_per_address.min((b / 2).max(1)))
            }
            _ => (
                limits.max_connections,
                limits
                    .max_connections_per_address
                    .min(limits.max_connections),
            ),
        };
        let data = PlaneLimits {
            plane: "data",
            max_connections: max,
            per_address: Some(per_address),
            timeouts,
        };
        let admin = PlaneLimits {
            plane: "admin",
            max_connections: limits.admin_max_connections,
            per_address: None,
            timeouts,
        };
        (data, admin)
    }
}

/// Serves `router` on `listener` within `limits` until `drain` starts draining; then stops
/// accepting, and returns once every connection has finished or the grace is cut.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: PlaneLimits,
    drain: Drain,
    metrics: ConnectionMetrics,
) {
    let caps = Caps::new(limits.max_connections, limits.per_address);
    let plane = PlaneLabels {
        plane: limits.plane,
    };
    let open = metrics.open.get_or_create(&plane).clone();
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let refusals = Arc::new(Throttled::default());
    let accept_errors = Throttled::default();
    let mut connections = JoinSet::new();
    {
        let draining = drain.draining();
        tokio::pin!(draining);
        loop {
            tokio::select! {
                () = &mut draining => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match caps.admit(peer.ip()) {
                        Ok(admitted) => {
                            let connection =
                                connection(stream, peer, router.clone(), limits.timeouts, admitted, drain.clone());
                            let open = open.clone();
                            open.inc();
                            connections.spawn(async move {
                                connection.await;
                                open.dec();
                            });
                        }
                        Err(rejection) => {
                            let limit = rejection.limit().unwrap_or("max_connections");
                            metrics.refused.get_or_create(&RefusalLabels { plane: limits.plane, limit }).inc();
                            refusals.note(|n| tracing::warn!(plane = limits.plane, refused = n, open = caps.open(), reason = %rejection.message(), "connections refused"));
                            refuse(stream, rejection, &refusing);
                        }
                    },
                    Err(e) => {
                        accept_errors.note(|n| tracing::error!(plane = limits.plane, errors = n, error = %e, "cannot accept connections"));
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
    }
    drop(listener);
    tracing::info!(
        plane = limits.plane,
        open = connections.len(),
        "stopped accepting connections; open ones finish their requests"
    );
    let cut = drain.cut_off();
    tokio::pin!(cut);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() {
                break;
            },
            () = &mut cut => {
                if !connections.is_empty() {
                    tracing::warn!(plane = limits.plane, closed = connections.len(), "closing connections still open");
                }
                connections.shutdown().await;
                break;
            }
        }
    }
}

/// One connection, served until the client closes it, a timeout passes, or the gateway drains.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    admitted: Admitted,
    drain: Drain,
) {
    let _ = stream.set_nodelay(true);
    let requests_drain = drain.clone();
    let clock = Clock::new();
    let io = TokioIo::new(Watched::new(stream, clock.clone(), timeouts));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let (router, drain) = (router.clone(), requests_drain.clone());
        let in_flight = clock.request_started();
        // A GET answered with a stream is a live view or a server's own stream: it has no end, so
        // it ends when the gateway drains. (A POST's stream is a call in flight: it may finish.)
        let get = request.method() == http::Method::GET;
        async move {
            let timed_out = Arc::new(AtomicBool::new(false));
            let mut request = request.map(|body| {
                axum::body::Body::new(TimedBody::new(body, timeouts.body, timed_out.clone()))
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
            let response = if timed_out.load(Ordering::Relaxed) {
                let mut refused = Rejection::BodyTimeout(timeouts.body).to_response(None);
                refused.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                refused
            } else if get && is_event_stream(&response) {
                crate::limits::streams::ending_on_drain(response, &drain)
            } else {
                response
            };
            Ok::<_, Infallible>(response.map(|body| Finishing::new(body, in_flight)))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        () = drain.draining() => {
            // Finish the request in flight, if any, then close; cut at the end of the grace.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    drop(admitted);
}

fn is_event_stream(response: &axum::response::Response) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// Answers a refused connection with a 503 (when not too many are being answered), then closes
/// it.
fn refuse(mut stream: TcpStream, rejection: Rejection, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let body = rejection.to_jsonrpc(None);
        let status = rejection.status();
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
            // Read what the client sent before closing, so that the close does not reset the
            // connection before the client has read the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            std::io::Result::Ok(())
        })
        .await;
    });
}

/// Counts events and calls back at most every [`LOG_EVERY`] with how many came since.
#[derive(Debug, Default)]
struct Throttled {
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttled {
    fn note(&self, log: impl FnOnce(u64)) {
        let mut state = self.state.lock();
        state.1 += 1;
        if state.0.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            log(state.1);
            *state = (Some(Instant::now()), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_file_limit_lowers_the_data_plane_cap_and_one_address_gets_half() {
        let limits = Limits::default();
        let (data, admin) = PlaneLimits::planes(&limits, Some(1 << 20));
        assert_eq!(data.max_connections, 4096);
        assert_eq!(data.per_address, Some(512));
        assert_eq!(admin.max_connections, 128);
        assert_eq!(admin.per_address, None);
        let (data, _) = PlaneLimits::planes(&limits, Some(1024));
        assert_eq!(data.max_connections, 320);
        assert_eq!(data.per_address, Some(160));
    }
}
