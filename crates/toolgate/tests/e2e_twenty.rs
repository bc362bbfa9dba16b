//! End to end: the real `toolgate` binary in front of the Twenty-like 219-tool server (stdio and
//! Streamable HTTP upstreams), driven by the official Python and TypeScript SDK clients.

mod common;

use common::{Toolgate, gateway_decision, toml_array, toml_str};
use serde_json::{Value, json};
use toolgate_testkit::{McpClient, PeerOutput, spawn_twenty_http, twenty_stdio_command};

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["deleteOne*", "GetOpenApiSchema"],
  "tools": {
    "findMany*": {},
    "findOne*": {
      "limits": [ { "counter": "find_one", "window": "minute", "max": 30, "scope": "grant" } ]
    },
    "createOneCompany": {
      "limits": [ { "counter": "companies", "window": "minute", "max": 30, "scope": "session" } ]
    },
    "UpdateOneOpportunity": {
      "deny_if": [ { "conditions": [ { "path": "args.requestBody.amount.amountMicros", "op": "gt", "value": 1000000000 } ],
                     "on_deny": "Opportunities above 1000 need a human." } ]
    },
    "createOneConnectedAccount": { "action": "deny", "reason": "Credentials are managed by IT." }
  }
}"#;

/// The gateway with the Twenty-like server behind it twice: `stdio` and `http`.
struct Setup {
    gateway: Toolgate,
    _twenty: toolgate_testkit::HttpPeer,
}

fn setup() -> Setup {
    let twenty = spawn_twenty_http(None);
    let config = format!(
        "[servers.stdio]\ncommand = {}\nargs = {}\npolicy = \"twenty.json\"\n\n\
         [servers.http]\nurl = {}\npolicy = \"twenty.json\"\n",
        toml_str(&twenty_stdio_command()[0]),
        toml_array(&twenty_stdio_command()[1..]),
        toml_str(&twenty.url),
    );
    let gateway = Toolgate::start(&config, &[("twenty.json", POLICY)]);
    Setup {
        gateway,
        _twenty: twenty,
    }
}

fn results(out: &PeerOutput) -> Vec<Value> {
    out.events_named("result")
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn allowed_call_returns_the_servers_result_unchanged() {
    let s = setup();
    let direct = McpClient::python_http(&s._twenty.url)
        .no_list()
        .call("findManyCompanies", json!({"limit": 3}))
        .run();
    direct.assert_exit(0);
    for server in ["stdio", "http"] {
        let out = McpClient::python_http(&s.gateway.url(server))
            .no_list()
            .call("findManyCompanies", json!({"limit": 3}))
            .run();
        out.assert_exit(0);
        assert_eq!(
            results(&out)[0]["result"],
            results(&direct)[0]["result"],
            "through {server}"
        );
    }
}

#[test]
fn denied_calls_come_back_as_tool_errors_with_the_reason() {
    let s = setup();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        let out = McpClient::python_http(&url)
            .no_list()
            .call("createOneConnectedAccount", json!({}))
            .run();
        out.assert_exit(2);
        let r = &results(&out)[0];
        assert_eq!(r["isError"], true);
        assert_eq!(text_of(r), "[POLICY DENIED] Credentials are managed by IT.");
        assert_eq!(gateway_decision(r)["decision"], "deny");
        assert_eq!(
            gateway_decision(r)["rule"],
            "/tools/createOneConnectedAccount/action"
        );

        let big = json!({"id": "o1", "requestBody": {"amount": {"amountMicros": 5_000_000_000u64, "currencyCode": "USD"}}});
        let out = McpClient::python_http(&url)
            .no_list()
            .call("UpdateOneOpportunity", big)
            .run();
        out.assert_exit(2);
        let r = &results(&out)[0];
        assert_eq!(
            text_of(r),
            "[POLICY DENIED] Opportunities above 1000 need a human."
        );
        assert_eq!(
            gateway_decision(r)["rule"],
            "/tools/UpdateOneOpportunity/deny_if/0"
        );

        let small = json!({"id": "o1", "requestBody": {"amount": {"amountMicros": 10, "currencyCode": "USD"}}});
        McpClient::python_http(&url)
            .no_list()
            .call("UpdateOneOpportunity", small)
            .run()
            .assert_exit(0);

        // Not listed under `default: deny`.
        let out = McpClient::python_http(&url)
            .no_list()
            .call("createOnePerson", json!({}))
            .run();
        out.assert_exit(2);
        assert!(text_of(&results(&out)[0]).starts_with("[POLICY DENIED]"));
    }
}

