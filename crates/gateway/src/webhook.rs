//! Approval notifications: a signed JSON POST to the webhook of `approval.notify.webhook`, retried with
//! exponential backoff, bounded by a total deadline.
//!
//! Each delivery carries:
//! - `Content-Type: application/json`, the body exactly as signed;
//! - `X-Toolgate-Event`: what happened (`approval.requested`, ...);
//! - `X-Toolgate-Delivery`: an id that stays the same across the retries of one notification, so that a
//!   receiver can drop duplicates;
//! - `X-Toolgate-Signature: sha256=<hex HMAC-SHA256 of the body bytes>` when a secret is configured
//!   (check it with [`verify_signature`]).
//!
//! Connect errors, timeouts, 5xx and 429 answers are retried; any other non-2xx answer is final (the
//! receiver refused this notification, and would again). Redirects are not followed.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::time::Instant;
use toolgate_store::Approval;

/// The header carrying the body's HMAC: `sha256=<64 lowercase hex characters>`.
pub const SIGNATURE_HEADER: &str = "X-Toolgate-Signature";
/// The header naming the event.
pub const EVENT_HEADER: &str = "X-Toolgate-Event";
/// The header identifying one notification across its retries.
pub const DELIVERY_HEADER: &str = "X-Toolgate-Delivery";
/// The event of a call waiting for approval.
pub const APPROVAL_REQUESTED: &str = "approval.requested";

/// When and how often a notification is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long as the previous one.
    pub initial_backoff: Duration,
    /// No wait is longer than this.
    pub max_backoff: Duration,
    /// One try (connect, send, answer) gives up after this.
    pub attempt_timeout: Duration,
    /// The whole notification, every try and wait included, gives up after this.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 4 tries: at once, then after 0.5 s, 1 s and 2 s; 5 s per try; 15 s in all.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not an absolute http(s) URL.
    #[error("webhook URL {url:?} is invalid: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The receiver answered with a status that is not retried (a 4xx other than 429).
    #[error("webhook {url} refused the notification: HTTP {status}")]
    Rejected { url: String, status: u16 },
    /// Every try failed; `last` is the last failure.
    #[error("webhook {url} failed after {attempts} attempts: {last}")]
    Exhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    /// The total deadline passed before a try succeeded.
    #[error("webhook {url} not delivered within {deadline:?} ({attempts} attempts; last: {last})")]
    DeadlineExceeded {
        url: String,
        deadline: Duration,
        attempts: u32,
        last: String,
    },
}

