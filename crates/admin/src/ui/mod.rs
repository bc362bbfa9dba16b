//! The operator's web UI at `/ui`, beside the admin API on the admin listener: server-rendered
//! pages (maud templates, escaped by construction) with a little JavaScript for the live parts,
//! every asset compiled into the binary. Pages read through the same functions the JSON API
//! serves, and every change is made by calling the API's own handler with the signed-in operator
//! as the actor, so the UI can do nothing the API would not, and it lands in the admin audit
//! stream the same way.
//!
//! The stack, outermost first: security headers on every answer ([`access::headers`]); the
//! public routes (sign-in, assets); then [`access::require_session`] (session cookie, and for
//! every change a same-origin check and the session's CSRF token) in front of the pages.

mod access;
mod approvals;
mod assets;
mod audit;
mod call;
mod catalogue;
mod diff;
mod grants;
mod layout;
mod login;
mod overview;
mod pins;
mod policy;
mod policy_subject;
mod session;
mod tool;

pub use login::OneTimeLogin;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// How the UI is offered (its mode, read-only or not, is part of the [`crate::Access`] in force,
/// which a reload may change).
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// A sign-in link that works once (`toolgate demo` prints it).
    pub one_time_login: Option<OneTimeLogin>,
    /// Where the data plane listens, for the client snippet of a new grant.
    pub mcp_address: Option<SocketAddr>,
}

/// What every UI handler reads.
#[derive(Clone)]
pub(crate) struct Ui {
    pub app: AppState,
    pub sessions: Arc<session::Sessions>,
    /// Taken (and so spent) by the first sign-in through it.
    pub one_time_login: Arc<Mutex<Option<OneTimeLogin>>>,
    /// Where the data plane listens (client snippets).
    pub mcp_address: Option<SocketAddr>,
}

impl Ui {
    /// `[admin] ui = "read-only"` is in force: every operator reads, nobody changes anything
    /// through the UI (the JSON API is unaffected).
    pub fn read_only(&self) -> bool {
        self.app.access.current().ui_read_only
    }
}

/// The UI's routes, relative to where it is mounted (`/ui`).
pub(crate) fn router(app: AppState, options: UiOptions) -> Router {
    let ui = Ui {
        app,
        sessions: Arc::default(),
        one_time_login: Arc::new(Mutex::new(options.one_time_login)),
        mcp_address: options.mcp_address,
    };
    let pages = Router::new()
        .route("/", get(overview::page))
        .route("/kill-switches", post(overview::kill_switch))
        .route("/catalogue", get(catalogue::page))
        .route("/catalogue/{server}/{tool}", get(tool::page))
        .route("/approvals", get(approvals::page))
        .route("/approvals/stream", get(approvals::stream))
        .route("/approvals/{id}/{verdict}", post(approvals::decide))
        .route("/audit", get(audit::page))
        .route("/audit/stream", get(audit::stream))
        .route("/audit/export.jsonl", get(audit::export))
        .route("/audit/verify", get(audit::verify))
        .route("/audit/{stream}/{seq}", get(audit::record))
        .route("/policies", get(policy::index))
        .route("/policies/{server}", get(policy::page))
        .route("/policies/{server}/check", post(policy::check))
        .route("/policies/{server}/simulate", post(policy::simulate))
        .route("/policies/{server}/save", post(policy::save))
        .route("/policies/{server}/forget", post(policy::forget))
        .route("/pins", get(pins::index))
        .route("/pins/{server}/{tool}", get(pins::page))
        .route("/pins/{server}/{tool}/approve", post(pins::approve))
        .route("/grants", get(grants::index).post(grants::create))
        .route("/grants/{label}/rotate", post(grants::rotate))
        .route("/grants/{label}/expiry", post(grants::expiry))
        .route("/grants/{label}/revoke", post(grants::revoke))
        .route("/logout", post(login::logout))
        .layer(axum::middleware::from_fn_with_state(
            ui.clone(),
            access::require_session,
        ));
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/login/once", get(login::once))
        .route("/assets/{name}", get(assets::serve))
        .merge(pages)
        .fallback(|| async { access::UiError::not_found("no such page") })
        .layer(axum::middleware::from_fn(access::headers))
        .with_state(ui)
}