#[test]
fn hidden_tools_are_absent_from_the_list_and_unknown_at_call_time() {
    let s = setup();
    for server in ["stdio", "http"] {
        let out = McpClient::python_http(&s.gateway.url(server))
            .call("deleteOneCompany", json!({"id": "c1"}))
            .run();
        out.assert_exit(3);
        let names = out.tool_names();
        assert_eq!(names.len(), 219 - 31 - 1, "{server}");
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("deleteOne") || n == "GetOpenApiSchema")
        );
        assert!(names.iter().any(|n| n == "findManyCompanies"));
        let err = &out.events_named("error")[0];
        assert_eq!(err["code"], -32602);
        assert!(
            err["message"].as_str().unwrap().contains("Unknown tool"),
            "{err}"
        );
    }
}

#[test]
fn the_31st_call_of_a_max_30_limit_is_refused_with_a_retry_time() {
    let s = setup();
    for server in ["stdio", "http"] {
        let out = McpClient::python_http(&s.gateway.url(server))
            .no_list()
            .call("createOneCompany", json!({"requestBody": {"name": "Acme"}}))
            .repeat(31)
            .run();
        out.assert_exit(2);
        let r = results(&out);
        assert_eq!(r.len(), 31);
        assert!(
            r[..30].iter().all(|r| r["isError"] == false),
            "{server}: first 30 pass"
        );
        assert_eq!(r[30]["isError"], true);
        let text = text_of(&r[30]);
        assert!(text.starts_with("[POLICY DENIED] rate limit"), "{text}");
        assert!(text.contains("retry in"), "{text}");
        let retry = gateway_decision(&r[30])["retry_after_s"].as_u64().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(
            gateway_decision(&r[30])["rule"],
            "/tools/createOneCompany/limits/0"
        );
    }
}

#[test]
fn an_upstream_json_rpc_error_gives_the_quota_back() {
    let s = setup();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        // 31 calls the server rejects (findOne needs an id): all reach it, none is refused by the
        // limit, because each error releases its reservation.
        let out = McpClient::python_http(&url)
            .no_list()
            .call("findOneCompany", json!({}))
            .repeat(31)
            .run();
        out.assert_exit(3);
        let errors = out.events_named("error");
        assert_eq!(errors.len(), 31, "{server}: {:?}", out.events());
        assert!(errors.iter().all(|e| e["code"] == -32602));
        assert!(results(&out).is_empty());
    }
    // The full quota is still there for real calls (the counter is per grant, across sessions
    // and servers: 30 admitted, the 31st refused).
    let out = McpClient::python_http(&s.gateway.url("http"))
        .no_list()
        .call("findOneCompany", json!({"id": "c1"}))
        .repeat(31)
        .run();
    let r = results(&out);
    assert!(r[..30].iter().all(|r| r["isError"] == false));
    assert_eq!(r[30]["isError"], true);
}

#[test]
fn typescript_sdk_client_through_the_gateway() {
    let s = setup();
    for server in ["stdio", "http"] {
        let url = s.gateway.url(server);
        let out = McpClient::ts_http(&url)
            .call("findManyPeople", json!({"limit": 1}))
            .run();
        out.assert_exit(0);
        assert_eq!(out.tool_names().len(), 187);
        let out = McpClient::ts_http(&url)
            .no_list()
            .call("createOneConnectedAccount", json!({}))
            .run();
        out.assert_exit(2);
        assert_eq!(
            text_of(&results(&out)[0]),
            "[POLICY DENIED] Credentials are managed by IT."
        );
    }
}

#[test]
fn limits_and_releases_through_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("twenty.json");
    std::fs::write(&policy, POLICY).unwrap();
    let mut wrapped = vec![
        common::TOOLGATE.to_owned(),
        "wrap".into(),
        "--policy".into(),
        policy.display().to_string(),
        "--".into(),
    ];
    wrapped.extend(twenty_stdio_command());

    let out = McpClient::python_stdio(&wrapped)
        .no_list()
        .call("createOneCompany", json!({"requestBody": {"name": "Acme"}}))
        .repeat(31)
        .run();
    out.assert_exit(2);
    let r = results(&out);
    assert!(r[..30].iter().all(|r| r["isError"] == false));
    assert!(
        text_of(&r[30]).starts_with("[POLICY DENIED] rate limit"),
        "{}",
        text_of(&r[30])
    );
    assert!(gateway_decision(&r[30])["retry_after_s"].as_u64().is_some());

    // 31 calls the server rejects with a JSON-RPC error: each gives its quota back, so none is
    // refused by the limit, and the full quota of 30 is still there afterwards.
    let out = McpClient::python_stdio(&wrapped)
        .no_list()
        .call("findOneCompany", json!({}))
        .also_call("findOneCompany", json!({"id": "c1"}))
        .repeat(31)
        .run();
    let errors = out.events_named("error");
    assert_eq!(errors.len(), 31, "{:?}", out.events());
    assert!(errors.iter().all(|e| e["code"] == -32602));
    let after = results(&out);
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0]["isError"], false,
        "the 32nd call still fits: {:?}",
        after[0]
    );
}
