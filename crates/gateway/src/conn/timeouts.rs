//! How long a connection may keep the gateway waiting. A client that sends its headers a byte at
//! a time, or its body never, or opens a connection and says nothing, holds a descriptor and a
//! task for as long as the gateway waits; so:
//!
//! - **headers**: from the first byte of a request (for a new connection: from its accept) to the
//!   end of its headers, at most `header_read_timeout`;
//! - **body**: from the end of the headers to the end of the body, at most `body_read_timeout`
//!   (then the client gets a 408 naming the limit, and the connection closes);
//! - **idle**: a kept-alive connection with no request in flight and no byte arriving is closed
//!   after `idle_timeout`;
//! - **write**: a client that takes no byte of what the gateway writes to it for `write_timeout`
//!   is cut off (the connection closes): an answer it never reads is not held for it without end.
//!
//! A request in flight is never timed here otherwise: a tool call may take minutes, and a stream
//! has no end; those are bounded by the upstream timeout and the drain.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The connection's timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
    pub write: Duration,
}

/// What the connection's reader needs to know of its requests: whether one is in flight, how
/// many have started, and when the last one ended.
#[derive(Debug)]
pub struct Clock {
    accepted: Instant,
    in_flight: AtomicBool,
    started: AtomicU64,
    /// When the last response ended, in ms after `accepted`.
    idle_since_ms: AtomicU64,
}

impl Clock {
    pub fn new() -> Arc<Clock> {
        Arc::new(Clock {
            accepted: Instant::now(),
            in_flight: AtomicBool::new(false),
            started: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// A request's headers are in: it is in flight until the returned guard (held by its
    /// response's body) is dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.store(true, Ordering::Release);
        InFlight {
            clock: self.clone(),
        }
    }
}

/// A request in flight on its connection.
#[derive(Debug)]
pub struct InFlight {
    clock: Arc<Clock>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let since = self.clock.accepted.elapsed().as_millis() as u64;
        self.clock.idle_since_ms.store(since, Ordering::Relaxed);
        self.clock.in_flight.store(false, Ordering::Release);
    }
}

/// A connection's stream, closed (its reads fail) when a header or idle deadline passes, and
/// (its writes fail) when the client takes nothing for the write timeout.
pub struct Watched<IO> {
    io: IO,
    clock: Arc<Clock>,
    timeouts: Timeouts,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    /// When the first byte of the next request came, with the count of requests started then.
    head: Option<(u64, Instant)>,
    /// Since when a write waits for the client to take a byte.
    write_stall: Option<Pin<Box<Sleep>>>,
}

impl<IO> Watched<IO> {
    pub fn new(io: IO, clock: Arc<Clock>, timeouts: Timeouts) -> Self {
        let first = clock.accepted + timeouts.header;
        Watched {
            io,
            clock,
            timeouts,
            sleep: Box::pin(tokio::time::sleep_until(first)),
            armed: Some(first),
            head: None,
            write_stall: None,
        }
    }

