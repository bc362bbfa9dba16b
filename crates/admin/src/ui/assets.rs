//! The UI's stylesheet and script, compiled into the binary (no CDN, no build step), served with a
//! version in their URL so browsers may keep them for a day.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

const CSS: &str = include_str!("../../assets/ui.css");
const JS: &str = include_str!("../../assets/ui.js");
const ICON: &str = include_str!("../../assets/favicon.svg");

/// Where pages link the stylesheet and the script (the version changes with the crate's).
pub(crate) const CSS_URL: &str = concat!("/ui/assets/ui.css?v=", env!("CARGO_PKG_VERSION"));
pub(crate) const ICON_URL: &str = concat!("/ui/assets/favicon.svg?v=", env!("CARGO_PKG_VERSION"));
pub(crate) const JS_URL: &str = concat!("/ui/assets/ui.js?v=", env!("CARGO_PKG_VERSION"));

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "ui.css" => (CSS, "text/css; charset=utf-8"),
        "ui.js" => (JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    res
}
