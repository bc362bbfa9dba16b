//! End to end: upgrading over a database an older toolgate left. The store is built here with
//! SQL as that toolgate wrote it — schema version 6 (migrations 1 to 6, recorded as its migrator
//! records them) and a catalogue of server-everything's tools pinned in format 1 (a digest over
//! `name`, `description`, `inputSchema` and `annotations` only), one of them since redescribed
//! upstream. The real binary opens it in front of server-everything (stdio, started lazily) and
//! must do what docs/catalogue.md promises: migration 7 runs, nothing unchanged is quarantined,
//! every unchanged tool's pin is taken again in format 2 at its first use by a client (title,
//! outputSchema and execution included), recorded as one `pin.repinned` event; the redescribed
//! tool is changed, naming only the member its old pin covered; clients list and call as before.

mod common;

use common::{RawSession, Toolgate, eventually, ok, stdout, toml_array, toml_str};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toolgate_catalog::{ToolDefinition, classify};
use toolgate_gateway::catalogue::fetch::CATALOGUE_CAPABILITIES;
use toolgate_testkit::{ChildGuard, server_everything_stdio_command};

/// The migrations an older toolgate (schema version 6) had applied, with the descriptions its
/// migrator recorded.
const OLD_MIGRATIONS: [(i64, &str, &str); 6] = [
    (
        1,
        "grants, audit streams, kill switches",
        include_str!("../../store/src/sqlite/migrations/0001_init.sql"),
    ),
    (
        2,
        "approvals",
        include_str!("../../store/src/sqlite/migrations/0002_approvals.sql"),
    ),
    (
        3,
        "tool catalogue and pins",
        include_str!("../../store/src/sqlite/migrations/0003_catalogue.sql"),
    ),
    (
        4,
        "approvals: when the caller left",
        include_str!("../../store/src/sqlite/migrations/0004_approval_caller_left.sql"),
    ),
    (
        5,
        "audit: request and outcome records of strict durability",
        include_str!("../../store/src/sqlite/migrations/0005_audit_phase.sql"),
    ),
    (
        6,
        "audit: keyed chains",
        include_str!("../../store/src/sqlite/migrations/0006_audit_keys.sql"),
    ),
];

/// The members a pin of the older toolgate covered.
const FORMAT_1_MEMBERS: [&str; 4] = ["name", "description", "inputSchema", "annotations"];

/// The tool whose description the server changed after the older toolgate pinned it.
const REDESCRIBED: &str = "echo";
const OLD_DESCRIPTION: &str = "Echoes back the input.";

/// server-everything's tools, as its `tools/list` shows them to a client declaring what the
/// catalogue's session declares (every capability).
fn everything_tools() -> Vec<Value> {
    let command = server_everything_stdio_command();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard::spawn("server-everything", &mut cmd).expect("server-everything");
    let lines = common::stdout_lines(&mut child);
    let mut stdin = child.child_mut().stdin.take().expect("stdin is piped");
    let mut send = |message: Value| writeln!(stdin, "{message}").expect("write to the server");
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = |id: u64| loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("server-everything answers");
        let message: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if message["id"] == id && message.get("method").is_none() {
            return message["result"].clone();
        }
    };
    let capabilities: Value = serde_json::from_str(CATALOGUE_CAPABILITIES).unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities,
        "clientInfo": {"name": "older-toolgate", "version": "1"}}}),
    );
    answer(0);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}));
    let tools = answer(1)["tools"].as_array().cloned().expect("tools");
    drop(stdin);
    child.terminate(Duration::from_secs(5));
    tools
}

/// A SQL string literal.
fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The catalogue row the older toolgate wrote for `tool` of server `everything`: pinned and
/// current alike, a format 1 version (canonical JSON of the members it covered, and its SHA-256).
fn format_1_row(tool: &Value) -> String {
    let covered: serde_json::Map<String, Value> = FORMAT_1_MEMBERS
        .iter()
        .filter_map(|m| Some(((*m).to_owned(), tool.get(*m)?.clone())))
        .collect();
    // serde_json's maps are sorted and it writes no whitespace: the canonical form.
    let text = Value::Object(covered).to_string();
    let digest = toolgate_store::token::hash(&text).to_hex();
    let classification = classify(&ToolDefinition::from_value(tool).expect("a tool"));
    format!(
        "INSERT INTO catalogue (server, tool, seq, state, pinned_digest, pinned_definition, \
         current_digest, current_definition, category, severity, classification, first_seen_ms, \
         last_seen_ms) VALUES ('everything', {}, 1, 'pinned', {d}, {t}, {d}, {t}, {}, {}, {}, \
         1700000000000, 1700000000000);\n",
        sql_str(tool["name"].as_str().unwrap()),
        sql_str(classification.category.as_str()),
        sql_str(classification.severity.as_str()),
        sql_str(&serde_json::to_string(&classification).unwrap()),
        d = sql_str(&digest),
        t = sql_str(&text),
    )
}

