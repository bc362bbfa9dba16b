//! The record of a request still under way. It is opened as soon as the caller is known and is
//! emitted exactly once: when the request ends, or — dropped before that because the client went
//! away, a handler panicked or the gateway stopped — as abandoned. Every request is audited by
//! construction, not by each path remembering to.

use super::Pipeline;
use crate::telemetry::{CallRecord, Outcome};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// What a dropped record says happened.
const GONE: &str = "the client went away before the answer";

pub(crate) struct OpenRecord {
    record: Option<CallRecord>,
    pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for OpenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.record.fmt(f)
    }
}

impl OpenRecord {
    pub(crate) fn new(pipeline: &Arc<Pipeline>, record: CallRecord) -> Self {
        OpenRecord {
            record: Some(record),
            pipeline: pipeline.clone(),
        }
    }

    /// Ends the request with what the server answered (`None`: answered by the gateway) and
    /// emits its record.
    pub(crate) fn close(mut self, upstream_status: Option<String>) {
        let mut record = self.record.take().expect("a record is closed once");
        record.ended(upstream_status);
        self.pipeline.telemetry.emit(record);
    }

    /// From now until [`OpenRecord::resumed`], a dropped record is a call held for `approval`
    /// whose client left.
    pub(super) fn holding(&mut self, approval_id: &str) {
        self.decided(Outcome::Held);
        self.audit.message = Some(format!(
            "the client went away while approval {approval_id} was pending"
        ));
    }

    /// The hold ended: what happens next writes its own note.
    pub(super) fn resumed(&mut self) {
        self.audit.message = None;
    }
}

impl Deref for OpenRecord {
    type Target = CallRecord;
    fn deref(&self) -> &CallRecord {
        self.record.as_ref().expect("an open record")
    }
}

impl DerefMut for OpenRecord {
    fn deref_mut(&mut self) -> &mut CallRecord {
        self.record.as_mut().expect("an open record")
    }
}

impl Drop for OpenRecord {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.audit.message.get_or_insert_with(|| GONE.into());
            record.ended(Some("abandoned".into()));
            self.pipeline.telemetry.emit(record);
        }
    }
}

impl OpenRecord {
    /// The request goes to `route`'s server, under its policy.
    pub(super) fn on_route(&mut self, route: &super::Route) {
        if self.audit.server != route.server {
            self.audit.server = route.server.clone();
        }
        let version = route.policy.version_hash();
        if self.audit.policy_version.as_deref() != Some(version) {
            self.audit.policy_version = Some(version.to_owned());
        }
    }
}

impl OpenRecord {
    /// The record of the part of this request that went to `server` (a merged list on the
    /// aggregate endpoint asks every server): a request split across servers is recorded once
    /// per server, each with what that server answered.
    pub(crate) fn for_server(&self, server: &str, policy_version: &str) -> OpenRecord {
        let mut part = (**self).clone();
        part.audit.server = server.to_owned();
        part.audit.policy_version = Some(policy_version.to_owned());
        OpenRecord::new(&self.pipeline, part)
    }

    /// Ends a request whose parts were recorded per server ([`OpenRecord::for_server`]): it
    /// has no record of its own.
    pub(crate) fn split(mut self) {
        self.record.take();
    }
}
