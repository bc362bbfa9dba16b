//! Measures the classifier against the hand-labelled tools in `labelled/` (real servers'
//! published definitions; rules in labelled/README.md): overall and per-server accuracy, the
//! confusion matrix, and the count that matters most — dangerous tools (execute, destructive,
//! financial) called Read. Measured twice: as published, and with every annotation stripped
//! (the classifier must not lean on hints a server may omit or get wrong).
//!
//! `cargo test -p toolgate-catalog --test accuracy -- --nocapture` prints the report.

use std::collections::BTreeMap;
use toolgate_catalog::{Category, ToolDefinition, classify};

/// Fail below these (set from the measured figures, with a little room).
const MIN_ACCURACY_ANNOTATED: f64 = 0.88;
const MIN_ACCURACY_STRIPPED: f64 = 0.88;
/// Accuracy on the published servers alone (the Twenty catalogue's generated names are easy).
const MIN_ACCURACY_WITHOUT_TWENTY: f64 = 0.85;

struct Labelled {
    server: String,
    tool: ToolDefinition,
    label: Category,
}

fn labelled_set() -> Vec<Labelled> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labelled");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("labelled/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut set = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable file");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let server = doc["server"].as_str().expect("server name").to_owned();
        for tool in doc["tools"].as_array().expect("tools array") {
            let label = tool["label"].as_str().expect("label");
            set.push(Labelled {
                server: server.clone(),
                tool: ToolDefinition::from_value(tool).expect("tool with a name"),
                label: Category::parse(label).expect("a known label"),
            });
        }
    }
    set
}

#[derive(Default)]
struct Score {
    total: usize,
    right: usize,
    dangerous_as_read: Vec<String>,
    /// (label, predicted) → count
    confusion: BTreeMap<(Category, Category), usize>,
    per_server: BTreeMap<String, (usize, usize)>,
}

impl Score {
    fn accuracy(&self) -> f64 {
        self.right as f64 / self.total as f64
    }

    fn accuracy_without_twenty(&self) -> f64 {
        let (right, total) = self
            .per_server
            .iter()
            .filter(|(server, _)| server.as_str() != "twenty")
            .fold((0, 0), |(r, t), (_, (right, total))| (r + right, t + total));
        right as f64 / total as f64
    }
}

fn score(set: &[Labelled], strip: bool) -> Score {
    let mut score = Score::default();
    for item in set {
        let mut tool = item.tool.clone();
        if strip {
            tool.annotations = None;
        }
        let got = classify(&tool).category;
        score.total += 1;
        let server = score.per_server.entry(item.server.clone()).or_default();
        server.1 += 1;
        if got == item.label {
            score.right += 1;
            server.0 += 1;
        }
        *score.confusion.entry((item.label, got)).or_default() += 1;
        if got == Category::Read && item.label >= Category::Execute {
            score
                .dangerous_as_read
                .push(format!("{}/{} ({})", item.server, tool.name, item.label));
        }
    }
    score
}

fn report(title: &str, s: &Score) {
    println!("\n## {title}");
    println!(
        "accuracy {}/{} = {:.1}%, dangerous-as-Read {}",
        s.right,
        s.total,
        100.0 * s.accuracy(),
        s.dangerous_as_read.len()
    );
    println!(
        "without the Twenty catalogue: {:.1}%",
        100.0 * s.accuracy_without_twenty()
    );
    println!("label \\ predicted: read write execute destructive financial");
    for label in Category::ALL {
        let row: Vec<String> = Category::ALL
            .iter()
            .map(|p| format!("{:>5}", s.confusion.get(&(label, *p)).unwrap_or(&0)))
            .collect();
        println!("{:<12} {}", label.as_str(), row.join(" "));
    }
    for (server, (right, total)) in &s.per_server {
        println!("  {server:<20} {right:>3}/{total:<3}");
    }
    for miss in &s.dangerous_as_read {
        println!("  dangerous as Read: {miss}");
    }
}

#[test]
fn the_labelled_set_is_big_and_varied_enough() {
    let set = labelled_set();
    let servers: std::collections::BTreeSet<_> = set.iter().map(|l| &l.server).collect();
    assert!(set.len() >= 300, "{} labelled tools", set.len());
    assert!(servers.len() >= 8, "{} servers", servers.len());
}

/// Scores the set, prints the report, and fails below the bar.
fn measure(title: &str, strip_annotations: bool, min_accuracy: f64) {
    let s = score(&labelled_set(), strip_annotations);
    report(title, &s);
    assert!(s.accuracy() >= min_accuracy, "accuracy {:.3}", s.accuracy());
    assert!(
        s.accuracy_without_twenty() >= MIN_ACCURACY_WITHOUT_TWENTY,
        "accuracy without Twenty {:.3}",
        s.accuracy_without_twenty()
    );
    // Not one execute, destructive or financial tool may be called Read.
    assert!(
        s.dangerous_as_read.is_empty(),
        "dangerous tools called Read: {:?}",
        s.dangerous_as_read
    );
}

#[test]
fn accuracy_with_annotations_as_published() {
    measure("annotations as published", false, MIN_ACCURACY_ANNOTATED);
}

#[test]
fn accuracy_with_annotations_stripped() {
    measure("annotations stripped", true, MIN_ACCURACY_STRIPPED);
}
