//! Turning the pipeline's replies into HTTP responses: JSON when the answer is one message, an
//! SSE stream when the server streams or sends anything before the answer. Shared by the
//! single-server and the aggregate endpoints.

use crate::pipeline::Reply;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use toolgate_mcp::jsonrpc::{self, codes};
use toolgate_mcp::sse;

/// A JSON-RPC error with no id, as an HTTP response with `status`.
pub fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    json_response(status, jsonrpc::error_response(None, code, message))
}

pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

/// A JSON answer sent as the buffers it is made of, without joining them.
pub fn json_parts_response<const N: usize>(parts: [Bytes; N]) -> Response {
    json_response(
        StatusCode::OK,
        Body::new(super::parts_body::PartsBody::new(parts)),
    )
}

pub fn sse_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// A session a GET or DELETE must name: a missing `Mcp-Session-Id` is a 400.
#[allow(clippy::result_large_err)] // the rejection is a ready response, built on the cold path
pub fn required_session<T>(found: Result<Option<T>, Response>) -> Result<T, Response> {
    found?.ok_or_else(|| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "missing Mcp-Session-Id",
        )
    })
}

/// The pipeline's reply as an HTTP response: one JSON answer, an SSE stream of messages, 202
/// for a notification taken, or a refusal with its status.
pub fn reply(reply: Reply) -> Response {
    match reply {
        Reply::Answer(answer) => json_response(StatusCode::OK, answer),
        Reply::Cached(cached) => json_parts_response(cached.parts),
        Reply::Stream(messages) => sse_messages(messages),
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Refused(status, error) => json_response(status, error),
    }
}

/// Messages for the client as an SSE response, one event each.
pub fn sse_messages(messages: BoxStream<'static, Bytes>) -> Response {
    let events = messages.map(|m| Ok::<_, std::convert::Infallible>(sse::encode_message(&m)));
    sse_response(Body::from_stream(events))
}
