//! End to end: a stdio server never sees the gateway's secrets. The real `toolgate` binary runs
//! with `TOOLGATE_ADMIN_TOKEN`, `TOOLGATE_WEBHOOK_SECRET` and an unrelated `SOME_SECRET` in its
//! environment, in front of server-everything over stdio; the Python SDK client calls
//! `get-env` (which prints the server's whole environment) through `toolgate serve` and through
//! `toolgate wrap`, and the server has its configured `env`, the `inherit_env` names and the
//! allow-list — nothing else. `toolgate init` denies `get-env` in the starter policy.

mod common;

use common::{TOOLGATE, Toolgate, ok, stdout, toml_array, toml_str};
use serde_json::{Map, Value, json};
use toolgate_testkit::{McpClient, PeerOutput, server_everything_stdio_command};

const ADMIN_TOKEN: &str = "admin-token-that-must-stay-home";
const WEBHOOK_SECRET: &str = "webhook-secret-that-must-stay-home";
const SOME_SECRET: &str = "some-secret-that-must-stay-home";

/// The gateway's (or wrap's) own environment: its secrets, and one variable a server may inherit.
const GATEWAY_ENV: [(&str, &str); 4] = [
    ("TOOLGATE_ADMIN_TOKEN", ADMIN_TOKEN),
    ("TOOLGATE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ("SOME_SECRET", SOME_SECRET),
    ("INHERITED_X", "inherited-value"),
];

/// The server's environment as `get-env` printed it.
fn printed_env(out: &PeerOutput) -> Map<String, Value> {
    out.assert_exit(0);
    let results = out.events_named("result");
    let text = results
        .first()
        .and_then(|r| r["result"]["content"][0]["text"].as_str())
        .unwrap_or_else(|| panic!("no get-env result in {:?}", out.events()));
    match serde_json::from_str(text) {
        Ok(Value::Object(env)) => env,
        _ => panic!("get-env printed no JSON object: {text}"),
    }
}

/// The configured and inherited variables and the allow-list are there; no secret is, by name or
/// by value.
fn assert_clean(who: &str, env: &Map<String, Value>) {
    assert_eq!(env.get("FOO"), Some(&json!("bar")), "{who}: {env:?}");
    assert_eq!(
        env.get("INHERITED_X"),
        Some(&json!("inherited-value")),
        "{who}: {env:?}"
    );
    assert!(
        env.get("PATH")
            .and_then(Value::as_str)
            .is_some_and(|p| !p.is_empty()),
        "{who}: {env:?}"
    );
    for (name, _) in &env.clone() {
        assert!(
            !name.to_ascii_uppercase().starts_with("TOOLGATE_"),
            "{who}: the gateway's {name} reached the server"
        );
    }
    assert!(!env.contains_key("SOME_SECRET"), "{who}: {env:?}");
    let all = Value::Object(env.clone()).to_string();
    for secret in [ADMIN_TOKEN, WEBHOOK_SECRET, SOME_SECRET] {
        assert!(!all.contains(secret), "{who}: {secret} reached the server");
    }
}

#[test]
fn a_stdio_server_behind_serve_gets_a_clean_environment() {
    let everything = server_everything_stdio_command();
    let config = format!(
        "[servers.everything]\ncommand = {}\nargs = {}\nenv = {{ FOO = \"bar\" }}\n\
         inherit_env = [\"INHERITED_X\"]\npolicy = \"allow.json\"\n",
        toml_str(&everything[0]),
        toml_array(&everything[1..]),
    );
    let gateway = Toolgate::start_with_env(
        &config,
        &[("allow.json", r#"{"version":"1","default":"allow"}"#)],
        &GATEWAY_ENV,
    );
    let out = McpClient::python_http(&gateway.url("everything"))
        .no_list()
        .call("get-env", json!({}))
        .run();
    assert_clean("serve", &printed_env(&out));
}

#[test]
fn a_server_behind_wrap_gets_a_clean_environment() {
    let mut command = vec![
        TOOLGATE.to_owned(),
        "wrap".to_owned(),
        "--env".to_owned(),
        "FOO=bar".to_owned(),
        "--inherit-env".to_owned(),
        "INHERITED_X".to_owned(),
        "--".to_owned(),
    ];
    command.extend(server_everything_stdio_command());
    let mut client = McpClient::python_stdio(&command)
        .no_list()
        .call("get-env", json!({}));
    for (name, value) in GATEWAY_ENV {
        client = client.env(name, value);
    }
    assert_clean("wrap", &printed_env(&client.run()));
}

#[test]
fn wrap_refuses_to_pass_on_its_own_variables() {
    let out = std::process::Command::new(TOOLGATE)
        .args([
            "wrap",
            "--inherit-env",
            "TOOLGATE_ADMIN_TOKEN",
            "--",
            "true",
        ])
        .output()
        .expect("run toolgate wrap");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TOOLGATE_ADMIN_TOKEN is one of toolgate's own variables"),
        "{err}"
    );
}

#[test]
fn serve_refuses_a_config_that_would_pass_on_its_own_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("toolgate.toml");
    std::fs::write(
        &config,
        "[servers.a]\ncommand = \"x\"\ninherit_env = [\"TOOLGATE_WEBHOOK_SECRET\"]\n",
    )
    .expect("write config");
    let out = std::process::Command::new(TOOLGATE)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .expect("run toolgate validate");
    assert_eq!(out.status.code(), Some(78));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(
            "toolgate.toml:3:16: servers.a.inherit_env names \"TOOLGATE_WEBHOOK_SECRET\", one of toolgate's own variables"
        ),
        "{text}"
    );
}

/// `get-env` is read-only by its annotations, but it reads the environment, where servers keep
/// their keys: the starter policy denies it.
#[test]
fn init_denies_get_env_as_a_credentials_tool() {
    let everything = server_everything_stdio_command();
    let gateway = Toolgate::start(
        &format!(
            "[servers.everything]\ncommand = {}\nargs = {}\n",
            toml_str(&everything[0]),
            toml_array(&everything[1..]),
        ),
        &[],
    );
    let policy = stdout(&ok(gateway.cli(&["init", "everything"])));
    assert!(
        policy.contains(
            "  get-env:  # read; handles credentials: reads the environment (\"env\" in name)\n    action: deny\n"
        ),
        "{policy}"
    );
}
