//! `GET /api/openapi.json`: the API described as an OpenAPI 3.1 document, written by hand in
//! `openapi.json` beside this file (a test parses it and checks it names every route).

use axum::Json;
use serde_json::Value;
use std::sync::OnceLock;

/// The document's text.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The document, parsed once.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| serde_json::from_str(OPENAPI_JSON).expect("openapi.json is valid JSON"))
}

pub async fn document() -> Json<Value> {
    Json(spec().clone())
}
