//! End to end: the real `toolgate serve` log, in front of server-everything over stdio (whose
//! own stderr the gateway relays into its log) and driven by the Python SDK: with
//! `TOOLGATE_LOG_FORMAT=json` every line is a JSON object a log shipper can read; as text on a
//! stderr that is not a terminal, no colour codes.

mod common;

use common::{Toolgate, toml_array, toml_str};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use toolgate_testkit::{McpClient, server_everything_stdio_command};

/// Runs a gateway with `env`, makes one allowed and one denied call through it, stops it and
/// returns its whole stderr.
fn log_of_a_short_run(env: &[(&str, &str)]) -> String {
    let stdio = server_everything_stdio_command();
    let config = format!(
        "[servers.everything]\ncommand = {}\nargs = {}\nstart = \"eager\"\npolicy = \"p.json\"\n",
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
    );
    let policy = r#"{"version": "1", "default": "allow", "tools": {"get-sum": {"action": "deny", "reason": "No sums."}}}"#;
    let mut gateway = Toolgate::start_with_env(&config, &[("p.json", policy)], env);
    let url = gateway.url("everything");
    McpClient::python_http(&url)
        .no_list()
        .call("echo", json!({"message": "hi"}))
        .run()
        .assert_exit(0);
    McpClient::python_http(&url)
        .no_list()
        .call("get-sum", json!({"a": 1, "b": 2}))
        .run()
        .assert_exit(2);
    let status = gateway.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        gateway.log()
    );
    gateway.log()
}

/// A JSON object whose keys are each there once (a shipper keeps one of two `message`s).
struct UniqueKeys(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut out = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueKeys(out))
            }
        }
        d.deserialize_map(Object)
    }
}

#[test]
fn json_log_lines_are_json_objects_with_level_and_message() {
    let log = log_of_a_short_run(&[("TOOLGATE_LOG_FORMAT", "json")]);
    let mut levels = Vec::new();
    for line in log.lines() {
        let UniqueKeys(event) = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line:?}\nwhole log:\n{log}"));
        let level = event["level"]
            .as_str()
            .unwrap_or_else(|| panic!("no level in {line}"));
        assert!(
            event["message"].is_string(),
            "no message in {line}\nwhole log:\n{log}"
        );
        assert!(event["timestamp"].is_string(), "no timestamp in {line}");
        levels.push(level.to_owned());
    }
    assert!(!log.contains("\x1b["), "colour codes in:\n{log}");
    // What a shipper needs from this run: the start, the requests, the stop.
    for needle in ["\"serving\"", "\"stopped\""] {
        assert!(log.contains(needle), "no {needle} line in:\n{log}");
    }
    assert!(levels.iter().any(|l| l == "INFO"), "{levels:?}");
    assert!(
        log.lines()
            .any(|l| l.contains("\"tool\":\"get-sum\"") || l.contains("get-sum")),
        "the denied call is not in the log:\n{log}"
    );
}

#[test]
fn text_log_on_a_pipe_has_no_colour_codes() {
    let log = log_of_a_short_run(&[]);
    assert!(log.contains("serving"), "{log}");
    assert!(!log.contains("\x1b["), "colour codes in:\n{log}");
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "text by default:\n{log}"
    );
}
