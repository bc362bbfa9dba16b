//! The UI reads and changes through the admin API's own handlers: this turns what a handler
//! answers into its JSON body, or a [`Failure`] carrying the API's code, message and any
//! diagnostics, so a page shows exactly what the API would have said.

use axum::response::IntoResponse;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::Value;

/// Most bytes of one API answer the UI reads (a catalogue of thousands of tools fits).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// An API answer that was not a success.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Everything the API put in its `error` object (`diagnostics`, `current_version`).
    pub error: Value,
}

/// The JSON body of a handler's answer.
pub(crate) async fn json(answer: impl IntoResponse) -> Result<Value, Failure> {
    let response = answer.into_response();
    let status = response.status();
    let body = match http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(Failure {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "internal".into(),
                message: format!("cannot read the admin API's answer: {e}"),
                error: Value::Null,
            });
        }
    };
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let error = value.get("error").cloned().unwrap_or(Value::Null);
    Err(Failure {
        status,
        code: error["code"].as_str().unwrap_or("internal").to_owned(),
        message: error["message"]
            .as_str()
            .unwrap_or("the admin API refused the request")
            .to_owned(),
        error,
    })
}

/// A query the API's extractors take, built from JSON (the same fields as the URL's).
pub(crate) fn query<T: serde::de::DeserializeOwned>(fields: Value) -> Result<T, Failure> {
    serde_json::from_value(fields).map_err(|e| Failure {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request".into(),
        message: format!("invalid query: {e}"),
        error: Value::Null,
    })
}
