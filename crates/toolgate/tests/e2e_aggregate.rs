//! End to end: `/mcp`, one endpoint for many servers. Three real upstreams at once —
//! server-everything over Streamable HTTP, server-filesystem over stdio, and the FastMCP peer
//! over stdio with one tool per page — driven by the Python and TypeScript SDK clients.

mod common;

use common::{Toolgate, toml_array, toml_str};
use serde_json::json;
use toolgate_testkit::{McpClient, fastmcp_stdio_command, peers_dir, spawn_server_everything_http};

const EVERYTHING_POLICY: &str = r#"{"version":"1","default":"allow","hide":["get-env"],
  "tools":{"get-sum":{"deny_if":[{"conditions":[{"path":"args.a","op":"gt","value":100}],"on_deny":"Too big."}]}}}"#;
const FAST_POLICY: &str = r#"{"version":"1","default":"allow",
  "tools":{"delete_file":{"action":"deny","reason":"No deletes through the gateway."}}}"#;

struct Setup {
    gateway: Toolgate,
    files: tempfile::TempDir,
    _everything: toolgate_testkit::HttpPeer,
}

fn setup() -> Setup {
    let everything = spawn_server_everything_http();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(
        files.path().join("hello.txt"),
        "hello from the filesystem server",
    )
    .unwrap();
    let filesystem = [
        "node".to_owned(),
        peers_dir()
            .join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
            .display()
            .to_string(),
        files.path().display().to_string(),
    ];
    let fast = fastmcp_stdio_command();
    let config = format!(
        "list_page_size = 7\n\n\
         [servers.everything]\nurl = {}\npolicy = \"everything.json\"\n\n\
         [servers.files]\ncommand = {}\nargs = {}\n\n\
         [servers.fast]\ncommand = {}\nargs = {}\nenv = {{ PAGE_SIZE = \"1\" }}\npolicy = \"fast.json\"\n",
        toml_str(&everything.url),
        toml_str(&filesystem[0]),
        toml_array(&filesystem[1..]),
        toml_str(&fast[0]),
        toml_array(&fast[1..]),
    );
    let gateway = Toolgate::start(
        &config,
        &[
            ("everything.json", EVERYTHING_POLICY),
            ("fast.json", FAST_POLICY),
        ],
    );
    Setup {
        gateway,
        files,
        _everything: everything,
    }
}

fn aggregate_url(s: &Setup) -> String {
    format!("{}/mcp", s.gateway.base)
}

fn text(out: &toolgate_testkit::PeerOutput) -> String {
    let r = out.events_named("result");
    let r = r
        .first()
        .unwrap_or_else(|| panic!("no result: {:?}", out.events()));
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn merged_namespaced_paginated_and_routed() {
    let s = setup();
    let url = aggregate_url(&s);
    let out = McpClient::python_http(&url)
        .call("fast__add", json!({"a": 2, "b": 40}))
        .run();
    out.assert_exit(0);
    let names = out.tool_names();
    // Every server's tools, namespaced; FastMCP's three pages followed; the hidden tool gone.
    for n in [
        "everything__echo",
        "everything__get-sum",
        "files__read_text_file",
        "files__list_directory",
        "fast__add",
        "fast__delete_file",
        "fast__fail",
    ] {
        assert!(names.contains(&n.to_owned()), "{n} missing from {names:?}");
    }
    assert!(
        !names.iter().any(|n| n == "everything__get-env"),
        "hidden tool listed"
    );
    assert!(names.iter().all(|n| {
        n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }));
    let pages = out.events_named("tools")[0]["pages"].as_u64().unwrap();
    assert!(
        pages >= 3,
        "the merged list is paginated by 7: {pages} pages for {} tools",
        names.len()
    );
    assert_eq!(
        names.len(),
        names
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "no duplicates across pages"
    );
    assert_eq!(text(&out), "42");

    let file = s.files.path().join("hello.txt").display().to_string();
    let out = McpClient::python_http(&url)
        .no_list()
        .call("files__read_text_file", json!({"path": file}))
        .run();
    out.assert_exit(0);
    assert_eq!(text(&out), "hello from the filesystem server");

    let out = McpClient::python_http(&url)
        .no_list()
        .call("everything__echo", json!({"message": "routed"}))
        .run();
    out.assert_exit(0);
    assert_eq!(text(&out), "Echo: routed");
}

#[test]
fn each_servers_policy_applies_under_its_own_tool_names() {
    let s = setup();
    let url = aggregate_url(&s);
    let out = McpClient::python_http(&url)
        .no_list()
        .call("fast__delete_file", json!({"path": "/x"}))
        .run();
    out.assert_exit(2);
    assert_eq!(
        text(&out),
        "[POLICY DENIED] No deletes through the gateway."
    );
    let out = McpClient::python_http(&url)
        .no_list()
        .call("everything__get-sum", json!({"a": 500, "b": 1}))
        .run();
    out.assert_exit(2);
    assert_eq!(text(&out), "[POLICY DENIED] Too big.");
    let out = McpClient::python_http(&url)
        .no_list()
        .call("everything__get-env", json!({}))
        .run();
    out.assert_exit(3);
    let err = &out.events_named("error")[0];
    assert_eq!(err["code"], -32602);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("everything__get-env"),
        "{err}"
    );
    let out = McpClient::python_http(&url)
        .no_list()
        .call("nobody__x", json!({}))
        .run();
    out.assert_exit(3);
}

