//! A POST's headers and body, moved out of the request: axum's `HeaderMap` extractor would copy
//! every header of every message.

use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// The headers and the whole body (within the router's body limit) of a POST.
#[derive(Debug)]
pub struct Posted {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        // The body extractor reads the limit from the extensions, which stay with the parts.
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { headers, body })
    }
}
