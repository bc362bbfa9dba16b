//! [`ApprovalStore`] over a map of approvals by id, with the change sequence counter beside it.

use futures_util::future::BoxFuture;

use crate::StoreError;
use crate::approval::{
    Approval, ApprovalBinding, ApprovalFilter, ApprovalMode, ApprovalStatus, ApprovalStore,
    NewApproval, check_decidable, new_approval_id,
};
use crate::memory::MemoryStore;

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(v))
}

/// The approvals of a [`MemoryStore`].
#[derive(Debug, Default)]
pub(crate) struct Approvals {
    by_id: std::collections::HashMap<String, Approval>,
    /// The last change sequence number given out.
    seq: u64,
}

impl Approvals {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn change(&mut self, id: &str, f: impl FnOnce(&mut Approval)) -> Approval {
        let seq = self.next_seq();
        let approval = self.by_id.get_mut(id).expect("changed approvals exist");
        f(approval);
        approval.seq = seq;
        approval.clone()
    }
}

/// Newest first: creation time, then id, both descending.
fn newest_first(a: &Approval, b: &Approval) -> std::cmp::Ordering {
    (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id))
}

impl MemoryStore {
    fn decide_now(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        note: Option<&str>,
        now_ms: u64,
    ) -> Result<Approval, StoreError> {
        let mut approvals = self.approvals.lock();
        let current = approvals
            .by_id
            .get(id)
            .ok_or_else(|| StoreError::ApprovalNotFound { id: id.to_owned() })?;
        if let Err((error, expire)) = check_decidable(current, now_ms) {
            if expire {
                approvals.change(id, |a| a.status = ApprovalStatus::Expired);
            }
            return Err(error);
        }
        Ok(approvals.change(id, |a| {
            a.status = if approve {
                ApprovalStatus::Approved
            } else {
                ApprovalStatus::Denied
            };
            a.decided_by = Some(by.to_owned());
            a.note = note.map(str::to_owned);
            a.decided_at_ms = Some(now_ms);
        }))
    }

    fn take_approved_now(&self, binding: &ApprovalBinding, now_ms: u64) -> Option<Approval> {
        let mut approvals = self.approvals.lock();
        let id = approvals
            .by_id
            .values()
            .filter(|a| {
                a.status == ApprovalStatus::Approved
                    && a.caller_left_at_ms.is_some()
                    && !a.is_expired_at(now_ms)
                    && a.binding == *binding
            })
            .min_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)))?
            .id
            .clone();
        Some(approvals.change(&id, |a| {
            a.status = ApprovalStatus::Used;
            a.used_at_ms = Some(now_ms);
        }))
    }

    fn rejoin_now(&self, binding: &ApprovalBinding, now_ms: u64) -> Option<Approval> {
        let mut approvals = self.approvals.lock();
        let id = approvals
            .by_id
            .values()
            .filter(|a| {
                a.status == ApprovalStatus::Pending
                    && a.mode == ApprovalMode::Hold
                    && a.caller_left_at_ms.is_some()
                    && !a.is_expired_at(now_ms)
                    && a.binding == *binding
            })
            .min_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)))?
            .id
            .clone();
        Some(approvals.change(&id, |a| a.caller_left_at_ms = None))
    }

    fn caller_left_now(&self, id: &str, now_ms: u64) -> Result<Approval, StoreError> {
        let mut approvals = self.approvals.lock();
        let current = approvals
            .by_id
            .get(id)
            .ok_or_else(|| StoreError::ApprovalNotFound { id: id.to_owned() })?;
        if current.caller_left_at_ms.is_some() || current.status.is_final() {
            return Ok(current.clone());
        }
        Ok(approvals.change(id, |a| a.caller_left_at_ms = Some(now_ms)))
    }
}

impl ApprovalStore for MemoryStore {
    fn create(&self, new: NewApproval) -> BoxFuture<'_, Result<Approval, StoreError>> {
        let mut approvals = self.approvals.lock();
        let mut id = new_approval_id();
        while approvals.by_id.contains_key(&id) {
            id = new_approval_id();
        }
        let seq = approvals.next_seq();
        let approval = Approval::from_new(id, seq, new);
        approvals
            .by_id
            .insert(approval.id.clone(), approval.clone());
        ready(Ok(approval))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Approval>, StoreError>> {
        ready(Ok(self.approvals.lock().by_id.get(id).cloned()))
    }

    fn list(&self, filter: ApprovalFilter) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>> {
        let approvals = self.approvals.lock();
        let mut found: Vec<Approval> = approvals
            .by_id
            .values()
            .filter(|a| filter.status.is_none_or(|s| a.status == s))
            .filter(|a| filter.binding.as_ref().is_none_or(|b| a.binding == *b))
            .cloned()
            .collect();
        found.sort_by(newest_first);
        found.truncate(filter.limit);
        ready(Ok(found))
    }

    fn decide<'a>(
        &'a self,
        id: &'a str,
        approve: bool,
        by: &'a str,
        note: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>> {
        ready(self.decide_now(id, approve, by, note, now_ms))
    }

    fn count_pending<'a>(
        &'a self,
        grant: Option<&'a str>,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        let approvals = self.approvals.lock();
        let n = approvals
            .by_id
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending && !a.is_expired_at(now_ms))
            .filter(|a| a.binding.grant.as_deref() == grant)
            .count();
        ready(Ok(n))
    }

    fn expire_due(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>> {
        let mut approvals = self.approvals.lock();
        let mut due: Vec<(u64, String)> = approvals
            .by_id
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending && a.is_expired_at(now_ms))
            .map(|a| (a.created_at_ms, a.id.clone()))
            .collect();
        due.sort();
        let expired = due
            .iter()
            .map(|(_, id)| approvals.change(id, |a| a.status = ApprovalStatus::Expired))
            .collect();
        ready(Ok(expired))
    }

    fn take_approved<'a>(
        &'a self,
        binding: &'a ApprovalBinding,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Approval>, StoreError>> {
        ready(Ok(self.take_approved_now(binding, now_ms)))
    }

    fn caller_left<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>> {
        ready(self.caller_left_now(id, now_ms))
    }

    fn rejoin<'a>(
        &'a self,
        binding: &'a ApprovalBinding,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Approval>, StoreError>> {
        ready(Ok(self.rejoin_now(binding, now_ms)))
    }

    fn mark_used<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Approval, StoreError>> {
        let mut approvals = self.approvals.lock();
        let result = match approvals.by_id.get(id) {
            None => Err(StoreError::ApprovalNotFound { id: id.to_owned() }),
            Some(a) if a.status != ApprovalStatus::Approved => {
                Err(StoreError::ApprovalNotPending {
                    id: id.to_owned(),
                    status: a.status,
                })
            }
            Some(_) => Ok(approvals.change(id, |a| {
                a.status = ApprovalStatus::Used;
                a.used_at_ms = Some(now_ms);
            })),
        };
        ready(result)
    }

    fn changed_since(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Approval>, StoreError>> {
        let approvals = self.approvals.lock();
        let mut changed: Vec<Approval> = approvals
            .by_id
            .values()
            .filter(|a| a.seq > after_seq)
            .cloned()
            .collect();
        changed.sort_by_key(|a| a.seq);
        changed.truncate(limit);
        ready(Ok(changed))
    }

    fn last_seq(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        ready(Ok(self.approvals.lock().seq))
    }
}