#[test]
fn progress_and_resources_through_the_aggregate() {
    let s = setup();
    let url = aggregate_url(&s);
    let out = McpClient::python_http(&url)
        .no_list()
        .call(
            "everything__trigger-long-running-operation",
            json!({"duration": 1, "steps": 3}),
        )
        .progress()
        .run();
    out.assert_exit(0);
    assert_eq!(out.events_named("progress").len(), 3, "{:?}", out.events());

    let out = McpClient::python_http(&url)
        .no_list()
        .read_resource("everything+demo://resource/static/document/architecture.md")
        .run();
    let res = out.events_named("resource");
    assert!(!res.is_empty(), "{:?}", out.events());
    let contents = &res[0]["result"]["contents"][0];
    assert_eq!(
        contents["uri"],
        "everything+demo://resource/static/document/architecture.md"
    );
}

#[test]
fn typescript_client_through_the_aggregate() {
    let s = setup();
    let url = aggregate_url(&s);
    let out = McpClient::ts_http(&url)
        .call("fast__add", json!({"a": 1, "b": 2}))
        .progress()
        .run();
    out.assert_exit(0);
    assert!(
        out.tool_names()
            .contains(&"files__list_directory".to_owned())
    );
    assert_eq!(text(&out), "3");
    let out = McpClient::ts_http(&url)
        .no_list()
        .call(
            "everything__trigger-long-running-operation",
            json!({"duration": 1, "steps": 2}),
        )
        .progress()
        .run();
    out.assert_exit(0);
    assert_eq!(out.events_named("progress").len(), 2);
}

#[test]
fn a_dead_server_does_not_stall_the_others() {
    let config = "upstream_connect_timeout = \"2s\"\n\n\
        [servers.gone]\nurl = \"http://127.0.0.1:9/mcp\"\n\n\
        [servers.hangs]\ncommand = \"sleep\"\nargs = [\"60\"]\n\n\
        [servers.twenty]\ncommand = "
        .to_owned()
        + &toml_str(&toolgate_testkit::twenty_stdio_command()[0])
        + "\nargs = [\"stdio\"]\n";
    let gateway = Toolgate::start(&config, &[]);
    let started = std::time::Instant::now();
    let out = McpClient::python_http(&format!("{}/mcp", gateway.base))
        .call("gone__x", json!({}))
        .run();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        out.tool_names().len(),
        219,
        "the healthy server's tools are all there"
    );
    let err = &out.events_named("error")[0];
    assert_eq!(err["code"], -32002);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("server gone is unavailable"),
        "{err}"
    );
    let log = gateway.log();
    assert!(
        log.contains("gone") && log.contains("hangs"),
        "the log names the missing servers:\n{log}"
    );
}

#[test]
fn sampling_and_elicitation_round_trips_through_the_aggregate() {
    let s = setup();
    let url = aggregate_url(&s);
    for client in [McpClient::python_http(&url), McpClient::ts_http(&url)] {
        let out = client
            .clone()
            .no_list()
            .sampling("Sampled through /mcp.")
            .call(
                "everything__trigger-sampling-request",
                json!({"prompt": "say hi", "maxTokens": 12}),
            )
            .run();
        out.assert_exit(0);
        assert_eq!(out.events_named("sampling").len(), 1, "{:?}", out.events());
        assert!(
            text(&out).contains("Sampled through /mcp."),
            "{}",
            text(&out)
        );

        let out = client
            .no_list()
            .elicit(json!({"name": "Ada Lovelace", "agreeToTerms": true, "favoriteNumber": 7}))
            .call("everything__trigger-elicitation-request", json!({}))
            .run();
        out.assert_exit(0);
        assert_eq!(
            out.events_named("elicitation").len(),
            1,
            "{:?}",
            out.events()
        );
        assert!(
            text(&out).contains("Ada Lovelace")
                || out.events_named("result")[0]
                    .to_string()
                    .contains("Ada Lovelace")
        );
    }
}

#[test]
fn long_server_and_tool_names_are_valid_stable_and_reversible() {
    let server = format!("s{}", "e".repeat(59));
    let tool = format!("t{}", "o".repeat(59));
    assert_eq!((server.len(), tool.len()), (60, 60));
    let fast = fastmcp_stdio_command();
    // The tool registered at run time is new on a pinned server: let it through (pinning has
    // its own tests, e2e_pinning).
    let config = format!(
        "new_tools = \"allow\"\n[servers.{server}]\ncommand = {}\nargs = {}\n",
        toml_str(&fast[0]),
        toml_array(&fast[1..])
    );
    let gateway = Toolgate::start(&config, &[]);
    let url = format!("{}/mcp", gateway.base);
    let register = format!("{server}__register_tool");
    assert!(register.len() > 64);

    // The registering tool's own name is too long too: find its short form in the list.
    let listed = McpClient::python_http(&url).run();
    listed.assert_exit(0);
    let short_register = listed
        .tool_names()
        .into_iter()
        .find(|n| n.contains("register"))
        .expect("register_tool listed");
    assert!(
        short_register.len() <= 64
            && short_register
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
    let out = McpClient::python_http(&url)
        .call_then_list()
        .call(&short_register, json!({"name": tool}))
        .run();
    out.assert_exit(0);
    let names: Vec<String> = out.events_named("tools_after")[0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    let long: Vec<&String> = names.iter().filter(|n| n.contains("oooo")).collect();
    assert_eq!(long.len(), 1, "{names:?}");
    let exposed = long[0].clone();
    assert!(
        exposed.len() <= 64
            && exposed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{exposed}"
    );

    // Stable: a new session lists the same name; reversible: calling it reaches the tool.
    let again = McpClient::python_http(&url).call(&exposed, json!({})).run();
    again.assert_exit(0);
    assert!(again.tool_names().contains(&exposed));
    assert!(
        text(&again).contains(&tool),
        "the upstream tool answered: {}",
        text(&again)
    );
}