/// Sends signed webhook notifications. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    secret: Option<String>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("signed", &self.secret.is_some())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier signing with `secret` (unsigned when `None`), with the default [`RetryPolicy`].
    pub fn new(secret: Option<String>) -> WebhookNotifier {
        WebhookNotifier::with_retry(secret, RetryPolicy::default())
    }

    /// A notifier with its own retry policy.
    pub fn with_retry(secret: Option<String>, retry: RetryPolicy) -> WebhookNotifier {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("toolgate/", env!("CARGO_PKG_VERSION")))
            .timeout(retry.attempt_timeout)
            .connect_timeout(retry.attempt_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        WebhookNotifier {
            client,
            secret: secret.filter(|s| !s.is_empty()),
            retry,
        }
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// POSTs `payload` to `url` as the event named by its `"event"` member ([`APPROVAL_REQUESTED`] when
    /// it has none), retrying as the [`RetryPolicy`] says. `Ok` once the receiver answered 2xx.
    pub async fn notify(&self, url: &str, payload: &Value) -> Result<(), WebhookError> {
        let event = payload
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or(APPROVAL_REQUESTED);
        self.notify_event(url, event, payload).await
    }

    /// [`WebhookNotifier::notify`] with the event given.
    pub async fn notify_event(
        &self,
        url: &str,
        event: &str,
        payload: &Value,
    ) -> Result<(), WebhookError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| WebhookError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebhookError::InvalidUrl {
                url: url.to_owned(),
                reason: "the scheme must be http or https".into(),
            });
        }
        // Serialising a Value cannot fail; these bytes are both sent and signed.
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let signature = self.secret.as_deref().map(|s| signature_header(s, &body));
        let delivery = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + self.retry.deadline;
        let attempts = self.retry.attempts.max(1);
        let mut tried = 0;
        let mut last = String::from("not tried");
        let out_of_time = |tried: u32, last: String| WebhookError::DeadlineExceeded {
            url: url.to_owned(),
            deadline: self.retry.deadline,
            attempts: tried,
            last,
        };
        while tried < attempts {
            tried += 1;
            let mut request = self
                .client
                .post(parsed.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(EVENT_HEADER, event)
                .header(DELIVERY_HEADER, &delivery)
                .body(body.clone());
            if let Some(sig) = &signature {
                request = request.header(SIGNATURE_HEADER, sig);
            }
            match tokio::time::timeout_at(deadline, request.send()).await {
                Err(_) => return Err(out_of_time(tried, "the try did not finish in time".into())),
                Ok(Ok(response)) => {
                    let status = response.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    if !(status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS)
                    {
                        return Err(WebhookError::Rejected {
                            url: url.to_owned(),
                            status: status.as_u16(),
                        });
                    }
                    last = format!("HTTP {}", status.as_u16());
                }
                Ok(Err(e)) => last = transport_error(&e),
            }
            tracing::debug!(url, attempt = tried, error = %last, "webhook attempt failed");
            if tried < attempts {
                let wake = Instant::now() + self.retry.backoff(tried);
                if wake >= deadline {
                    return Err(out_of_time(tried, last));
                }
                tokio::time::sleep_until(wake).await;
            }
        }
        Err(WebhookError::Exhausted {
            url: url.to_owned(),
            attempts: tried,
            last,
        })
    }

    /// Runs [`WebhookNotifier::notify`] in the background (the caller does not wait for the receiver),
    /// logging a failure as a warning. The handle is only for tests and shutdown.
    pub fn spawn_notify(&self, url: String, payload: Value) -> tokio::task::JoinHandle<()> {
        let notifier = self.clone();
        tokio::spawn(async move {
            match notifier.notify(&url, &payload).await {
                Ok(()) => tracing::debug!(url, "webhook delivered"),
                Err(e) => tracing::warn!(url, error = %e, "webhook notification failed"),
            }
        })
    }
}

