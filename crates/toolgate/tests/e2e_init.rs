//! End to end: `toolgate init <server>` lists a real server's tools and writes a starter policy.
//!
//! - against server-everything: YAML to stdout (header, per-group comments, an operator override
//!   from `[servers.x.risk]` winning), `-o` refusing to overwrite without `--force`, `--json`,
//!   the output file's name picking the syntax (`-o x.json` writes JSON), `--json` refused for a
//!   YAML name, an unknown server, an unreachable one; every written file passes `toolgate
//!   validate`;
//! - against server-everything, the written policy applied to a running gateway: `echo` (Read)
//!   answers, `get-env` (Destructive by an override) is held and then denied;
//! - against the Twenty-like server, the written policy applied to a running gateway: a Read tool
//!   answers, a Destructive one is held for approval (then denied with `toolgate approvals deny`),
//!   a credential tool is denied with its reason, the 31st Write call in a minute is refused.

mod common;

use common::{
    RawSession, TOOLGATE, Toolgate, gateway_decision, ok, result_text, stderr, stdout, toml_array,
    toml_str,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use toolgate_testkit::{McpClient, server_everything_stdio_command, twenty_stdio_command};

fn toolgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(TOOLGATE)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run toolgate")
}

fn server_table(name: &str, command: &[String]) -> String {
    format!(
        "[servers.{name}]\ncommand = {}\nargs = {}\n",
        toml_str(&command[0]),
        toml_array(&command[1..])
    )
}

#[test]
fn init_writes_a_commented_starter_policy_for_server_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n[servers.everything.risk]\nget-env = \"destructive\"\n\n[servers.ghost]\ncommand = \"/nonexistent/mcp-server\"\n",
        server_table("everything", &server_everything_stdio_command())
    );
    std::fs::write(dir.path().join("toolgate.toml"), &config).unwrap();

    // To stdout: commented YAML.
    let out = ok(toolgate(dir.path(), &["init", "everything"]));
    let yaml = stdout(&out);
    assert!(
        yaml.starts_with(
            "# Starter policy for the MCP server \"everything\", written by `toolgate init everything`\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("\ndefault: deny\n"), "{yaml}");
    assert!(yaml.contains("\n  # Read ("), "{yaml}");
    assert!(
        yaml.contains("  echo: {}  # verb \"echo\" in name"),
        "{yaml}"
    );
    // The operator's override wins, and says so.
    assert!(
        yaml.contains(
            "  get-env:  # operator override: destructive\n    action: require_approval\n"
        ),
        "{yaml}"
    );
    assert!(
        stderr(&out).contains("everything: ") && stderr(&out).contains(" tools: "),
        "{}",
        stderr(&out)
    );

    // To a file, never over an existing one unless forced.
    ok(toolgate(
        dir.path(),
        &["init", "everything", "-o", "everything.yaml"],
    ));
    let written = std::fs::read_to_string(dir.path().join("everything.yaml")).unwrap();
    assert!(written.contains("get-env:"), "{written}");
    let again = toolgate(dir.path(), &["init", "everything", "-o", "everything.yaml"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("everything.yaml already exists; pass --force"),
        "{}",
        stderr(&again)
    );
    ok(toolgate(
        dir.path(),
        &["init", "everything", "-o", "everything.yaml", "--force"],
    ));

    // JSON, and file names that would be read in the other syntax.
    ok(toolgate(
        dir.path(),
        &["init", "everything", "--json", "-o", "everything.json"],
    ));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("everything.json")).unwrap())
            .expect("--json writes JSON");
    assert_eq!(json["default"], "deny");
    assert_eq!(json["tools"]["get-env"]["action"], "require_approval");
    // The file's name picks the syntax the gateway will read it in: JSON without --json, YAML
    // for .yml; --json with a YAML name is refused, and nothing is written.
    ok(toolgate(
        dir.path(),
        &["init", "everything", "-o", "named.json"],
    ));
    let named: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("named.json")).unwrap())
            .expect("-o FILE.json writes JSON");
    assert_eq!(named, json, "the same policy, in JSON");
    ok(toolgate(
        dir.path(),
        &["init", "everything", "-o", "named.yml"],
    ));
    let yml = std::fs::read_to_string(dir.path().join("named.yml")).unwrap();
    assert!(yml.starts_with("# Starter policy"), "{yml}");
    assert!(yml.contains("\ndefault: deny\n"), "{yml}");
    let misnamed = toolgate(
        dir.path(),
        &["init", "everything", "--json", "-o", "p.yaml"],
    );
    assert_eq!(misnamed.status.code(), Some(2));
    assert!(
        stderr(&misnamed).contains("p.yaml would be read as YAML, but --json writes JSON"),
        "{}",
        stderr(&misnamed)
    );
    assert!(!dir.path().join("p.yaml").exists());

    // Both files pass `toolgate validate` as the server's policy.
    for file in [
        "everything.yaml",
        "everything.json",
        "named.json",
        "named.yml",
    ] {
        let with_policy = config.replace(
            "[servers.everything.risk]",
            &format!("policy = {file:?}\n\n[servers.everything.risk]"),
        );
        std::fs::write(dir.path().join("checked.toml"), with_policy).unwrap();
        let out = ok(toolgate(dir.path(), &["validate", "-c", "checked.toml"]));
        assert!(stdout(&out).contains("ok"), "{}", stdout(&out));
    }

    // An unknown server: the configured ones are listed.
    let unknown = toolgate(dir.path(), &["init", "crm"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("has no server \"crm\"; its servers: everything, ghost"),
        "{}",
        stderr(&unknown)
    );
    // A server that does not start: said plainly, nothing written.
    let ghost = toolgate(
        dir.path(),
        &["init", "ghost", "--timeout", "5s", "-o", "ghost.yaml"],
    );
    assert_eq!(ghost.status.code(), Some(1));
    assert!(
        stderr(&ghost).contains("cannot list the tools of server \"ghost\"")
            && stderr(&ghost).contains("/nonexistent/mcp-server"),
        "{}",
        stderr(&ghost)
    );
    assert!(!dir.path().join("ghost.yaml").exists());
}

