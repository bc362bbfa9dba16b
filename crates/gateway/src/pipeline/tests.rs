//! The pipeline in process, against a server scripted in memory: every decision path, the
//! refusals before policy, a failing, silent or stray-answering server, and a client that
//! leaves — each with what reached the server (byte for byte, or nothing) and the one record it
//! leaves in the audit log.

use super::*;
use crate::kill_switch::KillSwitches;
use crate::telemetry::audit_policy::AuditPolicy;
use crate::upstream::UpstreamLink;
use crate::upstream::scripted::{Scripted, ScriptedLink};
use futures_util::StreamExt;
use std::time::Duration;
use toolgate_policy::{Identity, SourceFormat};
use toolgate_store::MemoryCounterStore;
use toolgate_store::Stores;
use toolgate_store::audit::{AuditDecision, AuditQuery, AuditRecord};

const POLICY: &str = r#"{
  "version": "1",
  "default": "allow",
  "hide": ["secret_*"],
  "tools": {
    "drop_table": {"action": "deny", "reason": "Not from an agent."},
    "send_mail": {"limits": [{"counter": "mail", "window": "minute", "max": 1, "scope": "session"}]},
    "pay": {"action": "require_approval"}
  }
}"#;

/// A pipeline with an in-memory audit log, in front of `link`.
struct Rig {
    pipeline: Arc<Pipeline>,
    stores: Stores,
    server: Arc<Direct>,
    caller: Arc<Caller>,
    link: ScriptedLink,
}

impl Rig {
    fn new(script: impl Fn(&[u8]) -> Scripted + Send + Sync + 'static) -> Rig {
        let stores = Stores::memory();
        let telemetry =
            Telemetry::with_audit(stores.audit_sink.clone(), None, AuditPolicy::default());
        let enforcer = Enforcer::new(
            Arc::new(MemoryCounterStore::new()),
            Arc::new(KillSwitches::default()),
        );
        let policy = toolgate_policy::compile(POLICY, "test", SourceFormat::Json).unwrap();
        let link = ScriptedLink::new(script);
        Rig {
            pipeline: Arc::new(Pipeline::new(enforcer, telemetry, None)),
            stores,
            server: Arc::new(Direct {
                name: "crm".into(),
                link: UpstreamLink::Scripted(link.clone()),
                policy: Arc::new(policy),
            }),
            caller: Arc::new(Caller {
                identity: Identity {
                    agent: "bot".into(),
                    grant: "ops".into(),
                    tags: Vec::new(),
                },
                servers: Vec::new(),
                policies: Default::default(),
            }),
            link,
        }
    }

    async fn handle_with(&self, body: &str, streams: bool) -> Reply {
        let body = Bytes::copy_from_slice(body.as_bytes());
        let msg = Message::parse(&body).unwrap();
        let cx = Context {
            caller: &self.caller,
            session: "s1",
            streams,
            upstream_timeout: Duration::from_secs(5),
            target: Target::Direct(&self.server),
        };
        self.pipeline.handle(&cx, &msg, body.clone()).await
    }

    async fn handle(&self, body: &str) -> Reply {
        self.handle_with(body, false).await
    }

    /// Every request record, once the audit queue is written out.
    async fn records(&self) -> Vec<AuditRecord> {
        self.pipeline.telemetry.flush().await;
        let all = self
            .stores
            .audit
            .query(&AuditQuery::default())
            .await
            .unwrap();
        all.into_iter().map(|c| c.record).collect()
    }
}

fn call(id: u64, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

/// The server answers every request with a text result naming its id.
fn answers_ok(request: &[u8]) -> Scripted {
    let msg = Message::parse(request).unwrap();
    let id = msg.id.unwrap().get().to_owned();
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"done"}}]}}}}"#
    );
    Scripted::Messages(vec![Bytes::from(answer)])
}

fn answer_of(reply: Reply) -> serde_json::Value {
    match reply {
        Reply::Answer(b) | Reply::Refused(_, b) => serde_json::from_slice(&b).unwrap(),
        other => panic!("not one answer: {other:?}"),
    }
}

#[tokio::test]
async fn an_allowed_call_reaches_the_server_byte_for_byte_and_is_recorded_once() {
    let rig = Rig::new(answers_ok);
    let body = call(
        1,
        "lookup",
        r#"{"z":1, "big":123456789012345678901234567890,"neg":-0}"#,
    );
    let answer = answer_of(rig.handle(&body).await);
    assert_eq!(answer["result"]["content"][0]["text"], "done");
    assert_eq!(rig.link.sent(), vec![Bytes::from(body)]);
    let records = rig.records().await;
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(
        (r.decision, r.tool.as_deref()),
        (AuditDecision::Allow, Some("lookup"))
    );
    assert_eq!(r.upstream_status.as_deref(), Some("ok"));
    assert_eq!(
        (r.server.as_str(), r.session.as_deref()),
        ("crm", Some("s1"))
    );
}

