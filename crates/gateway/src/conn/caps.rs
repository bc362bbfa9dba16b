//! How many connections a plane holds, in all and per peer address. A connection costs a
//! descriptor, buffers and a task whatever it carries, so a client that opens thousands (slowly
//! sending headers, or never sending anything) must meet a cap before the machine's limits; and
//! one address must not take the whole cap, so that other clients are still served.

use crate::rejection::Rejection;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Open connections by peer address.
type ByAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The caps of one plane.
#[derive(Debug)]
pub struct Caps {
    total: Arc<Semaphore>,
    limit: usize,
    per_address: Option<usize>,
    by_address: ByAddress,
}

/// One admitted connection's place in the caps, given back when dropped.
#[derive(Debug)]
pub struct Admitted {
    _total: OwnedSemaphorePermit,
    address: Option<(IpAddr, ByAddress)>,
}

impl Caps {
    /// At most `limit` connections, and `per_address` from one address when set.
    pub fn new(limit: usize, per_address: Option<usize>) -> Caps {
        Caps {
            total: Arc::new(Semaphore::new(limit)),
            limit,
            per_address,
            by_address: Arc::default(),
        }
    }

    /// A place for a connection from `peer`, or the refusal that names the cap it meets.
    pub fn admit(&self, peer: IpAddr) -> Result<Admitted, Rejection> {
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Rejection::TooManyConnections { limit: self.limit })?;
        let address = match self.per_address {
            None => None,
            Some(limit) => {
                let mut by_address = self.by_address.lock();
                let n = by_address.entry(peer).or_default();
                if *n >= limit {
                    return Err(Rejection::TooManyConnectionsFromAddress { limit });
                }
                *n += 1;
                Some((peer, self.by_address.clone()))
            }
        };
        Ok(Admitted {
            _total: total,
            address,
        })
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.limit - self.total.available_permits()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((peer, by_address)) = &self.address {
            let mut by_address = by_address.lock();
            if let Some(n) = by_address.get_mut(peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    by_address.remove(peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_the_whole_cap() {
        let caps = Caps::new(3, Some(2));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert_eq!(
            caps.admit(a).unwrap_err(),
            Rejection::TooManyConnectionsFromAddress { limit: 2 }
        );
        let _b1 = caps.admit(b).unwrap();
        assert_eq!(
            caps.admit(b).unwrap_err(),
            Rejection::TooManyConnections { limit: 3 }
        );
        assert_eq!(caps.open(), 3);
        drop(a1);
        assert_eq!(caps.open(), 2);
        caps.admit(a).unwrap();
    }
}
