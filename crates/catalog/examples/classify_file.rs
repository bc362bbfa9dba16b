//! Prints the classification of every tool in a `tools/list`-shaped JSON file
//! (`{"tools": [...]}`): `cargo run -p toolgate-catalog --example classify_file -- FILE`.

fn main() {
    let path = std::env::args().nth(1).expect("usage: classify_file FILE");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for tool in doc["tools"].as_array().expect("a tools array") {
        let Some(def) = toolgate_catalog::ToolDefinition::from_value(tool) else {
            continue;
        };
        let judged = toolgate_catalog::classify(&def);
        let label = tool.get("label").and_then(|l| l.as_str()).unwrap_or("-");
        println!(
            "{:<12} {:<12} {:<40} {}",
            judged.category.as_str(),
            label,
            def.name,
            judged.reasons.join("; ")
        );
    }
}