/// `toolgate approvals list --status pending --json`, until one approval of `tool` is pending.
fn wait_pending(gw: &Toolgate, tool: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed: Vec<Value> = serde_json::from_str(&stdout(&ok(gw.cli(&[
            "approvals",
            "list",
            "--status",
            "pending",
            "--json",
        ]))))
        .unwrap();
        if let Some(a) = listed.iter().find(|a| a["binding"]["tool"] == tool) {
            return a["id"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no pending approval of {tool}; log:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_starter_policy_for_twenty_governs_a_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let table = server_table("crm", &twenty_stdio_command());
    let config_path = dir.path().join("toolgate.toml");
    // The configuration already names the policy init is about to write.
    std::fs::write(
        &config_path,
        format!("[gateway]\nlisten = \"127.0.0.1:0\"\n\n{table}policy = \"crm.yaml\"\n"),
    )
    .unwrap();
    let out = ok(toolgate(dir.path(), &["init", "crm", "-o", "crm.yaml"]));
    assert!(
        stderr(&out).contains("crm: 219 tools: ")
            && stderr(&out).contains("the policy of [servers.crm]"),
        "{}",
        stderr(&out)
    );
    let gw = Toolgate::start_in(dir, &[]);
    let url = gw.url("crm");

    // Read: allowed, through the real Python SDK client.
    let read = McpClient::python_http(&url)
        .call("findManyCompanies", json!({}))
        .run();
    read.assert_success();
    let result = &read.events_named("result")[0];
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result_text(result), "findManyCompanies ok");

    // Destructive: held until a person decides; denied here.
    let held = McpClient::python_http(&url)
        .no_list()
        .call("deleteOneCompany", json!({"id": "c-1"}))
        .timeout(Duration::from_secs(90));
    let held = std::thread::spawn(move || held.run());
    let id = wait_pending(&gw, "deleteOneCompany");
    assert!(!held.is_finished(), "the call waits for a decision");
    ok(gw.cli(&["approvals", "deny", &id, "--note", "not today"]));
    let out = held.join().unwrap();
    let result = &out.events_named("result")[0];
    assert_eq!(result["isError"], true, "{result}");
    assert!(result_text(result).contains("not today"), "{result}");

    // A credential tool: denied with its reason.
    let session = RawSession::open(&url, None).await.expect("session");
    let (_, denied) = session
        .call(
            1,
            "createOneConnectedAccount",
            json!({"requestBody": {"handle": "x"}}),
        )
        .await;
    let text = result_text(&denied);
    assert!(
        text.starts_with("[POLICY DENIED] This tool handles credentials"),
        "{denied}"
    );

    // Write: 30 a minute per grant, the 31st refused with the time to retry.
    for i in 0..30 {
        let (_, r) = session
            .call(
                10 + i,
                "createOneCompany",
                json!({"requestBody": {"name": format!("c{i}")}}),
            )
            .await;
        assert_eq!(
            result_text(&r),
            "createOneCompany ok",
            "call {}: {r}",
            i + 1
        );
    }
    let (_, refused) = session
        .call(
            99,
            "createOneCompany",
            json!({"requestBody": {"name": "one too many"}}),
        )
        .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(
        result_text(&refused)
            .contains("rate limit reached for createOneCompany: 30 calls per minute"),
        "{refused}"
    );
    assert_eq!(
        gateway_decision(&refused)["rule"],
        "/tools/createOneCompany/limits/0"
    );
}

#[test]
fn the_starter_policy_for_server_everything_governs_a_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    // get-env shows the server's environment: this operator wants a person to see each call.
    let config = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\n\n{}policy = \"everything.yaml\"\n\n\
         [servers.everything.risk]\nget-env = \"destructive\"\n",
        server_table("everything", &server_everything_stdio_command())
    );
    std::fs::write(dir.path().join("toolgate.toml"), &config).unwrap();
    ok(toolgate(
        dir.path(),
        &["init", "everything", "-o", "everything.yaml"],
    ));
    let gw = Toolgate::start_in(dir, &[]);
    let url = gw.url("everything");

    // Read: allowed.
    let read = McpClient::python_http(&url)
        .no_list()
        .call("echo", json!({"message": "hi"}))
        .run();
    read.assert_success();
    assert!(result_text(&read.events_named("result")[0]).contains("hi"));

    // Destructive by the operator's override: held until a person decides; denied here.
    let held = McpClient::python_http(&url)
        .no_list()
        .call("get-env", json!({}))
        .timeout(Duration::from_secs(90));
    let held = std::thread::spawn(move || held.run());
    let id = wait_pending(&gw, "get-env");
    assert!(!held.is_finished(), "the call waits for a decision");
    ok(gw.cli(&["approvals", "deny", &id, "--note", "no env today"]));
    let out = held.join().unwrap();
    let result = &out.events_named("result")[0];
    assert_eq!(result["isError"], true, "{result}");
    assert!(result_text(result).contains("no env today"), "{result}");
    assert!(
        !result_text(result).contains("PATH="),
        "the environment never reached the client: {result}"
    );
}
