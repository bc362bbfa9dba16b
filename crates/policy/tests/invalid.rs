//! Snapshot tests of the diagnostics for every invalid policy under tests/invalid/: each error located
//! (file:line:col and JSON pointer) and hinted. Snapshots live in tests/snapshots/ and are reviewed; a
//! changed message fails the test.

use std::fs;

use toolgate_policy::{SourceFormat, compile};

#[test]
fn invalid_policies_report_every_error() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "fixtures missing: {}", files.len());
    for path in files {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .expect("utf-8 name")
            .to_owned();
        let text = fs::read_to_string(&path).expect("readable");
        let origin = format!("policies/{file}");
        let diagnostics = match compile(&text, &origin, SourceFormat::from_path(&file)) {
            Ok(_) => panic!("{file} should be rejected"),
            Err(d) => d,
        };
        for d in &diagnostics {
            assert!(
                d.line > 0 && d.col > 0,
                "{file}: unlocated diagnostic {d:?}"
            );
            assert!(d.help.is_some(), "{file}: diagnostic without a hint: {d}");
        }
        let rendered = format!("{} error(s)\n{diagnostics}", diagnostics.len());
        insta::assert_snapshot!(file.replace('.', "_"), rendered);
    }
}
