//! The canonical JSON the audit chain hashes: a record's serde form with `"seq"` added, object
//! keys sorted by their bytes at every depth, no whitespace, strings escaped as serde_json escapes
//! them. Any record can be written through a `serde_json::Value`; the request record, written once
//! per request, writes its fields straight into the buffer in sorted order instead (same bytes,
//! no tree, no per-key copies), which the tests check against the generic path.

use serde::Serialize;
use serde_json::Value;

use crate::StoreError;
use crate::audit::{AdminEvent, AuditRecord};

/// A record the chain can hash.
pub trait Canonical: Serialize {
    /// Appends the canonical JSON of `self` at position `seq` to `out`.
    fn write_canonical_json(&self, seq: u64, out: &mut Vec<u8>) -> Result<(), StoreError> {
        write_via_value(self, seq, out)
    }
}

impl Canonical for AdminEvent {}

impl Canonical for Value {}

/// The generic path: the serde form as a `Value`, `seq` added, written sorted.
fn write_via_value<T: Serialize + ?Sized>(
    record: &T,
    seq: u64,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let mut value = serde_json::to_value(record).map_err(|e| StoreError::InvalidInput {
        field: "audit record",
        message: e.to_string(),
    })?;
    let Value::Object(map) = &mut value else {
        return Err(StoreError::InvalidInput {
            field: "audit record",
            message: "does not serialise to a JSON object".into(),
        });
    };
    map.insert("seq".into(), Value::from(seq));
    write_canonical(&value, out);
    Ok(())
}

/// Writes `value` with its object keys sorted at every depth.
pub(crate) fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(k.as_str(), out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

/// Writes the JSON text `raw` the way [`write_canonical`] writes its value, except that every
/// number is kept exactly as it was written: nothing is parsed into a float, so two integers
/// beyond 64 bits, or `1e2` and `100`, stay different.
pub(crate) fn write_canonical_exact(
    raw: &serde_json::value::RawValue,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    use serde_json::value::RawValue;
    let text = raw.get().trim_ascii();
    match text.as_bytes().first() {
        Some(b'{') => {
            let map: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(text)?;
            out.push(b'{');
            for (i, (k, v)) in map.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(k.as_str(), out);
                out.push(b':');
                write_canonical_exact(v, out)?;
            }
            out.push(b'}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push(b'[');
            for (i, v) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_exact(v, out)?;
            }
            out.push(b']');
        }
        Some(b'"') => write_json(&serde_json::from_str::<String>(text)?, out),
        // A number, `true`, `false` or `null`: as written.
        _ => out.extend_from_slice(text.as_bytes()),
    }
    Ok(())
}

/// A scalar (string, number, bool, null) as serde_json writes it.
fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing a string, a number or a Value scalar into a Vec cannot fail.
    serde_json::to_writer(&mut *out, value).expect("a JSON scalar serialises");
}

/// Writes the members of one object in the order they are given, which must be sorted.
struct SortedObject<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> SortedObject<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        SortedObject { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_json(key, self.out);
        self.out.push(b':');
        self.out
    }

    fn scalar<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        let out = self.key(key);
        write_json(value, out);
    }

    fn optional<T: Serialize + ?Sized>(&mut self, key: &str, value: Option<&T>) {
        if let Some(v) = value {
            self.scalar(key, v);
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

impl Canonical for AuditRecord {
    fn write_canonical_json(&self, seq: u64, out: &mut Vec<u8>) -> Result<(), StoreError> {
        // Keys in byte order; `None` options are absent, as `skip_serializing_if` leaves them.
        let mut o = SortedObject::open(out);
        o.scalar("agent", &self.agent);
        let keys = o.key("arg_keys");
        keys.push(b'[');
        for (i, k) in self.arg_keys.iter().enumerate() {
            if i > 0 {
                keys.push(b',');
            }
            write_json(k.as_str(), keys);
        }
        keys.push(b']');
        if let Some(args) = &self.args {
            write_canonical(args, o.key("args"));
        }
        o.scalar("decision", self.decision.as_str());
        o.scalar("gateway_latency_us", &self.gateway_latency_us);
        o.optional("grant", self.grant.as_deref());
        o.optional("message", self.message.as_deref());
        o.scalar("method", &self.method);
        o.optional("phase", self.phase.map(|p| p.as_str()));
        o.optional("policy_version", self.policy_version.as_deref());
        o.scalar("request_id", &self.request_id);
        o.optional("rule", self.rule.as_deref());
        o.scalar("seq", &seq);
        o.scalar("server", &self.server);
        o.optional("session", self.session.as_deref());
        o.scalar("time_ms", &self.time_ms);
        o.optional("tool", self.tool.as_deref());
        o.optional("upstream_latency_us", self.upstream_latency_us.as_ref());
        o.optional("upstream_status", self.upstream_status.as_deref());
        o.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditDecision;
    use serde_json::json;

    #[test]
    fn values_are_written_with_keys_sorted_at_every_depth() {
        let record = json!({"b": 1, "a": {"z": [true, null, "x\"y"], "m": 1.5}});
        let mut out = Vec::new();
        record.write_canonical_json(7, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            r#"{"a":{"m":1.5,"z":[true,null,"x\"y"]},"b":1,"seq":7}"#
        );
    }

    fn full_record() -> AuditRecord {
        AuditRecord {
            time_ms: 1_764_000_000_123,
            request_id: "0a1b2c3d-42".into(),
            session: Some("s-\u{e9}\"quoted\"".into()),
            agent: "crm-agent\n".into(),
            grant: Some("crm".into()),
            server: "twenty".into(),
            method: "tools/call".into(),
            tool: Some("UpdateOneOpportunity".into()),
            decision: AuditDecision::RateLimited,
            rule: Some("/tools/UpdateOneOpportunity/limits/0".into()),
            message: Some("limit reached: 10 per minute \u{1f6a7}".into()),
            policy_version: Some("sha256:abc".into()),
            arg_keys: vec!["id".into(), "amount\t".into()],
            args: Some(json!({"z": [1, {"b": null, "a": 2.5}], "a": "x\\y", "\u{e9}": true})),
            upstream_status: Some("jsonrpc_error -32602".into()),
            gateway_latency_us: 41,
            upstream_latency_us: Some(0),
            phase: Some(crate::audit::RecordPhase::Outcome),
        }
    }

    #[test]
    fn the_request_record_writes_what_the_generic_path_writes() {
        let full = full_record();
        let mut bare = full_record();
        bare.session = None;
        bare.grant = None;
        bare.tool = None;
        bare.rule = None;
        bare.message = None;
        bare.policy_version = None;
        bare.arg_keys = Vec::new();
        bare.args = None;
        bare.upstream_status = None;
        bare.upstream_latency_us = None;
        let mut empty_args = full_record();
        empty_args.args = Some(json!({}));
        for decision in AuditDecision::ALL {
            for base in [&full, &bare, &empty_args] {
                let mut record = base.clone();
                record.decision = decision;
                for seq in [1, u64::MAX] {
                    let mut fast = Vec::new();
                    record.write_canonical_json(seq, &mut fast).unwrap();
                    let mut generic = Vec::new();
                    write_via_value(&record, seq, &mut generic).unwrap();
                    assert_eq!(
                        String::from_utf8(fast).unwrap(),
                        String::from_utf8(generic).unwrap(),
                        "{record:?}"
                    );
                }
            }
        }
    }
}
