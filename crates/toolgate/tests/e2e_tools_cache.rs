//! End to end: `tools/list` answers come from the gateway's cache while nothing that shapes them
//! changed, and stop coming from it the moment the policy changes. The audit log tells them
//! apart: a listing served from the cache has the upstream status `cached`.

mod common;

use common::{RawSession, Toolgate, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolgate_testkit::twenty_stdio_command;

/// The upstream statuses of the `tools/list` records, oldest first, once there are `count`.
fn list_statuses(gw: &Toolgate, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = ok(gw.cli(&["audit", "query", "--limit", "0", "--json"]));
        let mut statuses: Vec<(u64, String)> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["method"] == "tools/list")
            .map(|r| {
                let seq = r["seq"].as_u64().unwrap_or_default();
                (seq, r["upstream_status"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        statuses.sort();
        if statuses.len() >= count || Instant::now() > deadline {
            return statuses.into_iter().map(|(_, s)| s).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(listing: &Value) -> Vec<&str> {
    listing["result"]["tools"]
        .as_array()
        .expect("a tools array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_are_cached_until_the_policy_changes() {
    let twenty = twenty_stdio_command();
    let config = format!(
        "[servers.crm]\ncommand = {}\nargs = {}\npolicy = \"p.json\"\n",
        toml_str(&twenty[0]),
        toml_array(&twenty[1..])
    );
    let gw = Toolgate::start(
        &config,
        &[("p.json", r#"{"version":"1","default":"allow"}"#)],
    );
    let url = gw.url("crm");

    // Two sessions of the same kind of client: the second listing is the first one's answer.
    let first = RawSession::open(&url, None).await.unwrap();
    let (_, a) = first.rpc(1, "tools/list", json!({})).await;
    let second = RawSession::open(&url, None).await.unwrap();
    let (_, b) = second.rpc(2, "tools/list", json!({})).await;
    assert_eq!(names(&a).len(), 219, "{a}");
    assert_eq!(b["id"], 2, "the cached answer carries the request's own id");
    assert_eq!(a["result"], b["result"]);
    assert_eq!(list_statuses(&gw, 2), ["ok", "cached"]);

    // A policy change applies to the very next listing.
    std::fs::write(
        gw.path("p.json"),
        r#"{"version":"1","default":"allow","hide":["deleteOne*"]}"#,
    )
    .unwrap();
    // Wait until the gateway has the new policy (a call of a hidden tool is refused), then list
    // at once: the answer cached a moment ago under the old policy must not be served.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut id = 10;
    loop {
        id += 1;
        let (_, r) = second
            .call(id, "deleteOneCompany", json!({"id": "c-1"}))
            .await;
        if r["result"]["isError"] == true || r.get("error").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the policy edit never applied: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, listed) = second.rpc(id + 1, "tools/list", json!({})).await;
    let names = names(&listed);
    assert!(!names.contains(&"deleteOneCompany"), "{names:?}");
    assert_eq!(names.len(), 219 - 31, "every deleteOne* tool is hidden");
}