fn sqlite(db: &Path, sql: &str) -> String {
    let mut cmd = Command::new("sqlite3");
    cmd.arg("-bail")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run sqlite3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    stdout(&ok(child.wait_with_output().unwrap()))
}

/// The database an older toolgate (schema version 6) left, with `tools` pinned in format 1.
fn old_database(db: &Path, tools: &[Value]) {
    let mut sql = String::from("BEGIN;\n");
    for (_, _, migration) in OLD_MIGRATIONS {
        sql.push_str(migration);
        sql.push('\n');
    }
    sql.push_str(
        "CREATE TABLE toolgate_schema (version INTEGER PRIMARY KEY NOT NULL, \
         description TEXT NOT NULL, applied_at_ms INTEGER NOT NULL);\n",
    );
    for (version, description, _) in OLD_MIGRATIONS {
        sql.push_str(&format!(
            "INSERT INTO toolgate_schema VALUES ({version}, {}, 1700000000000);\n",
            sql_str(description)
        ));
    }
    for tool in tools {
        sql.push_str(&format_1_row(tool));
    }
    sql.push_str("COMMIT;\n");
    sqlite(db, &sql);
}

/// `toolgate pins list everything --json`: the server's entries.
fn pins(gw: &Toolgate) -> Vec<Value> {
    let out = ok(gw.cli(&["pins", "list", "everything", "--json"]));
    serde_json::from_str(&stdout(&out)).expect("pins list --json")
}

fn tool_pin<'a>(entries: &'a [Value], name: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["kind"] == "tool" && e["tool"] == name)
        .unwrap_or_else(|| panic!("no entry of {name}: {entries:?}"))
}

