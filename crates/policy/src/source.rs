//! [`parse_document`]: JSON or YAML text → the spanned tree policies are read from, for other files that
//! want the same located errors (`toolgate policy test` case files). Syntax errors and duplicate keys (at
//! any depth) are reported as [`Diagnostics`]; validating the shape is the caller's job.

use crate::SourceFormat;
use crate::diagnostics::{Collector, Diagnostics};
use crate::document::Node;

/// Parses one JSON or YAML document. `origin` names it in diagnostics (usually its path).
pub fn parse_document(text: &str, origin: &str, format: SourceFormat) -> Result<Node, Diagnostics> {
    let mut diags = Collector::new(origin);
    let parsed = match format {
        SourceFormat::Json => crate::json::parse(text),
        SourceFormat::Yaml => crate::yaml::parse(text),
    };
    match parsed {
        Ok(root) => {
            crate::compile::check_duplicate_keys(&root, "", &mut diags);
            if diags.has_errors() {
                Err(diags.finish())
            } else {
                Ok(root)
            }
        }
        Err(e) => {
            let help = e.help.or_else(|| {
                Some(
                    match format {
                        SourceFormat::Json => "the file must be valid JSON (RFC 8259)",
                        SourceFormat::Yaml => "the file must be valid YAML",
                    }
                    .to_owned(),
                )
            });
            diags.error(e.pos, "", e.message, help);
            Err(diags.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeKind;

    #[test]
    fn parses_both_formats_and_locates_errors() {
        let j = parse_document(r#"{"a": [1, "x"]}"#, "c.json", SourceFormat::Json).unwrap();
        let y = parse_document("a: [1, x]\n", "c.yaml", SourceFormat::Yaml).unwrap();
        assert_eq!(j.to_json(), y.to_json());
        assert!(matches!(j.kind, NodeKind::Object(_)));

        let e = parse_document("{\"a\": 1,\n \"a\": 2}", "c.json", SourceFormat::Json).unwrap_err();
        assert_eq!((e.items[0].line, e.items[0].col), (2, 2));
        assert_eq!(e.items[0].pointer, "/a");
        let e = parse_document("a: [1,\n", "c.yaml", SourceFormat::Yaml).unwrap_err();
        assert!(e.items[0].message.contains("invalid YAML"), "{e}");
    }
}
