//! The way into a stdio server: messages queue for its stdin, one task writes them a line each.
//! The queue is bounded in bytes, so a server that stops reading does not make the gateway hold
//! every message sent to it meanwhile: one that does not fit is refused at once with an error
//! naming the server; and a server that takes no byte of a message for the write timeout is cut
//! off — the task ends with [`WriterEnd::Stalled`], and its owner stops the child.

use super::UpstreamError;
use super::bounded::{BoundedReceiver, BoundedSender, TrySendError, bounded};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Bytes that may wait for a child's stdin: four of the largest request bodies the gateway takes
/// by default (4 MiB), and a hundred times what a busy server is usually sent at once.
pub const STDIN_QUEUE_BYTES: usize = 16 << 20;

/// Why the writer stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterEnd {
    /// Its stdin was closed on purpose, or the queue's senders are gone.
    Closed,
    /// Writing failed (the child closed its stdin or exited).
    Broken,
    /// The child took no byte for this long while a message waited.
    Stalled { waited: Duration, queued: usize },
}

impl WriterEnd {
    /// What an operator reads about a stalled child.
    pub fn report(&self) -> Option<String> {
        match self {
            WriterEnd::Stalled { waited, queued } => Some(format!(
                "it stopped reading its input: no byte taken for {waited:?} with {queued} bytes waiting ([limits] write_timeout)"
            )),
            _ => None,
        }
    }
}

/// The queue to one child's stdin. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StdinQueue {
    server: Arc<str>,
    tx: BoundedSender<Bytes>,
    close: Arc<Close>,
}

#[derive(Debug, Default)]
struct Close {
    closed: AtomicBool,
    notify: Notify,
}

impl StdinQueue {
    /// Starts the task writing to `stdin`, at most `budget` bytes queued, cut off after
    /// `stall` without progress.
    pub fn start<W>(
        server: Arc<str>,
        stdin: W,
        budget: usize,
        stall: Duration,
    ) -> (StdinQueue, JoinHandle<WriterEnd>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = bounded(budget);
        let close = Arc::new(Close::default());
        let task = tokio::spawn(write(server.clone(), stdin, rx, close.clone(), stall));
        (StdinQueue { server, tx, close }, task)
    }

    /// Queues one message (a JSON text without its newline).
    pub fn send(&self, message: Bytes) -> Result<(), UpstreamError> {
        if self.close.closed.load(Ordering::Acquire) {
            return Err(self.closed());
        }
        match self.tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(self.closed()),
            Err(TrySendError::Full { queued, .. }) => Err(UpstreamError::InputFull {
                server: self.server.to_string(),
                queued,
                limit: self.tx.budget(),
            }),
        }
    }

    /// Closes the child's stdin (after nothing: what is queued is dropped): a stdio server's
    /// signal to finish.
    pub fn close(&self) {
        self.close.closed.store(true, Ordering::Release);
        self.close.notify.notify_one();
    }

    /// Bytes waiting for the child.
    pub fn queued(&self) -> usize {
        self.tx.queued()
    }

    fn closed(&self) -> UpstreamError {
        UpstreamError::Closed(format!("stdin of {} is closed", self.server))
    }
}

async fn write<W: AsyncWrite + Unpin>(
    server: Arc<str>,
    mut stdin: W,
    mut queue: BoundedReceiver<Bytes>,
    close: Arc<Close>,
    stall: Duration,
) -> WriterEnd {
    loop {
        let message = tokio::select! {
            biased;
            () = close.notify.notified() => return WriterEnd::Closed,
            m = queue.recv() => match m {
                Some(m) => m,
                None => return WriterEnd::Closed,
            },
        };
        if close.closed.load(Ordering::Acquire) {
            return WriterEnd::Closed;
        }
        for part in [&message[..], b"\n"] {
            match write_all(&mut stdin, part, stall).await {
                Ok(()) => {}
                Err(Some(e)) => {
                    tracing::debug!(server = %server, error = %e, "writing to stdio upstream failed");
                    return WriterEnd::Broken;
                }
                Err(None) => {
                    // The message being written counts as waiting: the child holds it up.
                    let end = WriterEnd::Stalled {
                        waited: stall,
                        queued: message.len() + 1 + queue.queued(),
                    };
                    tracing::warn!(server = %server, reason = end.report().unwrap_or_default(), "stdio upstream cut off");
                    return end;
                }
            }
        }
        if let Err(e) = stdin.flush().await {
            tracing::debug!(server = %server, error = %e, "writing to stdio upstream failed");
            return WriterEnd::Broken;
        }
    }
}

/// Writes `buf` whole; `Err(None)` when no byte was taken for `stall`.
async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut buf: &[u8],
    stall: Duration,
) -> Result<(), Option<std::io::Error>> {
    while !buf.is_empty() {
        match tokio::time::timeout(stall, w.write(buf)).await {
            Ok(Ok(0)) => return Err(Some(std::io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => buf = &buf[n..],
            Ok(Err(e)) => return Err(Some(e)),
            Err(_) => return Err(None),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn messages_are_written_a_line_each_until_closed() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let (q, task) = StdinQueue::start("s".into(), ours, 1 << 20, Duration::from_secs(5));
        q.send(Bytes::from_static(b"{\"a\":1}")).unwrap();
        q.send(Bytes::from_static(b"{\"b\":2}")).unwrap();
        let mut got = vec![0u8; 16];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"{\"a\":1}\n{\"b\":2}\n");
        q.close();
        assert_eq!(task.await.unwrap(), WriterEnd::Closed);
        assert!(q.send(Bytes::from_static(b"{}")).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_fills_the_queue_then_is_cut_off() {
        // The child's pipe holds 64 bytes and nobody reads it.
        let (ours, _theirs) = tokio::io::duplex(64);
        let (q, task) = StdinQueue::start("deaf".into(), ours, 1000, Duration::from_secs(30));
        let msg = || Bytes::from(vec![b'x'; 300]);
        q.send(msg()).unwrap();
        // Let the writer take the first one and block on the full pipe.
        tokio::time::sleep(Duration::from_millis(10)).await;
        q.send(msg()).unwrap();
        q.send(msg()).unwrap();
        q.send(msg()).unwrap();
        let err = q.send(msg()).unwrap_err();
        assert!(
            matches!(
                err,
                UpstreamError::InputFull {
                    queued: 900,
                    limit: 1000,
                    ..
                }
            ),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("server deaf is not reading its input"),
            "{message}"
        );
        let end = task.await.unwrap();
        assert!(
            matches!(end, WriterEnd::Stalled { queued: 1201, .. }),
            "{end:?}"
        );
        assert!(end.report().unwrap().contains("[limits] write_timeout"));
    }

    #[tokio::test]
    async fn the_writer_ends_when_the_queue_is_dropped() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let (q, task) = StdinQueue::start("s".into(), ours, 1000, Duration::from_secs(30));
        drop(q);
        let end = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert_eq!(end.expect("ended").unwrap(), WriterEnd::Closed);
    }
}
