//! Whose policy the builder edits: a server's (its policy file), or one grant's own policy for a
//! server (kept in the store with the grant; `?grant=<label>`). A grant without one follows the
//! server's, and its builder starts from a copy of the server's text. Both are read and saved
//! through the admin API's handlers (`PUT /api/policies/{server}`,
//! `PUT /api/grants/{label}/policies/{server}`), with `If-Match` on the version the page showed.

use super::Ui;
use super::access::{Operator, UiError, encode_component};
use super::call::{self, Failure};
use crate::extract::{ApiPath, ApiQuery};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::sync::Arc;
use toolgate_policy::{Policy, SourceFormat};

/// A grant whose own policy is edited.
#[derive(Debug, Clone)]
pub(crate) struct GrantOwner {
    pub label: String,
    pub agent: String,
    /// It has a policy of its own for the server (else it follows the server's).
    pub own: bool,
    /// A stored, active grant: its policy can be changed (a config grant's cannot).
    pub changeable: bool,
}

/// The policy a builder page edits.
pub(crate) struct Subject {
    pub server: String,
    pub grant: Option<GrantOwner>,
    /// The text edited, and its syntax.
    pub source: String,
    pub format: SourceFormat,
    /// The version saving names in `If-Match`.
    pub version: String,
    /// The policy that decides this subject's calls now.
    pub live: Arc<Policy>,
    /// The server's policy as `GET /api/policies/{server}` answers.
    pub server_policy: Value,
}

impl Subject {
    /// The server's policy, or `grant`'s own for the server.
    pub async fn load(ui: &Ui, server: &str, grant: Option<&str>) -> Result<Subject, UiError> {
        let server_policy = call::json(
            crate::policies::read(State(ui.app.clone()), ApiPath(server.to_owned())).await,
        )
        .await?;
        let server_live = ui
            .app
            .gateway
            .state()
            .servers
            .get(server)
            .map(|rt| rt.policy.load_full())
            .ok_or_else(|| UiError::not_found(format!("no server named {server:?}")))?;
        let server_source = server_policy["source"].as_str().unwrap_or("").to_owned();
        let server_format = match server_policy["format"].as_str() {
            Some("yaml") => SourceFormat::Yaml,
            _ => SourceFormat::Json,
        };
        let Some(label) = grant else {
            return Ok(Subject {
                server: server.to_owned(),
                grant: None,
                source: server_source,
                format: server_format,
                version: server_policy["version"].as_str().unwrap_or("").to_owned(),
                live: server_live,
                server_policy,
            });
        };
        let g =
            call::json(crate::grants::one(State(ui.app.clone()), ApiPath(label.to_owned())).await)
                .await?;
        let own = g["policies"][server].as_str().map(str::to_owned);
        let owner = GrantOwner {
            label: label.to_owned(),
            agent: g["agent"].as_str().unwrap_or("").to_owned(),
            own: own.is_some(),
            changeable: g["source"] == "store" && g["status"] == "active",
        };
        let version = crate::grants::policy_version(own.as_deref());
        let (source, format, live) = match own {
            Some(text) => {
                let format = crate::grants::policy_format(&text);
                let origin = format!("grant {label}/{server}");
                // Checked when it was stored; should it no longer compile, the server's decides.
                let live = toolgate_policy::compile(&text, &origin, format)
                    .map(Arc::new)
                    .unwrap_or_else(|_| server_live.clone());
                (text, format, live)
            }
            None => (server_source, server_format, server_live),
        };
        Ok(Subject {
            server: server.to_owned(),
            grant: Some(owner),
            source,
            format,
            version,
            live,
            server_policy,
        })
    }

    /// Whether this policy can be saved at all (who may is the role's business): a server's needs
    /// a policy file, a grant's a stored, active grant.
    pub fn savable(&self) -> bool {
        match &self.grant {
            Some(g) => g.changeable,
            None => self.server_policy["allow_all"] != true,
        }
    }

    /// The page's query naming the grant (`?grant=…`), or nothing.
    pub fn query(&self) -> String {
        self.grant
            .as_ref()
            .map(|g| format!("?grant={}", encode_component(&g.label)))
            .unwrap_or_default()
    }

    /// Saves `text` over the version `version`, as the operator; the API's answer.
    pub async fn save(
        &self,
        ui: &Ui,
        op: &Operator,
        text: String,
        version: &str,
    ) -> Result<Value, Failure> {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
            headers.insert(http::header::IF_MATCH, v);
        }
        let app = State(ui.app.clone());
        let actor = Extension(op.actor.clone());
        match &self.grant {
            Some(g) => {
                call::json(
                    crate::grants::set_policy(
                        app,
                        actor,
                        ApiPath((g.label.clone(), self.server.clone())),
                        headers,
                        Bytes::from(text),
                    )
                    .await,
                )
                .await
            }
            None => {
                let q = call::query(json!({}))?;
                call::json(
                    crate::policies::replace(
                        app,
                        ApiPath(self.server.clone()),
                        ApiQuery(q),
                        actor,
                        headers,
                        Bytes::from(text),
                    )
                    .await,
                )
                .await
            }
        }
    }
}
