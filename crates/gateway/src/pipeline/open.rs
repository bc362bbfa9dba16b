//! Opening a client session at `initialize`: a link to the session's server (`/mcp/<server>`),
//! or to every server the grant reaches (`/mcp`, whose `initialize` the gateway answers itself,
//! each server's handshake recorded as that server's `initialize`). The session's place among
//! its grant's sessions is taken by the front before, and given back when the session goes.

use super::record::OpenRecord;
use crate::Gateway;
use crate::aggregate::session::AggregateSession;
use crate::identity::Caller;
use crate::limits::sessions::SessionSlot;
use crate::session::Session;
use crate::telemetry::CallRecord;
use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::Arc;
use toolgate_mcp::SUPPORTED_PROTOCOL_VERSIONS;
use toolgate_mcp::jsonrpc::{self, Message, codes};

/// Opens a session with `server` for an `initialize` request (then forwarded through the
/// pipeline like any request); `Err` is the answer when the server cannot be reached.
pub async fn server_session(
    gw: &Arc<Gateway>,
    server: &str,
    caller: Arc<Caller>,
    msg: &Message<'_>,
    slot: SessionSlot,
) -> Result<Arc<Session>, Bytes> {
    let runtime = gw.state().servers[server].clone();
    let session_id = crate::session::new_session_id();
    let opener = crate::upstream::Opener {
        session: &session_id,
        grant: Some(&caller.identity.grant),
        init_params: msg.params,
    };
    let link = match runtime.connect(&opener).await {
        Ok(l) => l,
        Err(e) => {
            crate::limits::audit_failed_open(gw, &caller, server, &e);
            tracing::error!(server, error = %e, "cannot open upstream");
            let why = format!("server {server} is unavailable: {e}");
            return Err(jsonrpc::error_response(msg.id, codes::UPSTREAM_UNAVAILABLE, &why).into());
        }
    };
    let key = client_key(msg);
    let session = Arc::new(Session::new(session_id, runtime, caller, link, key));
    *session.protocol_version.lock() = requested_protocol_version(msg);
    gw.sessions
        .insert_holding(&session.id, session.clone(), slot);
    // A lazy stdio server is catalogued when its first session opens (not on every call).
    gw.catalogue.first_use(server);
    tracing::info!(server, session = %session.id, agent = %session.caller.identity.agent, "session opened");
    Ok(session)
}

/// Ends a session: forgotten, its link closed.
pub async fn close_server_session(gw: &Gateway, session: &Session) {
    gw.sessions.remove(&session.id);
    session
        .link
        .close(session.protocol_version().as_deref())
        .await;
}

/// Ends an aggregate session and every member link.
pub async fn close_aggregate_session(gw: &Gateway, session: &AggregateSession) {
    gw.aggregates.remove(&session.id);
    session.close().await;
}

/// Opens an aggregate session for an `initialize` request: every server the grant reaches is
/// connected and handshaken concurrently (each recorded); the answer is the gateway's own.
pub async fn aggregate_session(
    gw: &Arc<Gateway>,
    caller: Arc<Caller>,
    msg: &Message<'_>,
    slot: SessionSlot,
) -> (Arc<AggregateSession>, Bytes) {
    let id = msg.id.expect("requests have ids");
    let params = msg.params.map_or_else(
        || RawValue::from_string("{}".into()).expect("valid JSON"),
        ToOwned::to_owned,
    );
    let version = requested_protocol_version(msg)
        .filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| SUPPORTED_PROTOCOL_VERSIONS[0].to_owned());
    let state = gw.state();
    let servers = state
        .settings
        .servers
        .iter()
        .filter(|s| caller.may_reach(&s.name))
        .filter_map(|s| state.servers.get(&s.name).cloned())
        .collect::<Vec<_>>();
    // Lazy stdio servers are catalogued when their first session opens.
    for server in &servers {
        gw.catalogue.first_use(&server.name);
    }
    let records: Vec<_> = servers
        .iter()
        .map(|s| {
            let version = caller.policy_for(s).version_hash().to_owned();
            let mut r = CallRecord::new(&caller, "", &s.name, "initialize", &version);
            r.forwarded();
            r
        })
        .collect();
    let timeout = state.settings.upstream_connect_timeout;
    let session = AggregateSession::open(caller, servers, params, version.clone(), timeout).await;
    let session = Arc::new(session);
    let down = session.down();
    for mut record in records {
        record.audit.session = Some(session.id.clone());
        let failed = down.iter().find(|(name, _)| *name == record.audit.server);
        if let Some((_, reason)) = failed {
            record.audit.message = Some(reason.clone());
        }
        let status = if failed.is_some() {
            "unavailable"
        } else {
            "ok"
        };
        OpenRecord::new(&gw.pipeline, record).close(Some(status.into()));
    }
    let mut init = json!({
        "protocolVersion": version,
        "capabilities": session.capabilities(),
        "serverInfo": { "name": "toolgate", "version": env!("CARGO_PKG_VERSION") },
    });
    if let Some(i) = session.pinned_instructions(&gw.catalogue) {
        init["instructions"] = Value::String(i);
    }
    gw.aggregates
        .insert_holding(&session.id, session.clone(), slot);
    tracing::info!(session = %session.id, agent = %session.caller.identity.agent, down = ?down, "aggregate session opened");
    let answer = jsonrpc::result_response(id, &init.to_string()).into();
    (session, answer)
}

/// The session's key in its server's tools/list cache: what the client said about itself.
fn client_key(msg: &Message<'_>) -> u64 {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(rename = "protocolVersion")]
        version: Option<&'a str>,
        #[serde(borrow)]
        capabilities: Option<&'a RawValue>,
    }
    let params = msg
        .params
        .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok());
    let (version, capabilities) = params.map_or((None, None), |p| (p.version, p.capabilities));
    crate::tools_cache::client_key(version, capabilities)
}

fn requested_protocol_version(msg: &Message<'_>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(rename = "protocolVersion")]
        v: Option<String>,
    }
    serde_json::from_str::<P>(msg.params?.get()).ok()?.v
}
