//! End to end: pins of servers whose tool list depends on what the client declared. The
//! catalogue lists with every capability a client may declare, so server-everything's roots,
//! sampling and elicitation tools are pinned by its first listing and never quarantined for the
//! client that sees them. A tool no catalogue can see (offered only to clients declaring an
//! extension, as servers offering MCP Apps do) is recorded as new the first time a client lists
//! it — whoever lists first, over Streamable HTTP or a lazily started stdio server — hidden and
//! denied every time until approved, and the command the gateway prints, run as printed in a
//! shell beside the config, approves it.

mod common;

use common::{TOOLGATE, Toolgate, eventually, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use toolgate_testkit::{
    HttpPeer, McpClient, PeerOutput, capability_server_stdio_command, spawn_capability_server_http,
    spawn_server_everything_http,
};

const PREVIEW: &str = "io.example/preview";

/// The catalogue's entries for `server` (`toolgate catalog <server> --json`).
fn catalogue(gw: &Toolgate, server: &str) -> Vec<Value> {
    serde_json::from_str(&stdout(&ok(gw.cli(&["catalog", server, "--json"])))).unwrap()
}

/// The state of `tool` in the catalogue of `server` (`pinned`, `new`, `changed`), if it is there.
fn pin_state(gw: &Toolgate, server: &str, tool: &str) -> Option<String> {
    catalogue(gw, server)
        .iter()
        .find(|e| e["tool"] == tool)
        .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
}

/// The text of the first call's result.
fn call_text(out: &PeerOutput) -> String {
    let results = out.events_named("result");
    let r = results
        .first()
        .unwrap_or_else(|| panic!("no result: {:?}", out.events()));
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs `command` as an operator would: in a shell, in the folder of the gateway's config, with
/// the `toolgate` binary on the `PATH`.
fn run_as_printed(gw: &Toolgate, command: &str) -> std::process::Output {
    let bin = std::path::Path::new(TOOLGATE).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(gw.dir.path())
        .env("PATH", path)
        .output()
        .expect("run sh")
}

#[test]
fn capability_dependent_tools_of_server_everything_are_pinned_by_the_first_listing() {
    let everything = spawn_server_everything_http();
    let gw = Toolgate::start(
        &format!(
            "[servers.everything]\nurl = {}\n",
            toml_str(&everything.url)
        ),
        &[],
    );
    let gated = [
        "get-roots-list",
        "trigger-sampling-request",
        "trigger-elicitation-request",
    ];
    // A client that declares roots, sampling and elicitation, and one that declares nothing,
    // each first in turn on a fresh listing of the server: the same pins either way.
    let capable = || {
        McpClient::python_http(&gw.url("everything"))
            .roots("file:///tmp")
            .sampling("ok")
            .elicit(json!({}))
            .run()
    };
    let out = capable();
    out.assert_exit(0);
    let names = out.tool_names();
    for tool in gated {
        assert!(names.contains(&tool.to_owned()), "{tool} hidden: {names:?}");
    }
    let plain = McpClient::python_http(&gw.url("everything")).run();
    plain.assert_exit(0);
    assert!(!plain.tool_names().contains(&gated[0].to_owned()));
    for tool in gated {
        assert_eq!(
            pin_state(&gw, "everything", tool).as_deref(),
            Some("pinned"),
            "{tool}"
        );
    }
    let quarantined: Vec<Value> = serde_json::from_str(&stdout(&ok(gw.cli(&[
        "pins",
        "list",
        "--quarantined",
        "--json",
    ]))))
    .unwrap();
    assert_eq!(quarantined, Vec::<Value>::new());
    // The capable client calls one of them through the gateway.
    let out = capable();
    assert_eq!(out.tool_names(), names, "the same list every time");
}

/// The gateway in front of the capability peer as server `caps`, over Streamable HTTP or as a
/// stdio server started when its first session opens.
fn start_caps(transport: &str) -> (Toolgate, Option<HttpPeer>) {
    match transport {
        "http" => {
            let peer = spawn_capability_server_http();
            let config = format!("[servers.caps]\nurl = {}\n", toml_str(&peer.url));
            (Toolgate::start(&config, &[]), Some(peer))
        }
        _ => {
            let command = capability_server_stdio_command();
            let config = format!(
                "[servers.caps]\ncommand = {}\nargs = {}\n",
                toml_str(&command[0]),
                toml_array(&command[1..]),
            );
            (Toolgate::start(&config, &[]), None)
        }
    }
}

/// A client that declares the preview extension lists the tools and calls `preview_tool`.
fn preview_client(gw: &Toolgate) -> PeerOutput {
    McpClient::python_http(&gw.url("caps"))
        .extension(PREVIEW)
        .call("preview_tool", json!({}))
        .run()
}

#[test]
fn a_tool_only_some_clients_see_is_held_back_alike_and_the_printed_command_approves_it() {
    for transport in ["stdio", "http"] {
        let (gw, _peer) = start_caps(transport);
        // The very first session lists before anything else happened (for stdio, before the
        // server was ever started): it is checked against the catalogue's own first listing.
        let mut remedy = None;
        for round in 0..3 {
            let out = preview_client(&gw);
            let names = out.tool_names();
            assert!(
                names.contains(&"always".to_owned()),
                "{transport} round {round}: {names:?}"
            );
            assert!(
                !names.contains(&"preview_tool".to_owned()),
                "{transport} round {round}: a tool the catalogue never saw is listed: {names:?}"
            );
            let text = call_text(&out);
            let expected = "[POLICY DENIED] tool \"preview_tool\" is new on server \"caps\" \
                            since its tools were pinned; an operator must approve it: ";
            let command = text
                .strip_prefix(expected)
                .unwrap_or_else(|| panic!("{transport} round {round}: {text}"));
            assert_eq!(command, "toolgate pins approve caps preview_tool");
            remedy = Some(command.to_owned());
            // The tool is in the catalogue, so the command can find it.
            assert_eq!(
                pin_state(&gw, "caps", "preview_tool").as_deref(),
                Some("new"),
                "{transport} round {round}"
            );
        }
        // A tool behind a standard capability was pinned by the catalogue's first listing.
        let out = McpClient::python_http(&gw.url("caps"))
            .roots("file:///tmp")
            .call("roots_tool", json!({}))
            .run();
        out.assert_exit(0);
        assert_eq!(call_text(&out), "roots_tool ok", "{transport}");

        // The command the gateway printed, as printed; over stdio, the one `pins diff` prints.
        let command = match transport {
            "http" => remedy.unwrap(),
            _ => {
                let diff = ok(gw.cli(&["pins", "diff", "caps", "preview_tool"]));
                let stderr = String::from_utf8_lossy(&diff.stderr).into_owned();
                stderr
                    .lines()
                    .find_map(|l| l.strip_prefix("approve it with: "))
                    .unwrap_or_else(|| panic!("no command in {stderr}"))
                    .to_owned()
            }
        };
        let done = run_as_printed(&gw, &command);
        assert!(
            done.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert_eq!(
            pin_state(&gw, "caps", "preview_tool").as_deref(),
            Some("pinned")
        );
        // Within the gateway's poll of the store, the tool is listed and callable.
        let text = eventually(
            Duration::from_secs(60),
            "the approved tool is callable",
            || {
                let out = preview_client(&gw);
                let text = call_text(&out);
                (text == "preview_tool ok", (text, out.tool_names()))
            },
        );
        assert!(
            text.1.contains(&"preview_tool".to_owned()),
            "{transport}: {text:?}"
        );
    }
}
