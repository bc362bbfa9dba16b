//! Filtering a `tools/list` result: tools the policy hides, and tools quarantined by their pins,
//! are removed, everything else about the response (other tools' bytes, `nextCursor`, `_meta`)
//! is kept as the server sent it. The other lists a model reads (prompts, resources) are
//! filtered by their pins the same way ([`without_items`]). The response is read as borrowed
//! slices, never as a tree of values: a 219-tool list is ~230 KB, and only the tools' names need
//! looking at.

use crate::catalogue::Catalogue;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use toolgate_policy::Policy;

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    result: BTreeMap<Cow<'a, str>, &'a RawValue>,
}

#[derive(Deserialize)]
struct ToolName<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

/// Returns the response with hidden tools removed, and with `pins` (the catalogue and the
/// server) the tools quarantined by their pins too. A response that is not a readable result
/// (an error, or something malformed) passes unchanged: it lists no tools. A tool without a
/// readable name is dropped (fail closed).
pub fn filter_response(
    policy: &Policy,
    pins: Option<(&Catalogue, &str)>,
    response: Bytes,
) -> Bytes {
    let quarantined = pins
        .map(|(catalogue, server)| catalogue.hidden_in_answer(server, &response))
        .unwrap_or_default();
    if policy.hides_nothing() && quarantined.is_empty() {
        return response;
    }
    without_items(response, "tools", |t| {
        serde_json::from_str::<ToolName<'_>>(t.get())
            .ok()
            .and_then(|n| n.name)
            .is_some_and(|name| !policy.is_hidden(&name) && !quarantined.contains(&*name))
    })
}

/// Returns a list response (`tools/list`, `prompts/list`, …: its items in the result's member
/// `key`) with only the items `keep` keeps; every kept item's bytes, and everything else about
/// the response (`nextCursor`, `_meta`), as the server sent them. A response that is not a
/// readable list passes unchanged.
pub fn without_items(response: Bytes, key: &str, keep: impl Fn(&RawValue) -> bool) -> Bytes {
    let Ok(parsed) = serde_json::from_slice::<Response<'_>>(&response) else {
        return response;
    };
    let Some(items) = parsed.result.get(key) else {
        return response;
    };
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(items.get()) else {
        return response;
    };
    let kept: Vec<&RawValue> = items.iter().copied().filter(|t| keep(t)).collect();
    if kept.len() == items.len() {
        return response;
    }
    let mut out = Vec::with_capacity(response.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(parsed.id.get().as_bytes());
    out.extend_from_slice(b",\"result\":{");
    out.extend_from_slice(serde_json::to_string(key).unwrap_or_default().as_bytes());
    out.extend_from_slice(b":[");
    for (i, t) in kept.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(t.get().as_bytes());
    }
    out.push(b']');
    for (member, value) in parsed.result.iter().filter(|(k, _)| *k != key) {
        out.push(b',');
        out.extend_from_slice(
            serde_json::to_string(member.as_ref())
                .unwrap_or_default()
                .as_bytes(),
        );
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn filter_response_for_test(policy: &Policy, response: Bytes) -> Bytes {
        filter_response(policy, None, response)
    }

    fn policy(hide: &str) -> Policy {
        let text = format!(r#"{{"version":"1","default":"allow","hide":{hide}}}"#);
        toolgate_policy::compile(&text, "p.json", toolgate_policy::SourceFormat::Json).unwrap()
    }

    #[test]
    fn hidden_tools_are_removed_and_the_rest_kept() {
        let resp = json!({"jsonrpc":"2.0","id":"l1","result":{
            "tools":[{"name":"a","inputSchema":{"type":"object"}},{"name":"secret_b"},{"nameless":true}],
            "nextCursor":"p2","_meta":{"x":1}}});
        let out =
            filter_response_for_test(&policy(r#"["secret_*"]"#), Bytes::from(resp.to_string()));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "l1");
        assert_eq!(
            v["result"]["tools"],
            json!([{"name":"a","inputSchema":{"type":"object"}}])
        );
        assert_eq!(v["result"]["nextCursor"], "p2");
        assert_eq!(v["result"]["_meta"], json!({"x":1}));
    }

    #[test]
    fn untouched_when_nothing_is_hidden_or_nothing_matches() {
        let resp = Bytes::from(
            json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}).to_string(),
        );
        assert_eq!(filter_response_for_test(&policy("[]"), resp.clone()), resp);
        assert_eq!(
            filter_response_for_test(&policy(r#"["zzz"]"#), resp.clone()),
            resp
        );
        let err =
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#);
        assert_eq!(
            filter_response_for_test(&policy(r#"["a"]"#), err.clone()),
            err
        );
    }
}
