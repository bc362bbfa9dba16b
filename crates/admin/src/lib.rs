//! toolgate's admin API: JSON over HTTP, mounted by the binary under `/api`.
//!
//! - **Who**: [`auth::authenticate`] runs first on every request (a bearer admin token, or loopback
//!   peers only when none is configured) and names the [`auth::Actor`] that admin audit events
//!   record.
//! - **What**: servers and their health ([`servers`]), the tools a server lists, policies — read,
//!   validate, replace ([`policies`]) — grants ([`grants`]), the audit log ([`audit`]), kill
//!   switches ([`kill`]), calls held for approval ([`approvals`]), and the tool catalogue with its
//!   pins ([`pins`]). Every change is recorded in
//!   the admin audit stream.
//! - **How it fails**: every rejection is an [`error::ApiError`] with a stable code and its own
//!   status; the table is in [`error::ErrorCode`].
//! - **What it says about itself**: `GET /api/openapi.json`, an OpenAPI 3.1 document of every
//!   route of [`route_table`] (a test checks they agree).

pub mod access;
pub mod approvals;
pub mod audit;
pub mod audit_stream;
pub mod auth;
pub mod error;
pub mod extract;
pub mod grants;
pub mod kill;
pub mod openapi;
pub mod pins;
pub mod policies;
pub mod role;
pub mod servers;
pub mod ui;

pub use access::{Access, LiveAccess};
pub use auth::{AdminAuth, AdminCredential};
pub use error::{ApiError, ErrorCode};
pub use ui::{OneTimeLogin, UiOptions};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};
use std::sync::Arc;
use toolgate_gateway::Gateway;

/// What every handler reads.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    /// Who may do what, as the configuration says now.
    pub access: LiveAccess,
}

/// Largest request body (a policy document).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Every route of the API: (path relative to `/api`, method, handler). The router is built from
/// this table, and the OpenAPI document is checked against it.
fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("/openapi.json", "GET", get(openapi::document)),
        ("/servers", "GET", get(servers::list)),
        ("/servers/{name}", "GET", get(servers::one)),
        ("/servers/{name}/tools", "GET", get(servers::tools)),
        ("/policies/{server}", "GET", get(policies::read)),
        ("/policies/{server}", "PUT", put(policies::replace)),
        (
            "/policies/{server}/validate",
            "POST",
            post(policies::validate),
        ),
        ("/grants", "GET", get(grants::list)),
        ("/grants", "POST", post(grants::create)),
        ("/grants/{label}", "GET", get(grants::one)),
        ("/grants/{label}/revoke", "POST", post(grants::revoke)),
        ("/grants/{label}/rotate", "POST", post(grants::rotate)),
        ("/grants/{label}/expiry", "PUT", put(grants::set_expiry)),
        (
            "/grants/{label}/policies/{server}",
            "PUT",
            put(grants::set_policy),
        ),
        (
            "/grants/{label}/policies/{server}",
            "DELETE",
            delete(grants::remove_policy),
        ),
        ("/audit", "GET", get(audit::query)),
        ("/audit/verify", "GET", get(audit::verify)),
        ("/audit/stream", "GET", get(audit_stream::stream)),
        ("/kill-switches", "GET", get(kill::list)),
        ("/kill-switches", "POST", post(kill::engage)),
        ("/kill-switches/{scope}", "DELETE", delete(kill::release)),
        (
            "/kill-switches/{scope}/{target}",
            "DELETE",
            delete(kill::release_target),
        ),
        ("/approvals", "GET", get(approvals::list)),
        ("/approvals/stream", "GET", get(approvals::stream)),
        ("/approvals/{id}", "GET", get(approvals::one)),
        ("/approvals/{id}/approve", "POST", post(approvals::approve)),
        ("/approvals/{id}/deny", "POST", post(approvals::deny)),
        ("/catalog", "GET", get(pins::catalog)),
        ("/pins", "GET", get(pins::quarantined)),
        ("/pins/{server}/{tool}", "GET", get(pins::one)),
        ("/pins/{server}/{tool}/approve", "POST", post(pins::approve)),
    ]
}

/// Every (method, path) the router serves, paths relative to `/api`.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|(p, m, _)| (m, p)).collect()
}

/// The admin API, its paths relative to where it is mounted (`/api`; see [`api`]).
pub fn router(gateway: Arc<Gateway>, access: LiveAccess) -> Router {
    let state = AppState { gateway, access };
    let mut router = Router::new();
    for (path, _, handler) in routes() {
        router = router.route(path, handler);
    }
    router
        .fallback(|| async {
            ApiError::not_found("no such admin API route; see /api/openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method; see /api/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Authentication wraps everything, the fallbacks included.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
}

/// The admin plane: [`router`] under `/api` and the web UI under `/ui` (read-write), with the
/// UI's default [`UiOptions`].
pub fn api(gateway: Arc<Gateway>, auth: AdminAuth) -> Router {
    admin_plane(gateway, Access::new(auth).into(), UiOptions::default())
}

/// The admin plane: the JSON API under `/api` and the web UI ([`ui`]) under `/ui`, offered as
/// `ui_options` say; both read `access` on every request, so what replaces its content (a
/// configuration reload) applies from the next request on.
pub fn admin_plane(gateway: Arc<Gateway>, access: LiveAccess, ui_options: UiOptions) -> Router {
    let ui = ui::router(
        AppState {
            gateway: gateway.clone(),
            access: access.clone(),
        },
        ui_options,
    );
    Router::new()
        .nest("/api", router(gateway, access))
        .nest("/ui", ui)
        .route(
            "/ui/",
            axum::routing::get(|| async { axum::response::Redirect::to("/ui") }),
        )
}

/// The current time, ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    toolgate_gateway::enforce::now_ms()
}
