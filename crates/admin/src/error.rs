//! Every way an admin request can fail, as one typed value: a stable `code` (what scripts match
//! on), the HTTP status that goes with it, and a message for people. Rendered as
//! `{"error":{"code":…,"message":…}}`, with extra members (diagnostics) where they help.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};
use toolgate_store::StoreError;

/// The stable error codes of the admin API, each with its one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 401: no admin token, or a wrong one.
    Unauthorized,
    /// 403: refused whoever asks (a non-loopback peer when no admin token is configured).
    Forbidden,
    /// 404: no such server, grant, kill switch or route.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 400: a malformed body, query or parameter.
    InvalidRequest,
    /// 422: a policy that does not compile; `diagnostics` lists every problem.
    InvalidPolicy,
    /// 409: the request contradicts the current state (a label taken, a config-defined grant).
    Conflict,
    /// 412: `If-Match` names a policy version that is no longer in force.
    PreconditionFailed,
    /// 501: the operation needs a store and `[gateway] store = "none"`.
    NoStore,
    /// 503: the store failed.
    StoreUnavailable,
    /// 502: the upstream server could not be reached.
    UpstreamUnavailable,
    /// 500: anything else (a policy file that cannot be written).
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidPolicy,
        ErrorCode::Conflict,
        ErrorCode::PreconditionFailed,
        ErrorCode::NoStore,
        ErrorCode::StoreUnavailable,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::NoStore => "no_store",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidPolicy => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorCode::NoStore => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refused admin request.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra members of the `error` object (`diagnostics`).
    pub extra: Map<String, Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn no_store() -> Self {
        ApiError::new(
            ErrorCode::NoStore,
            "this gateway has no store ([gateway] store = \"none\"): grants, the audit log and kill switches need one",
        )
    }

    /// Every diagnostic of an invalid policy.
    pub fn invalid_policy(diagnostics: &toolgate_policy::Diagnostics) -> Self {
        let n = diagnostics.len();
        ApiError::new(
            ErrorCode::InvalidPolicy,
            format!(
                "the policy is invalid ({n} error{}); nothing was changed",
                if n == 1 { "" } else { "s" }
            ),
        )
        .with("diagnostics", diagnostics_json(diagnostics))
    }
}

/// `[{origin, line, col, pointer, message, help}]`.
pub fn diagnostics_json(diagnostics: &toolgate_policy::Diagnostics) -> Value {
    Value::Array(
        diagnostics
            .iter()
            .map(|d| {
                json!({
                    "origin": d.origin,
                    "line": d.line,
                    "col": d.col,
                    "pointer": d.pointer,
                    "message": d.message,
                    "help": d.help,
                })
            })
            .collect(),
    )
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::GrantExists { .. }
            | StoreError::TokenInUse { .. }
            | StoreError::GrantRevoked { .. } => ErrorCode::Conflict,
            StoreError::GrantNotFound { .. } | StoreError::PinNotFound { .. } => {
                ErrorCode::NotFound
            }
            StoreError::PinDigestMismatch { .. } => ErrorCode::Conflict,
            StoreError::InvalidInput { .. } => ErrorCode::InvalidRequest,
            _ => {
                tracing::error!(error = %e, "admin API: store failure");
                ErrorCode::StoreUnavailable
            }
        };
        ApiError::new(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), self.code.as_str().into());
        error.insert("message".into(), self.message.into());
        error.extend(self.extra);
        (self.code.status(), Json(json!({ "error": error }))).into_response()
    }
}
