//! End to end: the approval webhook of a held call, with the real binary in front of the
//! Twenty-like stdio server and the real Python SDK client (on a thread, so that the test can decide
//! while the client waits).
//!
//! The receiver (a small HTTP server in this test) fails the first two deliveries with 500 and gets
//! the notification on the third try; the body is signed with `[approvals] webhook_secret` (read from
//! `${ENV}`, ahead of `TOOLGATE_WEBHOOK_SECRET`), names the agent, server, tool and approval id, and
//! links to approve/deny under `[approvals] public_url`. Approving with `toolgate approvals approve`
//! releases the call, and the client gets the server's real result.

mod common;

use common::{Toolgate, result_text, toml_array, toml_str};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use toolgate_gateway::identity::token_hash_hex;
use toolgate_gateway::webhook::{
    DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify_signature,
};
use toolgate_testkit::{McpClient, twenty_stdio_command};

const SECRET: &str = "e2e-webhook-secret-from-config";
const ENV_SECRET: &str = "e2e-webhook-secret-from-the-fallback-variable";
const AGENT_TOKEN: &str = "e2e-webhook-agent-token";
const PUBLIC_URL: &str = "https://toolgate.example.test/";

/// One delivery as received: header names lowercased, and the body bytes.
type Delivery = (Vec<(String, String)>, Vec<u8>);

/// An HTTP receiver on 127.0.0.1:0 answering `statuses` in turn (the last one from then on) and
/// recording every request.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let n = recorded.lock().unwrap().len();
                let status = statuses[n.min(statuses.len() - 1)];
                if let Some(delivery) = serve_one(stream, status) {
                    recorded.lock().unwrap().push(delivery);
                }
            }
        });
        Receiver { url, seen }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries arrived.
    fn wait_for(&self, n: usize, gw: &Toolgate) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.deliveries();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{n} deliveries never arrived ({} did); log:\n{}",
                seen.len(),
                gw.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Reads one HTTP/1.1 request and answers `status`, closing the connection.
fn serve_one(stream: TcpStream, status: u16) -> Option<Delivery> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    assert!(request_line.starts_with("POST /hook "), "{request_line:?}");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let reason = if status == 200 { "OK" } else { "Error" };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = stream.flush();
    Some((headers, body))
}

fn header<'a>(delivery: &'a Delivery, name: &str) -> &'a str {
    let name = name.to_ascii_lowercase();
    delivery
        .0
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", delivery.0))
}

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn the_webhook_gets_a_signed_notification_on_the_third_try_and_the_approved_call_goes_through() {
    let hook = Receiver::start(vec![500, 500, 200]);
    let policy = json!({
        "version": "1",
        "default": "allow",
        "tools": {
            "deleteOneCompany": {
                "action": "require_approval",
                "approval": {"timeout": "20s", "notify": {"webhook": hook.url}}
            }
        }
    });
    let twenty = twenty_stdio_command();
    let config = format!(
        "[approvals]\nwebhook_secret = \"${{HOOK_SECRET}}\"\npublic_url = {}\n\n\
         [servers.crm]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n\n\
         [grants.alice-laptop]\nagent = \"alice\"\ntoken_sha256 = \"{}\"\n",
        toml_str(PUBLIC_URL),
        toml_str(&twenty[0]),
        toml_array(&twenty[1..]),
        token_hash_hex(AGENT_TOKEN),
    );
    let gw = Toolgate::start_with_env(
        &config,
        &[("p.json", &policy.to_string())],
        &[
            ("HOOK_SECRET", SECRET),
            // The configured secret wins over the environment variable.
            ("TOOLGATE_WEBHOOK_SECRET", ENV_SECRET),
        ],
    );

    let client = McpClient::python_http(&gw.url("crm"))
        .token(AGENT_TOKEN)
        .no_list()
        .call("deleteOneCompany", json!({"id": "c-9"}))
        .timeout(Duration::from_secs(90));
    let client = std::thread::spawn(move || client.run());

    // Two failures, then the delivery that sticks; nothing more.
    let seen = hook.wait_for(3, &gw);
    std::thread::sleep(Duration::from_millis(300));
    let seen_after = hook.deliveries();
    assert_eq!(seen_after.len(), 3, "no retry after a 2xx");
    let delivered = &seen[2];
    for d in &seen {
        assert_eq!(d.1, delivered.1, "every try carries the same body");
        assert_eq!(
            header(d, DELIVERY_HEADER),
            header(delivered, DELIVERY_HEADER)
        );
    }
    assert_eq!(header(delivered, EVENT_HEADER), "approval.requested");
    assert_eq!(header(delivered, "content-type"), "application/json");
    let signature = header(delivered, SIGNATURE_HEADER);
    assert!(
        verify_signature(SECRET, &delivered.1, signature),
        "{signature}"
    );
    assert!(!verify_signature(ENV_SECRET, &delivered.1, signature));

    let payload: Value = serde_json::from_slice(&delivered.1).unwrap();
    assert_eq!(payload["event"], "approval.requested", "{payload:#}");
    assert_eq!(payload["call"]["agent"], "alice", "{payload:#}");
    assert_eq!(payload["call"]["grant"], "alice-laptop", "{payload:#}");
    assert_eq!(payload["call"]["server"], "crm", "{payload:#}");
    assert_eq!(payload["call"]["tool"], "deleteOneCompany", "{payload:#}");
    assert_eq!(payload["approval"]["mode"], "hold");
    assert_eq!(payload["approval"]["status"], "pending");
    let id = payload["approval"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("apv_"), "{id}");
    let base = "https://toolgate.example.test/api/approvals";
    assert_eq!(payload["links"]["approve"], format!("{base}/{id}/approve"));
    assert_eq!(payload["links"]["deny"], format!("{base}/{id}/deny"));

    // The id is the pending approval's, and the call still waits for it.
    let listed: Value = serde_json::from_slice(
        &ok(gw.cli(&["approvals", "list", "--status", "pending", "--json"])).stdout,
    )
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["id"], id);
    assert!(!client.is_finished(), "the call is held until decided");

    ok(gw.cli(&["approvals", "approve", &id]));
    let out = client.join().unwrap();
    out.assert_success();
    let results = out.events_named("result");
    assert_eq!(results.len(), 1, "{:?}", out.events());
    let r = &results[0];
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(result_text(r), "deleteOneCompany ok");
    assert_eq!(r["result"]["structuredContent"]["arguments"]["id"], "c-9");

    // The delivery is a step of the approval in the admin audit stream.
    let export = ok(gw.cli(&["audit", "export", "--stream", "admin"]));
    let notified = String::from_utf8_lossy(&export.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["action"] == "approval.notify" && e["target"] == id.as_str())
        .expect("approval.notify in the admin stream");
    assert_eq!(notified["details"]["delivered"], true, "{notified}");
}
