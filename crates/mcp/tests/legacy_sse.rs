//! The legacy HTTP+SSE connector against a real third-party server: server-everything in its
//! `sse` mode (the official TypeScript SDK's `SSEServerTransport`), so the handshake, the POSTs
//! and the stream are checked against what old servers actually do, not against our reading of
//! the spec.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use toolgate_mcp::upstream::UpstreamError;
use toolgate_mcp::upstream::bounded::BoundedReceiver;
use toolgate_mcp::upstream::legacy_sse::{LegacySseSession, LegacySseUpstream};

const EVERYTHING_JS: &str = "node_modules/@modelcontextprotocol/server-everything/dist/index.js";
const WAIT: Duration = Duration::from_secs(20);

/// server-everything on a loopback port, in its own process group; dropping it kills the group.
struct Everything {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
    /// Set once the group is killed and the child reaped: its id may be reused after that.
    killed: bool,
}

impl Everything {
    fn start() -> Everything {
        let peers = peers_dir();
        let port = free_port();
        let mut child = Command::new("node")
            .arg(peers.join(EVERYTHING_JS))
            .arg("sse")
            .current_dir(&peers)
            .env("PORT", port.to_string())
            // It listens on every interface unless this preload pins it to loopback.
            .env(
                "NODE_OPTIONS",
                format!("--require {}", peers.join("force-loopback.cjs").display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start node (server-everything)");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut server = Everything {
            child,
            port,
            stderr,
            killed: false,
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server-everything exited ({status}) before listening:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "server-everything did not listen on port {} within 30 s:\n{}",
                self.port,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sse_url(&self) -> String {
        format!("http://127.0.0.1:{}/sse", self.port)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `$TOOLGATE_PEERS` or `<repo>/.peers`, filled by `peers/setup.sh`.
fn peers_dir() -> PathBuf {
    let dir = std::env::var_os("TOOLGATE_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.peers")
                .to_path_buf()
        });
    assert!(
        dir.join(EVERYTHING_JS).is_file() && dir.join("force-loopback.cjs").is_file(),
        "third-party peers are not installed: run `bash peers/setup.sh` (looked in {})",
        dir.display()
    );
    dir
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

async fn send(session: &LegacySseSession, message: Value) {
    session
        .send(Bytes::from(message.to_string()))
        .await
        .unwrap_or_else(|e| panic!("sending {message}: {e}"));
}

/// Reads messages until the response with `id`, skipping the server's notifications.
async fn response(rx: &mut BoundedReceiver<Bytes>, id: i64, server: &Everything) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let item = tokio::time::timeout_at(deadline, rx.recv()).await;
        let bytes = match item {
            Ok(Some(bytes)) => bytes,
            Ok(None) => panic!(
                "stream ended before the response to {id}; saw {seen:?}\n{}",
                server.stderr()
            ),
            Err(_) => panic!(
                "no response to {id} within {WAIT:?}; saw {seen:?}\n{}",
                server.stderr()
            ),
        };
        let message: Value = serde_json::from_slice(&bytes).expect("each item is one JSON text");
        let is_response = message.get("result").is_some() || message.get("error").is_some();
        if is_response && message["id"] == json!(id) {
            return message;
        }
        seen.push(message);
    }
}

async fn open(server: &Everything) -> (LegacySseSession, BoundedReceiver<Bytes>) {
    let mut headers = HeaderMap::new();
    headers.insert("x-upstream-key", HeaderValue::from_static("static-secret"));
    LegacySseUpstream::connect(&server.sse_url(), headers, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.stderr()))
}

async fn initialize(session: &LegacySseSession, rx: &mut BoundedReceiver<Bytes>, s: &Everything) {
    send(
        session,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "toolgate-legacy-sse-test", "version": "0"}
        }}),
    )
    .await;
    let init = response(rx, 1, s).await;
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05", "{init}");
    assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");
    send(
        session,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
}

#[tokio::test]
async fn initialize_list_and_call_echo_then_the_receiver_ends_with_the_server() {
    let mut server = Everything::start();
    let (session, mut rx) = open(&server).await;
    initialize(&session, &mut rx, &server).await;

    send(
        &session,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let list = response(&mut rx, 2, &server).await;
    let tools = list["result"]["tools"].as_array().expect("a tool list");
    assert!(
        tools.iter().any(|t| t["name"] == "echo"),
        "no echo tool in {list}"
    );

    send(
        &session,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"message": "hello over legacy SSE"}
        }}),
    )
    .await;
    let call = response(&mut rx, 3, &server).await;
    let text = call["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("hello over legacy SSE"), "{call}");
    assert_ne!(call["result"]["isError"], true, "{call}");

    // The server goes away: the receiver ends instead of waiting forever.
    server.kill();
    let ended = tokio::time::timeout(WAIT, async { while rx.recv().await.is_some() {} }).await;
    assert!(
        ended.is_ok(),
        "the receiver did not end after the server died"
    );
    assert!(session.is_closed());
    let err = session
        .send(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
        ))
        .await
        .expect_err("nobody is there to take the POST");
    assert!(
        matches!(&err, UpstreamError::Connect { url, .. } if url.ends_with("/message")),
        "{err}"
    );
}

#[tokio::test]
async fn close_ends_the_receiver_and_refuses_later_sends() {
    let server = Everything::start();
    let (session, mut rx) = open(&server).await;
    initialize(&session, &mut rx, &server).await;
    assert!(!session.is_closed());

    session.close();
    let ended = tokio::time::timeout(WAIT, async { while rx.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the receiver did not end after close()");
    let err = session
        .send(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        ))
        .await
        .expect_err("a closed session sends nothing");
    assert!(matches!(err, UpstreamError::Closed(_)), "{err}");
}

#[tokio::test]
async fn two_sessions_on_one_upstream_get_their_own_answers() {
    let server = Everything::start();
    let upstream =
        LegacySseUpstream::new(&server.sse_url(), HeaderMap::new(), Duration::from_secs(10))
            .unwrap();
    let (a, mut rx_a) = upstream.open().await.expect("first session");
    let (b, mut rx_b) = upstream.open().await.expect("second session");
    initialize(&a, &mut rx_a, &server).await;
    initialize(&b, &mut rx_b, &server).await;
    for (session, rx, word) in [(&a, &mut rx_a, "alpha"), (&b, &mut rx_b, "beta")] {
        send(
            session,
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
                "name": "echo", "arguments": {"message": word}
            }}),
        )
        .await;
        let call = response(rx, 7, &server).await;
        let text = call["result"]["content"][0]["text"].as_str().unwrap_or("");
        assert!(text.contains(word), "{word}: {call}");
    }
}