#[tokio::test]
async fn refused_calls_never_reach_the_server_and_each_is_recorded_with_its_rule() {
    let rig = Rig::new(answers_ok);
    let denied = answer_of(rig.handle(&call(1, "drop_table", "{}")).await);
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    let hidden = answer_of(rig.handle(&call(2, "secret_keys", "{}")).await);
    assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
    let held = answer_of(rig.handle(&call(3, "pay", "{}")).await);
    assert_eq!(held["result"]["isError"], true, "{held}");
    let unreadable = answer_of(
        rig.handle(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5}}"#)
            .await,
    );
    assert_eq!(unreadable["error"]["code"], -32602, "{unreadable}");
    let first = answer_of(rig.handle(&call(5, "send_mail", "{}")).await);
    assert_eq!(first["result"]["content"][0]["text"], "done");
    let limited = answer_of(rig.handle(&call(6, "send_mail", "{}")).await);
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    assert_eq!(
        rig.link.sent().len(),
        1,
        "only the first send_mail went out"
    );
    let records = rig.records().await;
    let seen: Vec<_> = records
        .iter()
        .map(|r| (r.tool.as_deref(), r.decision, r.rule.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                Some("drop_table"),
                AuditDecision::Deny,
                Some("/tools/drop_table/action")
            ),
            (Some("secret_keys"), AuditDecision::Hidden, Some("/hide/0")),
            (
                Some("pay"),
                AuditDecision::ApprovalRequired,
                Some("/tools/pay/action")
            ),
            (None, AuditDecision::Error, None),
            (
                Some("send_mail"),
                AuditDecision::Allow,
                Some("/tools/send_mail")
            ),
            (
                Some("send_mail"),
                AuditDecision::RateLimited,
                Some("/tools/send_mail/limits/0")
            ),
        ]
    );
}

#[tokio::test]
async fn methods_the_gateway_does_not_know_are_refused_or_dropped_never_forwarded() {
    let rig = Rig::new(answers_ok);
    for method in [r#""Tools/Call""#, r#""tools\/call""#, r#""x/unknown""#] {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":{method},"params":{{"name":"a"}}}}"#);
        let reply = rig.handle(&body).await;
        assert!(
            matches!(&reply, Reply::Refused(s, _) if *s == http::StatusCode::OK),
            "{reply:?}"
        );
        assert_eq!(answer_of(reply)["error"]["code"], -32601);
    }
    let note = rig
        .handle(r#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#)
        .await;
    assert!(matches!(note, Reply::Accepted), "{note:?}");
    let as_note = rig
        .handle(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}"#)
        .await;
    assert!(matches!(&as_note, Reply::Refused(s, _) if *s == http::StatusCode::BAD_REQUEST));
    assert!(rig.link.sent().is_empty(), "{:?}", rig.link.sent());
    let known = rig
        .handle(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    assert!(matches!(known, Reply::Accepted));
    assert_eq!(
        rig.link.sent().len(),
        1,
        "a known notification is passed on"
    );
    // Three refused requests and the request sent as a notification; nothing for the rest.
    let records = rig.records().await;
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records.iter().all(|r| r.decision == AuditDecision::Error));
}

#[tokio::test]
async fn a_failing_server_fails_the_call_at_once_and_gives_its_quota_back() {
    let failing = std::sync::atomic::AtomicBool::new(true);
    let rig = Rig::new(move |request| {
        if failing.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Scripted::Fail("connection reset".into())
        } else {
            answers_ok(request)
        }
    });
    let failed = answer_of(rig.handle(&call(1, "send_mail", "{}")).await);
    assert_eq!(failed["error"]["code"], -32002, "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection reset")
    );
    // The limit of one a minute still has room: the failed call gave its quota back.
    let retried = answer_of(rig.handle(&call(2, "send_mail", "{}")).await);
    assert_eq!(retried["result"]["content"][0]["text"], "done", "{retried}");
    let records = rig.records().await;
    let statuses: Vec<_> = records
        .iter()
        .map(|r| r.upstream_status.as_deref())
        .collect();
    assert_eq!(statuses, vec![Some("unavailable"), Some("ok")]);
}

#[tokio::test]
async fn a_client_that_leaves_mid_call_leaves_one_abandoned_record() {
    let rig = Rig::new(|_| Scripted::Silent);
    let gone = tokio::time::timeout(
        Duration::from_millis(100),
        rig.handle(&call(1, "lookup", "{}")),
    )
    .await;
    assert!(gone.is_err(), "the server never answers");
    assert_eq!(rig.link.sent().len(), 1);
    let records = rig.records().await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].decision, AuditDecision::Allow);
    assert_eq!(records[0].upstream_status.as_deref(), Some("abandoned"));
}

#[tokio::test]
async fn only_the_answer_to_the_request_sent_ends_it_and_stray_answers_never_reach_the_client() {
    let rig = Rig::new(|request| {
        let id = Message::parse(request)
            .unwrap()
            .id
            .unwrap()
            .get()
            .to_owned();
        Scripted::Messages(vec![
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":999,"result":{"content":[]}}"#),
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}"#),
            Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[],"isError":true}}}}"#)),
        ])
    });
    // A client that takes a stream gets the notification and then the answer.
    let Reply::Stream(stream) = rig.handle_with(&call(7, "lookup", "{}"), true).await else {
        panic!("a streamed answer");
    };
    let messages: Vec<serde_json::Value> = stream
        .map(|m| serde_json::from_slice(&m).unwrap())
        .collect()
        .await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages[1]["id"], 7);
    // One that takes the answer alone gets only the answer.
    let answer = answer_of(rig.handle(&call(8, "lookup", "{}")).await);
    assert_eq!(answer["id"], 8);
    let records = rig.records().await;
    let statuses: Vec<_> = records
        .iter()
        .map(|r| r.upstream_status.as_deref())
        .collect();
    assert_eq!(statuses, vec![Some("tool_error"), Some("tool_error")]);
}
