//! A server scripted in memory, for the pipeline's tests: each request gets what a function of
//! its bytes says (messages, a failure, or silence), and everything sent to it is kept so a test
//! can check what crossed the gateway, byte for byte — or that nothing did.

use super::ReplyStream;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream;
use parking_lot::Mutex;
use std::sync::Arc;
use toolgate_mcp::upstream::UpstreamError;

/// What the script does with one request.
pub enum Scripted {
    /// These messages, the answer last.
    Messages(Vec<Bytes>),
    /// The link fails with this reason.
    Fail(String),
    /// Nothing ever comes back.
    Silent,
}

type Script = dyn Fn(&[u8]) -> Scripted + Send + Sync;

#[derive(Clone)]
pub struct ScriptedLink {
    script: Arc<Script>,
    sent: Arc<Mutex<Vec<Bytes>>>,
}

impl std::fmt::Debug for ScriptedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedLink")
            .field("sent", &self.sent.lock().len())
            .finish()
    }
}

impl ScriptedLink {
    pub fn new(script: impl Fn(&[u8]) -> Scripted + Send + Sync + 'static) -> Self {
        ScriptedLink {
            script: Arc::new(script),
            sent: Arc::default(),
        }
    }

    /// Every message sent to the server so far.
    pub fn sent(&self) -> Vec<Bytes> {
        self.sent.lock().clone()
    }

    pub fn request(&self, message: Bytes) -> Result<ReplyStream, UpstreamError> {
        let reply = (self.script)(&message);
        self.sent.lock().push(message);
        match reply {
            Scripted::Messages(messages) => Ok(ReplyStream {
                streaming: messages.len() > 1,
                messages: stream::iter(messages.into_iter().map(Ok)).boxed(),
            }),
            Scripted::Fail(why) => Err(UpstreamError::Closed(why)),
            Scripted::Silent => Ok(ReplyStream {
                messages: stream::pending().boxed(),
                streaming: false,
            }),
        }
    }

    pub fn send(&self, message: Bytes) {
        self.sent.lock().push(message);
    }
}