/// The admin audit's pin events (actions starting with `pin.`).
fn pin_events(gw: &Toolgate) -> Vec<Value> {
    let out = ok(gw.cli(&["audit", "export", "--stream", "admin"]));
    stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["action"].as_str().is_some_and(|a| a.starts_with("pin.")))
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {list}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// A `tools/list` answer to a client declaring no capabilities (server-everything lists its
/// roots, sampling and elicitation tools only to clients that declare those): the tools it
/// lists to every client, but not the redescribed one.
fn plainly_listed(list: &Value, unchanged: &[String]) {
    let names = names(list);
    assert!(!names.iter().any(|n| n == REDESCRIBED), "{list}");
    assert!(names.iter().all(|n| unchanged.contains(n)), "{list}");
    for always in [
        "get-structured-content",
        "get-sum",
        "get-env",
        "get-tiny-image",
    ] {
        assert!(names.iter().any(|n| n == always), "{always}: {list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_of_an_older_toolgate_are_taken_again_without_quarantining_unchanged_tools() {
    let listed = everything_tools();
    let structured = listed
        .iter()
        .find(|t| t["name"] == "get-structured-content")
        .expect("server-everything lists get-structured-content");
    // What the older pins did not cover, and the new ones must.
    assert!(structured.get("outputSchema").is_some() && structured.get("title").is_some());
    let mut old_tools = listed.clone();
    let echo = old_tools
        .iter_mut()
        .find(|t| t["name"] == REDESCRIBED)
        .expect("server-everything lists echo");
    assert_ne!(echo["description"], OLD_DESCRIPTION);
    echo["description"] = json!(OLD_DESCRIPTION);
    let unchanged: Vec<String> = listed
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .filter(|n| n != REDESCRIBED)
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("older.db");
    old_database(&db, &old_tools);
    let everything = server_everything_stdio_command();
    std::fs::write(
        dir.path().join("toolgate.toml"),
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nstore = {}\n\n\
             [servers.everything]\ncommand = {}\nargs = {}\n",
            toml_str(&format!("sqlite://{}", db.display())),
            toml_str(&everything[0]),
            toml_array(&everything[1..]),
        ),
    )
    .unwrap();
    let gw = Toolgate::start_in(dir, &[]);

    // The store was brought to schema version 7 when the gateway opened it.
    assert_eq!(
        sqlite(
            &db,
            "SELECT version || ' ' || description FROM toolgate_schema ORDER BY version;"
        )
        .lines()
        .last(),
        Some("7 catalogue: pins of instructions, pin formats")
    );
    // Before any client: every pin kept, marked format 1, nothing quarantined. (The server is
    // a lazy stdio one: nothing has listed it yet.)
    let before = pins(&gw);
    assert_eq!(before.len(), listed.len(), "{before:?}");
    for e in &before {
        assert_eq!(
            (&e["kind"], &e["state"], &e["pinned"]["format"]),
            (&json!("tool"), &json!("pinned"), &json!(1)),
            "{e}"
        );
    }
    let quarantined = ok(gw.cli(&["pins", "list", "--quarantined", "--json"]));
    assert_eq!(stdout(&quarantined).trim(), "[]");

    // A client's first use: its list is checked against the format 1 pins over the members they
    // covered; only the redescribed tool is held back, and the catalogue lists the server.
    let s = RawSession::open(&gw.url("everything"), None)
        .await
        .expect("session");
    let (_, list) = s.rpc(1, "tools/list", json!({})).await;
    plainly_listed(&list, &unchanged);

    let after = eventually(
        Duration::from_secs(30),
        "the older pins are taken again",
        || {
            let entries = pins(&gw);
            let done = unchanged
                .iter()
                .all(|n| tool_pin(&entries, n)["pinned"]["format"] == 2);
            (done, entries)
        },
    );
    for name in &unchanged {
        let e = tool_pin(&after, name);
        let now = listed.iter().find(|t| t["name"] == name.as_str()).unwrap();
        assert_eq!(e["state"], "pinned", "{e}");
        assert!(e["approved_by"].is_null(), "{e}");
        // Every member as listed, not only those the older pin covered.
        for member in ["title", "execution", "outputSchema"] {
            assert_eq!(
                e["pinned"]["definition"].get(member),
                now.get(member),
                "{e}"
            );
        }
    }
    assert_eq!(
        tool_pin(&after, "get-structured-content")["pinned"]["definition"]["outputSchema"],
        structured["outputSchema"]
    );
    // The redescribed tool: changed, naming only what its old pin covered (its title and
    // execution are not in that pin, yet are not reported), and its pin left as it was.
    let echo = tool_pin(&after, REDESCRIBED);
    assert_eq!(
        (
            &echo["state"],
            &echo["changed_fields"],
            &echo["pinned"]["format"]
        ),
        (&json!("changed"), &json!(["description"]), &json!(1)),
        "{echo}"
    );
    // The instructions, which the older toolgate did not pin, are pinned at first sight.
    let instructions = after
        .iter()
        .find(|e| e["kind"] == "instructions")
        .expect("instructions pinned");
    assert_eq!(instructions["state"], "pinned", "{instructions}");
    let quarantined = ok(gw.cli(&["pins", "list", "--quarantined", "--json"]));
    let quarantined: Vec<Value> = serde_json::from_str(&stdout(&quarantined)).unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0]["tool"], REDESCRIBED);
    let table = stdout(&ok(gw.cli(&["pins", "list", "everything"])));
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row of {name}:\n{table}"))
            .to_owned()
    };
    assert!(
        row("get-structured-content").contains(" pinned "),
        "{table}"
    );
    assert!(row(REDESCRIBED).contains(" changed "), "{table}");
    assert!(row(REDESCRIBED).contains("description"), "{table}");

    // Audited: one pin.repinned event naming every unchanged tool, the echo change once (only
    // the description), nothing new; the instructions pinned at first sight.
    let events = eventually(
        Duration::from_secs(30),
        "the pin events are written",
        || {
            let events = pin_events(&gw);
            let done = events.iter().any(|e| e["action"] == "pin.repinned")
                && events.iter().any(|e| e["action"] == "pin.changed");
            (done, events)
        },
    );
    let of =
        |action: &str| -> Vec<&Value> { events.iter().filter(|e| e["action"] == action).collect() };
    let repinned = of("pin.repinned");
    assert_eq!(repinned.len(), 1, "{events:?}");
    assert_eq!(repinned[0]["target"], "everything");
    assert_eq!(repinned[0]["actor"], "toolgate");
    let mut repinned_tools: Vec<String> =
        serde_json::from_value(repinned[0]["details"]["tools"].clone()).unwrap();
    repinned_tools.sort();
    let mut expected = unchanged.clone();
    expected.sort();
    assert_eq!(repinned_tools, expected);
    assert_eq!(repinned[0]["details"]["format"], 2);
    let changed = of("pin.changed");
    assert_eq!(changed.len(), 1, "{events:?}");
    assert_eq!(changed[0]["target"], format!("everything/{REDESCRIBED}"));
    assert_eq!(changed[0]["details"]["fields"], json!(["description"]));
    assert!(of("pin.new").is_empty(), "{events:?}");
    let pinned = of("pin.pinned");
    assert_eq!(pinned.len(), 1, "{events:?}");
    assert_eq!(pinned[0]["details"]["tools"], json!([]), "{events:?}");
    assert_eq!(pinned[0]["details"]["instructions"], true, "{events:?}");

    // Clients list and call as before, on a new session too.
    let s2 = RawSession::open(&gw.url("everything"), None)
        .await
        .expect("session");
    let (_, list) = s2.rpc(1, "tools/list", json!({})).await;
    plainly_listed(&list, &unchanged);
    let (_, sum) = s2.call(2, "get-sum", json!({"a": 2, "b": 3})).await;
    assert!(common::result_text(&sum).contains('5'), "{sum}");
    let (_, denied) = s2.call(3, REDESCRIBED, json!({"message": "hi"})).await;
    assert!(
        common::result_text(&denied).contains(&format!(
            "tool \"{REDESCRIBED}\" changed since it was pinned (description)"
        )),
        "{denied}"
    );
    assert!(
        common::result_text(&denied).contains("toolgate pins approve everything echo"),
        "{denied}"
    );
}
