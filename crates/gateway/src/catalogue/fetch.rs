//! Lists a server's tools the way a client would: its own short session (initialize, then
//! `tools/list` page by page), closed afterwards, keeping the `instructions` its `initialize`
//! answered and the prompts, resources and resource templates it offers (each list read when the
//! server declares it, and left out of the listing when it cannot be read). Used for the
//! catalogue, `toolgate catalog` and `toolgate init`, independent of any client session.

use crate::aggregate::lists::ListKind;
use crate::server::ServerRuntime;
use crate::upstream::{CallError, Opener, UpstreamLink};
use bytes::Bytes;
use serde_json::{Value, json};
use std::time::Duration;
use toolgate_store::catalogue::{EntryKind, ToolDigest};

/// More pages than this means the server is looping on its cursor.
const MAX_PAGES: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("the server did not answer {method} within {seconds} s")]
    Timeout { method: &'static str, seconds: u64 },
    #[error("the server answered {method} with an error: {message}")]
    Refused {
        method: &'static str,
        message: String,
    },
    #[error("the server's answer to {method} is not what MCP specifies: {detail}")]
    Malformed {
        method: &'static str,
        detail: String,
    },
}

/// What one listing of a server read.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Every tool, each a raw tool object.
    pub tools: Vec<Value>,
    /// The pinned version of its `initialize` result: its instructions, or none.
    pub instructions: ToolDigest,
    /// Each other list the server offers and that could be read: its prompts, resources and
    /// resource templates, each a raw object.
    pub others: Vec<(EntryKind, Vec<Value>)>,
}

/// Every tool the server lists (each a raw tool object), following pagination.
pub async fn list_tools(
    server: &ServerRuntime,
    timeout: Duration,
) -> Result<Vec<Value>, FetchError> {
    list_server(server, timeout).await.map(|l| l.tools)
}

/// Every tool the server lists, following pagination, and the instructions it gave.
pub async fn list_server(server: &ServerRuntime, timeout: Duration) -> Result<Listing, FetchError> {
    let session = format!("catalogue-{}", uuid::Uuid::new_v4().simple());
    // The gateway's own session: a stdio server gives it a child of its own, shared with no one.
    let opener = Opener {
        session: &session,
        grant: None,
        init_params: None,
    };
    let link = server
        .connect(&opener)
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    let listed = async {
        let init = call(
            &link,
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": catalogue_capabilities(),
                "clientInfo": {"name": "toolgate-catalogue", "version": env!("CARGO_PKG_VERSION")}
            }),
            None,
            timeout,
        )
        .await?;
        let version = init
            .get("protocolVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let instructions = ToolDigest::of_instructions(&init);
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        link.send(initialized, version.as_deref())
            .await
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        let tools = list_all(&link, "tools/list", "tools", version.as_deref(), timeout).await?;
        let mut others = Vec::new();
        for list in [
            ListKind::Prompts,
            ListKind::Resources,
            ListKind::ResourceTemplates,
        ] {
            let (method, key) = (list.method(), list.key());
            if init
                .pointer(&format!("/capabilities/{}", list.capability()))
                .is_none()
            {
                continue;
            }
            match list_all(&link, method, key, version.as_deref(), timeout).await {
                Ok(items) => others.push((list.entry_kind(), items)),
                // Left out of this listing: what clients are shown is still checked, and
                // recorded, by the pins the store holds.
                Err(e) => {
                    tracing::warn!(server = %server.name, error = %e, "cannot list {method}");
                }
            }
        }
        let listing = Listing {
            tools,
            instructions,
            others,
        };
        Ok((listing, version))
    }
    .await;
    let version = listed.as_ref().ok().and_then(|(_, v)| v.clone());
    link.close(version.as_deref()).await;
    listed.map(|(listing, _)| listing)
}

/// Every item of one list (`method`, its items in the result's member `key`), following
/// pagination.
async fn list_all(
    link: &UpstreamLink,
    method: &'static str,
    key: &str,
    protocol_version: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Value>, FetchError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let mut page = call(link, method, params, protocol_version, timeout).await?;
        let Some(Value::Array(listed)) = page.get_mut(key).map(Value::take) else {
            return Err(FetchError::Malformed {
                method,
                detail: format!("no {key:?} array in the result"),
            });
        };
        items.extend(listed);
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            return Ok(items);
        }
    }
    Err(FetchError::Malformed {
        method,
        detail: format!("more than {MAX_PAGES} pages"),
    })
}

/// The client capabilities the catalogue's session declares: every one a client may declare
/// (MCP 2025-11-25), each with every option. Servers list some tools only to clients that can
/// serve them (server-everything's roots, sampling, elicitation and task tools; tools behind URL
/// elicitation): the catalogue must see every tool any client can see, so that no client's
/// listing shows a tool the first listing did not pin. Nothing is called on this session, and
/// the requests the server sends it go unanswered until it closes.
pub const CATALOGUE_CAPABILITIES: &str = r#"{
  "roots": {"listChanged": true},
  "sampling": {"context": {}, "tools": {}},
  "elicitation": {"form": {}, "url": {}},
  "tasks": {"list": {}, "cancel": {},
            "requests": {"sampling": {"createMessage": {}}, "elicitation": {"create": {}}}}
}"#;

fn catalogue_capabilities() -> Value {
    serde_json::from_str(CATALOGUE_CAPABILITIES).expect("the catalogue's capabilities are JSON")
}

/// One request on the link, bounded by `timeout`; the result of its answer.
async fn call(
    link: &UpstreamLink,
    method: &'static str,
    params: Value,
    protocol_version: Option<&str>,
    timeout: Duration,
) -> Result<Value, FetchError> {
    let params = params.to_string();
    let exchange = link.call(method, Some(&params), protocol_version);
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err(FetchError::Timeout {
            method,
            seconds: timeout.as_secs(),
        }),
        Ok(Ok(result @ Value::Object(_))) => Ok(result),
        Ok(Ok(_)) => Err(FetchError::Malformed {
            method,
            detail: "no result object".into(),
        }),
        Ok(Err(CallError::Refused(error))) => Err(FetchError::Refused {
            method,
            message: serde_json::from_str::<Value>(&error)
                .ok()
                .and_then(|e| e.get("message")?.as_str().map(str::to_owned))
                .unwrap_or(error),
        }),
        Ok(Err(CallError::Malformed { detail, .. })) => {
            Err(FetchError::Malformed { method, detail })
        }
        Ok(Err(e)) => Err(FetchError::Unreachable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalogue_declares_every_client_capability() {
        let declared = super::catalogue_capabilities();
        for path in [
            "/roots/listChanged",
            "/sampling/tools",
            "/elicitation/url",
            "/tasks/requests/sampling/createMessage",
            "/tasks/requests/elicitation/create",
        ] {
            assert!(declared.pointer(path).is_some(), "{path}");
        }
    }
}
