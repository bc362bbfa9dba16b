//! A queue of messages bounded in bytes, for every place where messages wait between a peer and
//! the gateway: a queue counted in messages holds a thousand small ones or a thousand huge ones
//! alike. A message always fits in an empty queue, so one as large as the whole budget still
//! passes; past that, [`BoundedSender::send`] waits for room (the sender slows down to the
//! receiver's pace) and [`BoundedSender::try_send`] fails (the caller cuts off whoever does not
//! keep up). The bytes of a message count until the receiver takes it.

use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc};

/// What a queued item weighs.
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// An error weighs nothing: it always fits, so a stream cut off for being full can still say why.
impl<E> Weigh for Result<Bytes, E> {
    fn weight(&self) -> usize {
        self.as_ref().map_or(0, Bytes::len)
    }
}

/// Why [`BoundedSender::try_send`] did not queue an item (which it gives back).
#[derive(Debug)]
pub enum TrySendError<T> {
    /// The queue holds `queued` bytes; the item does not fit in the budget.
    Full { item: T, queued: usize },
    /// The receiver is gone.
    Closed(T),
}

/// The sending half; cheap to clone.
#[derive(Debug)]
pub struct BoundedSender<T> {
    tx: mpsc::UnboundedSender<(T, Option<OwnedSemaphorePermit>)>,
    room: Arc<Semaphore>,
    budget: usize,
}

impl<T> Clone for BoundedSender<T> {
    fn clone(&self) -> Self {
        BoundedSender {
            tx: self.tx.clone(),
            room: self.room.clone(),
            budget: self.budget,
        }
    }
}

/// The receiving half.
#[derive(Debug)]
pub struct BoundedReceiver<T> {
    rx: mpsc::UnboundedReceiver<(T, Option<OwnedSemaphorePermit>)>,
    room: Arc<Semaphore>,
    budget: usize,
}

/// A queue holding at most `budget` bytes (at least one message, however large).
pub fn bounded<T: Weigh>(budget: usize) -> (BoundedSender<T>, BoundedReceiver<T>) {
    let budget = budget
        .clamp(1, u32::MAX as usize)
        .min(Semaphore::MAX_PERMITS);
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(budget));
    (
        BoundedSender {
            tx,
            room: room.clone(),
            budget,
        },
        BoundedReceiver { rx, room, budget },
    )
}

impl<T: Weigh> BoundedSender<T> {
    /// The permits `item` takes: its size, or the whole budget for one larger than that.
    fn permits(&self, item: &T) -> u32 {
        // `budget` fits in a u32 (see `bounded`).
        item.weight().min(self.budget) as u32
    }

    /// Queues `item`, waiting for room. Gives it back when the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        let n = self.permits(&item);
        let permit = if n == 0 {
            None
        } else {
            let acquired = tokio::select! {
                p = self.room.clone().acquire_many_owned(n) => p.ok(),
                () = self.tx.closed() => None,
            };
            match acquired {
                Some(permit) => Some(permit),
                None => return Err(item),
            }
        };
        self.tx.send((item, permit)).map_err(|e| e.0.0)
    }

    /// Queues `item` if it fits now.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let n = self.permits(&item);
        let permit = if n == 0 {
            None
        } else {
            match self.room.clone().try_acquire_many_owned(n) {
                Ok(p) => Some(p),
                Err(TryAcquireError::NoPermits) => {
                    let queued = self.queued();
                    return Err(TrySendError::Full { item, queued });
                }
                Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(item)),
            }
        };
        self.tx
            .send((item, permit))
            .map_err(|e| TrySendError::Closed(e.0.0))
    }

    /// Bytes waiting in the queue.
    pub fn queued(&self) -> usize {
        self.budget - self.room.available_permits()
    }

    /// The queue's budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> BoundedReceiver<T> {
    /// The next item; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await.map(|(item, _room)| item)
    }

    /// The next item if one waits (`Disconnected` once every sender is gone and none waits).
    pub fn try_recv(&mut self) -> Result<T, mpsc::error::TryRecvError> {
        self.rx.try_recv().map(|(item, _room)| item)
    }

    /// Bytes waiting in the queue.
    pub fn queued(&self) -> usize {
        self.budget - self.room.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn b(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[tokio::test]
    async fn a_full_queue_refuses_until_the_receiver_takes_and_errors_always_fit() {
        let (tx, mut rx) = bounded::<Result<Bytes, String>>(100);
        tx.try_send(Ok(b(60))).unwrap();
        assert_eq!(tx.queued(), 60);
        match tx.try_send(Ok(b(60))) {
            Err(TrySendError::Full { queued, .. }) => assert_eq!(queued, 60),
            other => panic!("{other:?}"),
        }
        tx.try_send(Err("cut off".into())).unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap().len(), 60);
        assert_eq!(tx.queued(), 0);
        assert_eq!(rx.recv().await.unwrap().unwrap_err(), "cut off");
    }

    #[tokio::test]
    async fn a_message_larger_than_the_budget_passes_alone() {
        let (tx, mut rx) = bounded::<Bytes>(10);
        tx.try_send(b(1000)).unwrap();
        assert!(matches!(tx.try_send(b(1)), Err(TrySendError::Full { .. })));
        assert_eq!(rx.recv().await.unwrap().len(), 1000);
        tx.try_send(b(1)).unwrap();
    }

    #[tokio::test]
    async fn send_waits_for_room_and_gives_up_when_the_receiver_goes() {
        let (tx, mut rx) = bounded::<Bytes>(10);
        tx.send(b(8)).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(b(8)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no room yet");
        rx.recv().await.unwrap();
        waiting.await.unwrap().unwrap();
        let blocked = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(b(8)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(rx);
        assert!(blocked.await.unwrap().is_err());
        assert!(tx.is_closed());
    }
}