    /// `polled`, unless the client has taken no byte for the write timeout: then an error.
    fn written<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.write_stall = None;
            return polled;
        }
        let limit = self.timeouts.write;
        let stall = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stall.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no byte for {limit:?} ([limits] write_timeout)"),
            )));
        }
        Poll::Pending
    }

    /// The deadline of the wait now, if the connection waits for a request.
    fn deadline(&mut self) -> Option<Instant> {
        if self.clock.in_flight.load(Ordering::Acquire) {
            return None;
        }
        let started = self.clock.started.load(Ordering::Relaxed);
        if started == 0 {
            return Some(self.clock.accepted + self.timeouts.header);
        }
        match self.head {
            Some((n, at)) if n == started => Some(at + self.timeouts.header),
            _ => {
                self.head = None;
                let since = self.clock.idle_since_ms.load(Ordering::Relaxed);
                Some(self.clock.accepted + Duration::from_millis(since) + self.timeouts.idle)
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = this.deadline() {
            if this.armed != Some(deadline) {
                this.sleep.as_mut().reset(deadline);
                this.armed = Some(deadline);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent no complete request in time",
                )));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let waiting = !this.clock.in_flight.load(Ordering::Acquire);
        if waiting && buf.filled().len() > before && this.head.is_none() {
            let started = this.clock.started.load(Ordering::Relaxed);
            this.head = Some((started, Instant::now()));
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.written(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.written(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

/// A request body that fails once its deadline passes before its end, and says so in `timed_out`.
pub struct TimedBody<B> {
    inner: B,
    limit: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
    done: bool,
}

impl<B> TimedBody<B> {
    /// `inner`, to be read within `limit` from now; `timed_out` is set if it is not.
    pub fn new(inner: B, limit: Duration, timed_out: Arc<AtomicBool>) -> Self {
        TimedBody {
            inner,
            limit,
            deadline: Instant::now() + limit,
            sleep: None,
            timed_out,
            done: false,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(sleep.as_mut().poll(cx));
                this.done = true;
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request in flight until it is dropped (sent, or the
/// connection closed).
pub struct Finishing<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Finishing<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        Finishing {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body + Unpin> Body for Finishing<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        body: Duration::from_secs(30),
        idle: Duration::from_secs(120),
        write: Duration::from_secs(30),
    };

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_completes_its_headers_is_closed_after_the_header_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let clock = Clock::new();
        let mut watched = Watched::new(server, clock, T);
        let mut client = client;
        let trickle = tokio::spawn(async move {
            for _ in 0..30 {
                if client.write_all(b"G").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let err = loop {
            match watched.read(&mut buf).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), 10);
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_request_the_idle_timeout_applies_and_then_the_header_timeout_again() {
        let (mut client, server) = tokio::io::duplex(64);
        let clock = Clock::new();
        let mut watched = Watched::new(server, clock.clone(), T);
        let mut buf = [0u8; 16];
        client.write_all(b"GET").await.unwrap();
        assert_eq!(watched.read(&mut buf).await.unwrap(), 3);
        // The request runs for 5 minutes: nothing is timed meanwhile.
        let in_flight = clock.request_started();
        tokio::time::sleep(Duration::from_secs(300)).await;
        drop(in_flight);
        // Idle for 100 s (under 120), then a request starts arriving: 10 s for its headers.
        let ended = Instant::now();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(100)).await;
            client.write_all(b"P").await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(client);
        });
        let err = loop {
            match watched.read(&mut buf).await {
                Ok(n) => assert!(n > 0, "the client did not close"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(ended.elapsed().as_secs(), 110);
        writer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut watched = Watched::new(server, Clock::new(), T);
        let _in_flight = watched.clock.request_started();
        let chunk = [b'x'; 512];
        // It reads for a while: every write goes through, however long it takes.
        for _ in 0..8 {
            watched.write_all(&chunk).await.unwrap();
            tokio::time::sleep(Duration::from_secs(20)).await;
            let mut sink = [0u8; 512];
            client.read_exact(&mut sink).await.unwrap();
        }
        // Then it stops: the pipe fills, and 30 s later the write fails.
        let started = Instant::now();
        let err = loop {
            if let Err(e) = watched.write_all(&chunk).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("[limits] write_timeout"), "{err}");
        assert_eq!(started.elapsed().as_secs(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_its_deadline_and_says_so() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, io::Error>>(1);
        let stream = http_body_util::StreamBody::new(tokio_stream_from(rx));
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut body = TimedBody::new(stream, Duration::from_secs(30), timed_out.clone());
        tx.send(Ok(Frame::data(Bytes::from_static(b"{"))))
            .await
            .unwrap();
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(first.unwrap().is_ok());
        let started = Instant::now();
        let second = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(second.unwrap().is_err());
        assert!(started.elapsed() >= Duration::from_secs(29));
        assert!(timed_out.load(Ordering::Relaxed));
        drop(tx);
    }

    fn tokio_stream_from<T: Send + 'static>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|v| (v, rx))
        }))
    }
}
