//! One upstream server inside an aggregate session: its link, opened with the client's own
//! `initialize` parameters, and what that server answered (capabilities, protocol version).

use crate::server::ServerRuntime;
use crate::upstream::{Opener, UpstreamLink};
use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

/// A connected upstream of an aggregate session.
#[derive(Debug)]
pub struct Member {
    pub server: Arc<ServerRuntime>,
    pub link: UpstreamLink,
    /// The upstream's `initialize` result.
    pub init: Value,
    /// The protocol version the upstream agreed to.
    pub protocol_version: Option<String>,
}

impl Member {
    /// Connects to `server` for `grant` (`None`: the gateway's own session) and performs the
    /// handshake with the client's `initialize` params.
    pub async fn open(
        server: Arc<ServerRuntime>,
        session: &str,
        grant: Option<&str>,
        init_params: &RawValue,
        timeout: Duration,
    ) -> Result<Member, String> {
        let opener = Opener {
            session,
            grant,
            init_params: Some(init_params),
        };
        let link = server.connect(&opener).await.map_err(|e| e.to_string())?;
        let pv = serde_json::from_str::<Value>(init_params.get())
            .ok()
            .and_then(|v| {
                v.get("protocolVersion")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let handshake = async {
            let init = link
                .call("initialize", Some(init_params.get()), pv.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let agreed = init
                .get("protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(pv);
            let note =
                Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
            link.send(note, agreed.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((init, agreed))
        };
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok((init, protocol_version))) => Ok(Member {
                server,
                link,
                init,
                protocol_version,
            }),
            Ok(Err(e)) => {
                link.close(None).await;
                Err(e)
            }
            Err(_) => {
                link.close(None).await;
                Err(format!("no answer to initialize within {timeout:?}"))
            }
        }
    }

    /// Sends a request of the gateway's own and returns its result.
    pub async fn call(&self, method: &str, params: Option<&str>) -> Result<Value, String> {
        self.link
            .call(method, params, self.protocol_version.as_deref())
            .await
            .map_err(|e| e.to_string())
    }

    /// The capability object the upstream declared for `name` (`tools`, `resources`, …).
    pub fn capability(&self, name: &str) -> Option<&Value> {
        self.init.get("capabilities").and_then(|c| c.get(name))
    }
}
