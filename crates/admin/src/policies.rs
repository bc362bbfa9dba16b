//! `/api/policies/{server}`: read a server's policy (the file's text and the version in force),
//! validate a candidate (every diagnostic, located), and replace it — validated, written to the
//! policy file, applied to the running server atomically and audited as `policy.replace`, or
//! refused with nothing changed.
//!
//! The body is the policy text itself. Its syntax comes from `?format=json|yaml`, else the
//! `Content-Type` (`application/json`; `application/yaml`, `text/yaml`, …), else the extension of
//! the server's policy file.

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiPath, ApiQuery};
use axum::body::Bytes as Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use toolgate_gateway::admin_ops::ReplacePolicyError;
use toolgate_gateway::server::ServerRuntime;
use toolgate_policy::SourceFormat;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    format: Option<String>,
}

pub async fn read(
    State(app): State<AppState>,
    ApiPath(server): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let runtime = runtime(&app, &server)?;
    let version = runtime.policy.load().version_hash().to_owned();
    let Some(path) = &runtime.settings.policy_path else {
        return Ok(Json(json!({
            "server": server,
            "path": null,
            "allow_all": true,
            "version": version,
            "format": null,
            "source": null,
        })));
    };
    let source = tokio::fs::read_to_string(path).await.map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("cannot read the policy file {}: {e}", path.display()),
        )
    })?;
    let source_version = hex::encode(Sha256::digest(source.as_bytes()));
    Ok(Json(json!({
        "server": server,
        "path": path.display().to_string(),
        "allow_all": false,
        "version": version,
        "format": format_name(file_format(&runtime)),
        "source": source,
        "source_version": source_version,
        // False when the file was edited and the edit is not (or not yet) in force.
        "in_force": source_version == version,
    })))
}

pub async fn validate(
    State(app): State<AppState>,
    ApiPath(server): ApiPath<String>,
    ApiQuery(query): ApiQuery<FormatQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let runtime = runtime(&app, &server)?;
    let format = body_format(query.format.as_deref(), &headers, file_format(&runtime))?;
    let text = utf8(&body)?;
    let origin = runtime.settings.policy_path.as_ref().map_or_else(
        || format!("{server} (request)"),
        |p| p.display().to_string(),
    );
    let policy = toolgate_gateway::admin_ops::validate_policy(text, &origin, format)
        .map_err(|d| ApiError::invalid_policy(&d))?;
    Ok(Json(json!({
        "valid": true,
        "server": server,
        "format": format_name(format),
        "version": policy.version_hash(),
    })))
}

pub async fn replace(
    State(app): State<AppState>,
    ApiPath(server): ApiPath<String>,
    ApiQuery(query): ApiQuery<FormatQuery>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let runtime = runtime(&app, &server)?;
    let file = file_format(&runtime);
    let format = body_format(query.format.as_deref(), &headers, file)?;
    if runtime.settings.policy_path.is_some() && format != file {
        return Err(ApiError::invalid_request(format!(
            "the policy file of server {server:?} is {}; send the policy as {} (or change the file's name in the config)",
            format_name(file),
            format_name(file)
        )));
    }
    let text = utf8(&body)?;
    let expected = if_match(&headers)?;
    let done = app
        .gateway
        .replace_policy(&server, text, format, expected.as_deref(), &actor.0)
        .await
        .map_err(|e| match e {
            ReplacePolicyError::UnknownServer(_) => ApiError::not_found(e.to_string()),
            ReplacePolicyError::NoPolicyFile(_) => {
                ApiError::new(ErrorCode::Conflict, e.to_string())
            }
            ReplacePolicyError::VersionMismatch { ref current, .. } => {
                let current = current.clone();
                ApiError::new(ErrorCode::PreconditionFailed, e.to_string())
                    .with("current_version", current.into())
            }
            ReplacePolicyError::Invalid(d) => ApiError::invalid_policy(&d),
            ReplacePolicyError::Audit(s) => ApiError::new(
                ErrorCode::StoreUnavailable,
                format!("{s}; the policy was not changed"),
            ),
            ReplacePolicyError::Write { .. } => ApiError::new(ErrorCode::Internal, e.to_string()),
        })?;
    Ok(Json(json!({
        "server": done.server,
        "path": done.path.display().to_string(),
        "previous_version": done.previous_version,
        "version": done.version,
        "changed": done.changed,
        "audited": done.audited,
    })))
}

fn runtime(app: &AppState, server: &str) -> ApiResult<Arc<ServerRuntime>> {
    app.gateway
        .state()
        .servers
        .get(server)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no server named {server:?}")))
}

/// The syntax of the server's policy file (JSON for a server without one).
fn file_format(runtime: &ServerRuntime) -> SourceFormat {
    runtime
        .settings
        .policy_path
        .as_ref()
        .map_or(SourceFormat::Json, |p| {
            SourceFormat::from_path(&p.display().to_string())
        })
}

fn format_name(format: SourceFormat) -> &'static str {
    match format {
        SourceFormat::Json => "json",
        SourceFormat::Yaml => "yaml",
    }
}

fn body_format(
    query: Option<&str>,
    headers: &HeaderMap,
    default: SourceFormat,
) -> ApiResult<SourceFormat> {
    if let Some(f) = query {
        return match f.to_ascii_lowercase().as_str() {
            "json" => Ok(SourceFormat::Json),
            "yaml" | "yml" => Ok(SourceFormat::Yaml),
            other => Err(ApiError::invalid_request(format!(
                "format {other:?} is not a policy format; use json or yaml"
            ))),
        };
    }
    let Some(ct) = headers.get(http::header::CONTENT_TYPE) else {
        return Ok(default);
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json" => Ok(SourceFormat::Json),
        e if e.ends_with("+json") => Ok(SourceFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
            Ok(SourceFormat::Yaml)
        }
        "" | "text/plain" | "application/octet-stream" => Ok(default),
        other => Err(ApiError::invalid_request(format!(
            "Content-Type {other:?} is not a policy format; send application/json or application/yaml (or ?format=json|yaml)"
        ))),
    }
}

fn utf8(body: &[u8]) -> ApiResult<&str> {
    std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid_request(format!("the policy is not UTF-8 text: {e}")))
}

/// The version named by `If-Match` (quotes and a weak prefix removed), if sent.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::invalid_request("If-Match is not ASCII"))?
        .trim();
    if v == "*" {
        return Ok(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    Ok(Some(v.trim_matches('"').to_owned()))
}
