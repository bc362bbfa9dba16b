//! The official MCP conformance suite, run against server-everything directly and through the
//! gateway (HTTP and stdio upstreams): the gateway must pass every scenario the server passes
//! alone.

mod common;

use common::{Toolgate, toml_array, toml_str};
use std::collections::BTreeSet;
use toolgate_testkit::{
    conformance, server_everything_stdio_command, spawn_server_everything_http,
};

/// Scenario names marked passed (`✓ name: N passed, 0 failed`) in the suite's output.
fn passed(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("✓ "))
        .filter_map(|l| l.split(':').next())
        .map(str::to_owned)
        .collect()
}

fn run_suite(url: &str) -> (BTreeSet<String>, String) {
    let out = conformance(&["server", "--url", url]).run();
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("Total:"), "the suite did not finish:\n{text}");
    (passed(&text), text)
}

#[test]
fn gateway_passes_every_scenario_the_server_passes_directly() {
    let everything = spawn_server_everything_http();
    let stdio = server_everything_stdio_command();
    let config = format!(
        "[servers.http]\nurl = {}\n\n[servers.stdio]\ncommand = {}\nargs = {}\n",
        toml_str(&everything.url),
        toml_str(&stdio[0]),
        toml_array(&stdio[1..]),
    );
    let gateway = Toolgate::start(&config, &[]);

    let (direct, direct_text) = run_suite(&everything.url);
    assert!(
        direct.len() >= 10,
        "server-everything alone passes too little:\n{direct_text}"
    );
    for server in ["http", "stdio"] {
        let (through, text) = run_suite(&gateway.url(server));
        let missing: Vec<_> = direct.difference(&through).collect();
        assert!(
            missing.is_empty(),
            "through the {server} upstream these scenarios fail: {missing:?}\n{text}"
        );
        // The gateway validates Origin; server-everything alone does not.
        assert!(through.contains("dns-rebinding-protection"), "{text}");
    }
}

#[test]
fn the_aggregate_endpoint_passes_every_scenario_the_server_passes_directly() {
    let everything = spawn_server_everything_http();
    let gateway = Toolgate::start(
        &format!(
            "[servers.everything]\nurl = {}\n",
            toml_str(&everything.url)
        ),
        &[],
    );
    let (direct, direct_text) = run_suite(&everything.url);
    assert!(direct.len() >= 10, "{direct_text}");
    let (through, text) = run_suite(&format!("{}/mcp", gateway.base));
    let missing: Vec<_> = direct.difference(&through).collect();
    assert!(
        missing.is_empty(),
        "through /mcp these scenarios fail: {missing:?}\n{text}"
    );
}
