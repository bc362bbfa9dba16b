//! Strips insignificant whitespace from JSON text without reordering keys, so the fixture's tool definitions
//! are served byte-for-byte in their original order and fit on one line of a newline-delimited stream.

/// Returns `json` without the whitespace outside strings. `json` must already be valid JSON.
pub(crate) fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::minify;

    #[test]
    fn keeps_whitespace_and_escapes_inside_strings() {
        let text = "{\n  \"b\" : [1, 2],\n  \"a\": \"x \\\" y\\\\\" }";
        assert_eq!(minify(text), r#"{"b":[1,2],"a":"x \" y\\"}"#);
    }
}
