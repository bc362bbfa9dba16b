//! `bench-upstream http`: Streamable HTTP on hyper, JSON responses only. POST to `/mcp` answers
//! with `application/json` (202 with no body for notifications and responses); `initialize`
//! issues an `mcp-session-id`, which later requests may carry but which is not checked; GET is
//! 405 (no server stream), DELETE is 200. Keep-alive, `TCP_NODELAY`, no other middleware.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{Reply, Responder};

/// A response body of up to two chunks, sent without copying them together.
#[derive(Debug, Default)]
pub struct Chunks {
    parts: [Option<Bytes>; 2],
}

impl Chunks {
    fn two(head: Bytes, tail: Bytes) -> Self {
        Chunks {
            parts: [Some(head), Some(tail)],
        }
    }

    fn text(text: &'static str) -> Self {
        Chunks {
            parts: [Some(Bytes::from_static(text.as_bytes())), None],
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(
            this.parts
                .iter_mut()
                .find_map(Option::take)
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.parts.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> SizeHint {
        let n = self.parts.iter().flatten().map(Bytes::len).sum::<usize>();
        SizeHint::with_exact(n as u64)
    }
}

struct App {
    responder: Responder,
    sessions: AtomicU64,
}

/// Binds `addr`, prints `listening on http://ADDR/mcp` on stdout, and serves until killed.
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let app = Arc::new(App {
        responder: Responder::new(),
        sessions: AtomicU64::new(0),
    });
    println!("listening on http://{}/mcp", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench-upstream: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(handle(&app, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    if req.uri().path() != "/mcp" {
        return status(StatusCode::NOT_FOUND, "Not Found");
    }
    match *req.method() {
        Method::POST => {}
        Method::DELETE => return status(StatusCode::OK, ""),
        _ => return status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status(StatusCode::BAD_REQUEST, "Bad Request"),
    };
    match app.responder.handle(&body) {
        Reply::Accepted => status(StatusCode::ACCEPTED, ""),
        Reply::Message {
            head,
            tail,
            initialize,
        } => {
            let mut resp = Response::new(Chunks::two(head, tail));
            let headers = resp.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if initialize {
                let n = app.sessions.fetch_add(1, Ordering::Relaxed);
                if let Ok(v) = HeaderValue::from_str(&format!("bench-{n}")) {
                    headers.insert("mcp-session-id", v);
                }
            }
            resp
        }
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<Chunks> {
    let body = if text.is_empty() {
        Chunks::default()
    } else {
        Chunks::text(text)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = code;
    resp
}