/// A reqwest failure without the URL (the caller's error names it once).
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner_pad = [0x36u8; BLOCK];
    let mut outer_pad = [0x5cu8; BLOCK];
    for ((i, o), k) in inner_pad.iter_mut().zip(&mut outer_pad).zip(&block_key) {
        *i ^= k;
        *o ^= k;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The [`SIGNATURE_HEADER`] value for `body`: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature_header(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

/// Whether `header` (the [`SIGNATURE_HEADER`] value) signs exactly `body` with `secret`. The comparison
/// takes the same time wherever the first difference is.
pub fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let expected = hmac_sha256(secret.as_bytes(), body);
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The [`APPROVAL_REQUESTED`] payload for a pending approval: the call (agent, grant, server, tool, the
/// arguments as stored, i.e. as the audit settings allow), its risk when known, when it expires, and,
/// when the admin API's public address is known, links to show, approve and deny it.
pub fn approval_payload(
    approval: &Approval,
    risk: Option<&str>,
    admin_base: Option<&str>,
) -> Value {
    let links = admin_base.map(|base| {
        let base = base.trim_end_matches('/');
        let at = format!("{base}/api/approvals/{}", approval.id);
        json!({
            "show": at,
            "approve": format!("{at}/approve"),
            "deny": format!("{at}/deny"),
        })
    });
    json!({
        "event": APPROVAL_REQUESTED,
        "approval": {
            "id": approval.id,
            "mode": approval.mode,
            "status": approval.status,
            "created_at_ms": approval.created_at_ms,
            "expires_at_ms": approval.expires_at_ms,
            "rule": approval.rule,
        },
        "call": {
            "agent": approval.binding.agent,
            "grant": approval.binding.grant,
            "server": approval.binding.server,
            "tool": approval.binding.tool,
            "arguments": approval.arguments,
            "args_digest": approval.binding.args_digest,
            "policy_version": approval.binding.policy_version,
            "risk": risk,
        },
        "links": links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use parking_lot::Mutex;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// What a receiver saw: per request, its headers and body.
    type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

    /// A receiver on 127.0.0.1:0 answering `statuses[i]` to request `i` (the last one thereafter).
    async fn receiver(statuses: Vec<StatusCode>) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let count = Arc::new(AtomicU32::new(0));
        let app = Router::new().route(
            "/hook",
            post({
                let seen = seen.clone();
                move |headers: HeaderMap, body: Bytes| async move {
                    seen.lock().push((headers, body));
                    let i = count.fetch_add(1, Ordering::SeqCst) as usize;
                    statuses[i.min(statuses.len() - 1)]
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/hook"), seen)
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(5),
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signatures_verify_only_for_the_same_secret_and_body() {
        let header = signature_header("s3cret", b"{\"a\":1}");
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(verify_signature("s3cret", b"{\"a\":1}", &header));
        assert!(!verify_signature("s3cret", b"{\"a\":2}", &header));
        assert!(!verify_signature("other", b"{\"a\":1}", &header));
        assert!(!verify_signature("s3cret", b"{\"a\":1}", &header[7..]));
        assert!(!verify_signature("s3cret", b"{\"a\":1}", "sha256=zz"));
        assert!(!verify_signature("s3cret", b"{\"a\":1}", &header[..40]));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert_eq!(p.backoff(10), Duration::from_secs(8));
        assert_eq!(p.backoff(200), Duration::from_secs(8));
    }

    #[tokio::test]
    async fn delivers_a_signed_body_with_the_event() {
        let (url, seen) = receiver(vec![StatusCode::NO_CONTENT]).await;
        let notifier = WebhookNotifier::with_retry(Some("s3cret".into()), fast());
        let payload = json!({"event": "approval.requested", "call": {"tool": "deleteOneCompany"}});
        notifier.notify(&url, &payload).await.unwrap();
        let seen = seen.lock();
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        let sig = headers[SIGNATURE_HEADER].to_str().unwrap();
        assert!(verify_signature("s3cret", body, sig));
        assert!(!verify_signature("wrong", body, sig));
        assert_eq!(headers[EVENT_HEADER], "approval.requested");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(serde_json::from_slice::<Value>(body).unwrap(), payload);
    }

    #[tokio::test]
    async fn without_a_secret_nothing_is_signed() {
        let (url, seen) = receiver(vec![StatusCode::OK]).await;
        WebhookNotifier::with_retry(None, fast())
            .notify_event(&url, "approval.decided", &json!({}))
            .await
            .unwrap();
        let seen = seen.lock();
        assert!(!seen[0].0.contains_key(SIGNATURE_HEADER));
        assert_eq!(seen[0].0[EVENT_HEADER], "approval.decided");
    }

    #[tokio::test]
    async fn a_receiver_failing_twice_gets_it_on_the_third_try() {
        let (url, seen) = receiver(vec![
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::OK,
        ])
        .await;
        let notifier = WebhookNotifier::with_retry(Some("k".into()), fast());
        let started = std::time::Instant::now();
        notifier.notify(&url, &json!({"n": 1})).await.unwrap();
        // Backoff: 20 ms, then 40 ms.
        assert!(started.elapsed() >= Duration::from_millis(60));
        let seen = seen.lock();
        assert_eq!(seen.len(), 3);
        // The same delivery, byte for byte, each time.
        let delivery = &seen[0].0[DELIVERY_HEADER];
        for (headers, body) in seen.iter() {
            assert_eq!(&headers[DELIVERY_HEADER], delivery);
            assert_eq!(body, &seen[0].1);
            assert!(verify_signature(
                "k",
                body,
                headers[SIGNATURE_HEADER].to_str().unwrap()
            ));
        }
    }

    #[tokio::test]
    async fn with_the_default_policy_the_third_try_comes_after_one_and_a_half_seconds() {
        let (url, seen) = receiver(vec![
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::OK,
        ])
        .await;
        let started = std::time::Instant::now();
        WebhookNotifier::new(Some("k".into()))
            .notify(&url, &json!({}))
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1_500) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(seen.lock().len(), 3);
    }

    #[tokio::test]
    async fn a_receiver_that_always_fails_gives_an_error_after_the_attempts() {
        let (url, seen) = receiver(vec![StatusCode::SERVICE_UNAVAILABLE]).await;
        let started = std::time::Instant::now();
        let err = WebhookNotifier::with_retry(None, fast())
            .notify(&url, &json!({}))
            .await
            .unwrap_err();
        match &err {
            WebhookError::Exhausted { attempts, last, .. } => {
                assert_eq!(*attempts, 3);
                assert_eq!(last, "HTTP 503");
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < fast().deadline);
        assert_eq!(seen.lock().len(), 3);
    }

    #[tokio::test]
    async fn the_total_deadline_bounds_slow_receivers_and_long_backoffs() {
        // A receiver that never answers in time.
        let app = Router::new().route(
            "/hook",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                StatusCode::OK
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let policy = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_millis(400),
        };
        let started = std::time::Instant::now();
        let err = WebhookNotifier::with_retry(None, policy)
            .notify(&format!("http://{addr}/hook"), &json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, WebhookError::DeadlineExceeded { attempts: 1, .. }),
            "{err:?}"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(2),
            "{took:?}"
        );

        // A backoff that would end past the deadline stops at once instead of sleeping.
        let (url, seen) = receiver(vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
        let policy = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
            deadline: Duration::from_secs(1),
            ..fast()
        };
        let started = std::time::Instant::now();
        let err = WebhookNotifier::with_retry(None, policy)
            .notify(&url, &json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, WebhookError::DeadlineExceeded { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(900));
        assert_eq!(seen.lock().len(), 1);
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = WebhookNotifier::with_retry(None, fast())
            .notify(&format!("http://{addr}/hook"), &json!({}))
            .await
            .unwrap_err();
        match err {
            WebhookError::Exhausted { attempts, last, .. } => {
                assert_eq!(attempts, 3);
                assert!(last.contains("connect"), "{last}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried_and_bad_urls_are_refused() {
        let (url, seen) = receiver(vec![StatusCode::UNAUTHORIZED]).await;
        let err = WebhookNotifier::with_retry(Some("k".into()), fast())
            .notify(&url, &json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, WebhookError::Rejected { status: 401, .. }),
            "{err:?}"
        );
        assert_eq!(seen.lock().len(), 1);
        for bad in ["not a url", "ftp://example.com/hook", "/relative"] {
            let err = WebhookNotifier::new(None)
                .notify(bad, &json!({}))
                .await
                .unwrap_err();
            assert!(matches!(err, WebhookError::InvalidUrl { .. }), "{bad}");
        }
    }

    #[tokio::test]
    async fn spawn_notify_delivers_in_the_background() {
        let (url, seen) = receiver(vec![StatusCode::OK]).await;
        let notifier = WebhookNotifier::with_retry(Some("k".into()), fast());
        notifier
            .spawn_notify(url, json!({"event": "approval.requested"}))
            .await
            .unwrap();
        assert_eq!(seen.lock().len(), 1);
        // A failure is only logged.
        notifier
            .spawn_notify("http://127.0.0.1:1/hook".into(), json!({}))
            .await
            .unwrap();
    }

    #[test]
    fn the_approval_payload_describes_the_call_and_links_to_the_decision() {
        let approval = Approval::from_new(
            "apv_0123456789abcdef".into(),
            1,
            toolgate_store::NewApproval {
                mode: toolgate_store::ApprovalMode::Retry,
                binding: toolgate_store::ApprovalBinding {
                    grant: Some("alice-laptop".into()),
                    agent: "alice".into(),
                    server: "crm".into(),
                    tool: "deleteOneCompany".into(),
                    args_digest: toolgate_store::args_digest(&json!({"id": 1})),
                    policy_version: "v3".into(),
                },
                rule: "/tools/deleteOneCompany".into(),
                arguments: Some(json!({"id": 1})),
                created_at_ms: 10,
                expires_at_ms: 600_010,
            },
        );
        let p = approval_payload(&approval, Some("destructive"), Some("https://gw.example/"));
        assert_eq!(p["event"], APPROVAL_REQUESTED);
        assert_eq!(p["approval"]["id"], "apv_0123456789abcdef");
        assert_eq!(p["approval"]["mode"], "retry");
        assert_eq!(p["call"]["agent"], "alice");
        assert_eq!(p["call"]["tool"], "deleteOneCompany");
        assert_eq!(p["call"]["arguments"], json!({"id": 1}));
        assert_eq!(p["call"]["risk"], "destructive");
        assert_eq!(
            p["links"]["approve"],
            "https://gw.example/api/approvals/apv_0123456789abcdef/approve"
        );
        assert_eq!(
            p["links"]["deny"],
            "https://gw.example/api/approvals/apv_0123456789abcdef/deny"
        );
        let bare = approval_payload(&approval, None, None);
        assert_eq!(bare["links"], Value::Null);
        assert_eq!(bare["call"]["risk"], Value::Null);
    }
}
