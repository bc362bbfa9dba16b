//! Splitting tool names into words in every casing convention (`deleteOneCompany`,
//! `delete_file`, `git-reset`, `UpdateOne…`, `getHTTPStatus`) and reducing inflected verbs in
//! descriptions (`Deletes`, `retrieves`) to the form the lexicon knows.

/// The lower-case words of a tool name.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        split_camel(part, &mut words);
    }
    words
}

/// Splits one separator-free part at case changes and letter/digit boundaries.
fn split_camel(part: &str, out: &mut Vec<String>) {
    let chars: Vec<char> = part.chars().collect();
    let mut start = 0;
    for i in 1..chars.len() {
        let (prev, cur) = (chars[i - 1], chars[i]);
        let next_is_lower = chars.get(i + 1).is_some_and(|c| c.is_ascii_lowercase());
        let boundary = (prev.is_ascii_lowercase() && cur.is_ascii_uppercase())
            || (prev.is_ascii_uppercase() && cur.is_ascii_uppercase() && next_is_lower)
            || (prev.is_ascii_alphabetic() != cur.is_ascii_alphabetic());
        if boundary {
            push_word(&chars[start..i], out);
            start = i;
        }
    }
    push_word(&chars[start..], out);
}

fn push_word(chars: &[char], out: &mut Vec<String>) {
    if !chars.is_empty() {
        out.push(chars.iter().map(|c| c.to_ascii_lowercase()).collect());
    }
}

/// The words of already lower-cased prose, letters only (`read-only` gives `read`, `only`).
pub fn prose_words(lower: &str) -> impl Iterator<Item = &str> {
    lower
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
}

/// The base forms a word may be an inflection of, most likely first: `deletes` → `delete`,
/// `searches` → `search`, `lists` → `list`. The word itself is always first.
pub fn base_forms(word: &str) -> impl Iterator<Item = &str> {
    let strip = |suffix: &str| word.strip_suffix(suffix).filter(|b| b.len() >= 2);
    let es = if word.ends_with("ches")
        || word.ends_with("shes")
        || word.ends_with("sses")
        || word.ends_with("xes")
    {
        strip("es")
    } else {
        None
    };
    let s = if word.ends_with("ss") {
        None
    } else {
        strip("s")
    };
    std::iter::once(word).chain(es).chain(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_every_casing_convention() {
        assert_eq!(name_words("deleteOneCompany"), ["delete", "one", "company"]);
        assert_eq!(name_words("delete_file"), ["delete", "file"]);
        assert_eq!(name_words("git-reset"), ["git", "reset"]);
        assert_eq!(
            name_words("UpdateOneOpportunity"),
            ["update", "one", "opportunity"]
        );
        assert_eq!(name_words("getHTTPStatus"), ["get", "http", "status"]);
        assert_eq!(
            name_words("browser.take_screenshot"),
            ["browser", "take", "screenshot"]
        );
        assert_eq!(name_words("s3PutObject2"), ["s", "3", "put", "object", "2"]);
        assert_eq!(name_words("LIST_PODS"), ["list", "pods"]);
    }

    #[test]
    fn reduces_third_person_verbs() {
        let forms = |w| base_forms(w).collect::<Vec<_>>();
        assert_eq!(forms("deletes"), ["deletes", "delete"]);
        assert_eq!(forms("searches"), ["searches", "search", "searche"]);
        assert_eq!(forms("access"), ["access"]);
        assert_eq!(forms("get"), ["get"]);
    }
}
