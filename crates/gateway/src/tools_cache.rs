//! `tools/list` answers served from memory. Listing a server's tools is what agents do most after
//! calling them, and a 219-tool answer is ~230 KB to fetch, check against the pins and filter by
//! the policy; the result is the same for every client that asks the same server the same way.
//! An entry is the filtered `result` for one (client capabilities and protocol version, cursor,
//! policy in force) of one server. It is used only while nothing that shapes it has changed:
//! the server sent no `notifications/tools/list_changed` and the pins did not move (the
//! catalogue's listing generation), the policy is the same one (reload swaps it), and it is
//! younger than [`MAX_AGE`] — the bound on staleness for servers that change their tools without
//! saying so, or whose notifications no client stream carries.

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolgate_policy::Policy;

/// How long an entry may be served without asking the server.
pub const MAX_AGE: Duration = Duration::from_secs(5);
/// Entries per server before the cache starts over (one per kind of client, page and policy).
const MAX_ENTRIES: usize = 256;

#[derive(Debug, Default)]
pub struct ToolsListCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

/// What a listing's answer depends on besides the server's own state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// A hash of the client's protocol version and capabilities (a server may list tools by
    /// what the client can do).
    pub client: u64,
    pub cursor: Option<Box<str>>,
    /// The address of the policy in force; the entry keeps that policy alive, so the address
    /// cannot be reused by another while the entry exists.
    policy: usize,
}

impl Key {
    pub fn new(client: u64, cursor: Option<&str>, policy: &Arc<Policy>) -> Key {
        Key {
            client,
            cursor: cursor.map(Into::into),
            policy: Arc::as_ptr(policy) as usize,
        }
    }
}

#[derive(Debug)]
struct Entry {
    _policy: Arc<Policy>,
    generation: u64,
    stored: Instant,
    /// The filtered `result` object, as sent.
    result: Bytes,
}

impl ToolsListCache {
    /// The cached answer for `key` with the JSON-RPC `id` spliced in, if it is still good.
    pub fn answer(&self, key: &Key, generation: u64, id: &RawValue) -> Option<CachedAnswer> {
        let entries = self.entries.lock();
        let entry = entries.get(key)?;
        let fresh = entry.generation == generation && entry.stored.elapsed() < MAX_AGE;
        fresh.then(|| CachedAnswer::new(id, entry.result.clone()))
    }

    /// Keeps the `result` of a filtered answer; `generation` is the one read before the request
    /// went upstream, so a change announced meanwhile keeps this answer out.
    pub fn store(&self, key: Key, policy: &Arc<Policy>, generation: u64, response: &[u8]) {
        let Some(result) = result_of(response) else {
            return; // an error, or unreadable: not worth keeping
        };
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                _policy: policy.clone(),
                generation,
                stored: Instant::now(),
                result: Bytes::copy_from_slice(result.get().as_bytes()),
            },
        );
    }
}

/// The `result` of a JSON-RPC success response, borrowed.
fn result_of(response: &[u8]) -> Option<&RawValue> {
    #[derive(serde::Deserialize)]
    struct Success<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Success<'_>>(response).ok()?.result
}

/// A cached answer in three parts: the envelope with this request's id, the shared `result`
/// (never copied: a 219-tool result is ~230 KB), and the closing brace.
#[derive(Debug)]
pub struct CachedAnswer {
    pub parts: [Bytes; 3],
}

impl CachedAnswer {
    fn new(id: &RawValue, result: Bytes) -> CachedAnswer {
        let mut head = BytesMut::with_capacity(id.get().len() + 40);
        head.put_slice(br#"{"jsonrpc":"2.0","id":"#);
        head.put_slice(id.get().as_bytes());
        head.put_slice(br#","result":"#);
        CachedAnswer {
            parts: [head.freeze(), result, Bytes::from_static(b"}")],
        }
    }

    /// The whole answer in one buffer (a copy).
    #[cfg(test)]
    pub fn to_bytes(&self) -> Bytes {
        self.parts.concat().into()
    }
}

/// The client part of a [`Key`]: its protocol version and its capabilities as it sent them.
pub fn client_key(protocol_version: Option<&str>, capabilities: Option<&RawValue>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    protocol_version.hash(&mut h);
    capabilities.map(RawValue::get).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Arc<Policy> {
        Arc::new(Policy::allow_all())
    }

    fn id(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    const ANSWER: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}"#;

    #[test]
    fn serves_the_result_under_the_new_id() {
        let cache = ToolsListCache::default();
        let p = policy();
        let key = Key::new(7, None, &p);
        assert!(cache.answer(&key, 1, &id("1")).is_none());
        cache.store(key.clone(), &p, 1, ANSWER);
        let served = cache.answer(&key, 1, &id(r#""req-9""#)).unwrap();
        assert_eq!(
            &served.to_bytes()[..],
            br#"{"jsonrpc":"2.0","id":"req-9","result":{"tools":[{"name":"a"}]}}"#
        );
    }

    #[test]
    fn a_new_generation_another_client_page_or_policy_misses() {
        let cache = ToolsListCache::default();
        let p = policy();
        cache.store(Key::new(7, None, &p), &p, 1, ANSWER);
        assert!(cache.answer(&Key::new(7, None, &p), 2, &id("1")).is_none());
        assert!(cache.answer(&Key::new(8, None, &p), 1, &id("1")).is_none());
        assert!(
            cache
                .answer(&Key::new(7, Some("p2"), &p), 1, &id("1"))
                .is_none()
        );
        assert!(
            cache
                .answer(&Key::new(7, None, &policy()), 1, &id("1"))
                .is_none()
        );
    }

    #[test]
    fn errors_are_not_kept() {
        let cache = ToolsListCache::default();
        let p = policy();
        let error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}"#;
        cache.store(Key::new(7, None, &p), &p, 1, error);
        assert!(cache.answer(&Key::new(7, None, &p), 1, &id("1")).is_none());
    }
}
