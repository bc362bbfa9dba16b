//! Weighing the evidence about one tool. The name's verb decides first, the description's when
//! the name has none; signs of danger (a destructive verb anywhere in the name, "permanently" in
//! the description, code in the schema, money anywhere) only ever raise the category; the
//! server's annotations may raise it, and may make a tool Read only when nothing else speaks.
//! A tool nothing explains is taken to act (Execute).

use crate::lexicon::{self, IRREVERSIBLE_PHRASES, READ_ONLY_PHRASES};
use crate::words::{base_forms, name_words, prose_words};
use crate::{Category, Classification, ToolDefinition, schema};

/// Classifies a tool from its definition alone.
pub fn classify(tool: &ToolDefinition) -> Classification {
    Evidence::gather(tool).judge()
}

/// Classifies a tool, letting an operator's category win when there is one.
pub fn classify_with_override(tool: &ToolDefinition, category: Option<Category>) -> Classification {
    let mut judged = classify(tool);
    if let Some(category) = category {
        judged
            .reasons
            .insert(0, format!("operator override: {category}"));
        judged.category = category;
        judged.severity = severity_of(category, judged.credentials);
        judged.confidence = 1.0;
        judged.overridden = true;
    }
    judged
}

/// Everything the definition says, before weighing.
struct Evidence<'a> {
    name_verb: Option<(String, Category)>,
    /// The name says the tool drives a browser or desktop (`browser_click`).
    automation: bool,
    /// A destructive verb anywhere in the name (`git_force_push`, `bulk_delete`).
    name_destructive: Option<String>,
    financial_noun: Option<String>,
    /// Why the tool reads or manages secrets, if it does.
    credentials: Option<String>,
    description_verb: Option<(String, Category)>,
    irreversible: Option<&'static str>,
    read_only_phrase: bool,
    money_in_description: bool,
    schema: schema::SchemaEvidence<'a>,
    read_only_hint: Option<bool>,
    destructive_hint: Option<bool>,
}

impl<'a> Evidence<'a> {
    fn gather(tool: &'a ToolDefinition) -> Evidence<'a> {
        let words = name_words(&tool.name);
        let verb_at = words.iter().position(|w| lexicon::verb(w).is_some());
        let name_verb =
            verb_at.and_then(|i| lexicon::verb(&words[i]).map(|c| (words[i].clone(), c)));
        let automation = words.iter().any(|w| lexicon::automation_context(w));
        let name_destructive = words
            .iter()
            .find(|w| lexicon::verb(w) == Some(Category::Destructive))
            .cloned();
        // The verb itself is not a noun of money (`git_checkout`).
        let financial_noun = words
            .iter()
            .enumerate()
            .find(|(i, w)| Some(*i) != verb_at && lexicon::financial_noun(w))
            .map(|(_, w)| w.clone());
        let lower = tool
            .description
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let credentials = credentials(&words, &lower);
        let first_sentence = first_sentence(&lower);
        let description_verb = description_verb(first_sentence);
        let irreversible = IRREVERSIBLE_PHRASES
            .into_iter()
            .find(|phrase| lower.contains(phrase));
        let read_only_phrase = READ_ONLY_PHRASES.iter().any(|p| lower.contains(p));
        let money_in_description = prose_words(first_sentence).any(lexicon::money_word);

        let annotations = tool.annotations.as_ref();
        Evidence {
            name_verb,
            automation,
            name_destructive,
            financial_noun,
            credentials,
            description_verb,
            irreversible,
            read_only_phrase,
            money_in_description,
            schema: schema::read(&tool.input_schema),
            read_only_hint: annotations.and_then(|a| a.read_only_hint),
            destructive_hint: annotations.and_then(|a| a.destructive_hint),
        }
    }

    fn judge(self) -> Classification {
        use Category::*;
        let mut v = self.first_guess();
        if let Some(verb) = &self.name_destructive {
            v.raise(Destructive, || {
                format!("destructive verb \"{verb}\" in name")
            });
        }
        if let Some((verb, Destructive)) = &self.description_verb {
            v.raise(Destructive, || format!("verb \"{verb}\" in description"));
        }
        if let Some(phrase) = self.irreversible {
            v.raise(Destructive, || format!("description says \"{phrase}\""));
        }
        if let Some(operation) = self.schema.destructive_operation {
            v.raise(Destructive, || {
                format!("schema offers the operation \"{operation}\"")
            });
        }
        // A read-only claim about a tool that runs whatever it is given cannot be checked.
        if let Some(property) = self.schema.code_property {
            v.raise(Execute, || format!("schema takes code in \"{property}\""));
        }
        if self.automation
            && matches!(v.category, Write | Destructive)
            && self.irreversible.is_none()
        {
            let was = v.category;
            v.category = Execute;
            v.reasons.push(format!(
                "drives a browser or desktop: {was} acts there as Execute"
            ));
        }
        match (self.read_only_hint, self.destructive_hint) {
            (Some(true), _) if v.category == Read => {
                v.reasons
                    .push("annotation readOnlyHint=true agrees".to_owned());
                v.confidence = f32::max(v.confidence, 0.95);
            }
            (Some(true), _) => {
                let said = v.category;
                v.reasons.push(format!(
                    "annotation readOnlyHint=true disregarded: the evidence says {said}"
                ));
                v.confidence = 0.5;
            }
            // Servers set destructiveHint for anything not read-only; it decides only when the
            // name has no verb to say otherwise.
            (_, Some(true)) if self.name_verb.is_none() => {
                v.raise(Destructive, || "annotation destructiveHint=true".into())
            }
            (_, Some(true)) => v
                .reasons
                .push("annotation destructiveHint=true not confirmed by the name".into()),
            (Some(false), Some(false)) => {
                v.reasons
                    .push("annotations: changes things, not destructively".to_owned());
                v.confidence = f32::max(v.confidence, 0.9);
            }
            _ => {}
        }
        if v.category != Read
            && let Some(why) = self.money()
        {
            v.raise(Financial, || why);
        }
        if let Some(why) = &self.credentials {
            v.reasons.push(format!("handles credentials: {why}"));
        }
        Classification {
            category: v.category,
            severity: severity_of(v.category, self.credentials.is_some()),
            confidence: v.confidence,
            credentials: self.credentials.is_some(),
            reasons: v.reasons,
            overridden: false,
        }
    }

    /// The category the strongest single piece of evidence gives.
    fn first_guess(&self) -> Verdict {
        use Category::*;
        let (category, confidence, reason) = if let Some((verb, c)) = &self.name_verb {
            (*c, 0.8, format!("verb \"{verb}\" in name"))
        } else if let Some((verb, c)) = &self.description_verb {
            (*c, 0.6, format!("verb \"{verb}\" in description"))
        } else if self.read_only_phrase {
            (Read, 0.5, "description says it is read-only".to_owned())
        } else if self.read_only_hint == Some(true) {
            let why = "annotation readOnlyHint=true (no other evidence)";
            (Read, 0.5, why.to_owned())
        } else if let Some(property) = self.schema.code_property {
            (Execute, 0.6, format!("schema takes code in \"{property}\""))
        } else {
            let why = "no verb recognised in name or description: assumed to act";
            (Execute, 0.3, why.to_owned())
        };
        Verdict {
            category,
            confidence,
            reasons: vec![reason],
        }
    }

    /// Why the tool moves money, if anything says so.
    fn money(&self) -> Option<String> {
        if let Some((verb, Category::Financial)) = &self.name_verb {
            Some(format!("payment verb \"{verb}\" in name"))
        } else if let Some(noun) = &self.financial_noun {
            Some(format!("money noun \"{noun}\" in name"))
        } else if self.schema.money {
            Some("schema has \"amount\" and \"currency\"".to_owned())
        } else if self.money_in_description {
            Some("description speaks of money".to_owned())
        } else {
            None
        }
    }
}

/// The category so far, and why.
struct Verdict {
    category: Category,
    confidence: f32,
    reasons: Vec<String>,
}

impl Verdict {
    /// Moves to a more dangerous category (never a less dangerous one), noting why.
    fn raise(&mut self, to: Category, why: impl FnOnce() -> String) {
        if to > self.category {
            self.category = to;
            self.reasons.push(why());
        }
    }
}

/// A tool that handles credentials is at least high severity, whatever it does.
fn severity_of(category: Category, credentials: bool) -> crate::Severity {
    let severity = category.severity();
    if credentials {
        severity.max(crate::Severity::High)
    } else {
        severity
    }
}

/// Why a tool reads or manages secrets: a secret named in its name (`createOneConnectedAccount`,
/// `read_secret`); the process environment, where servers keep their keys, in its name or
/// description (`get-env`, "Returns all environment variables"); or a configuration whose
/// description speaks of secrets (`get_config`, "… with the API token").
fn credentials(name_words: &[String], lower_description: &str) -> Option<String> {
    if let Some(noun) = name_words.iter().find(|w| lexicon::credential_noun(w)) {
        return Some(format!("\"{noun}\" in name"));
    }
    if let Some(pair) = name_words
        .windows(2)
        .find(|pair| lexicon::credential_pair(&pair[0], &pair[1]))
    {
        return Some(format!("\"{} {}\" in name", pair[0], pair[1]));
    }
    let environment_in_name = name_words.iter().find(|w| lexicon::environment_word(w));
    if let Some(word) = environment_in_name {
        return Some(format!("reads the environment (\"{word}\" in name)"));
    }
    if name_words
        .windows(2)
        .any(|pair| lexicon::environment_pair(&pair[0], &pair[1]))
    {
        return Some("reads environment variables (name)".to_owned());
    }
    // Bounded, so that a huge description costs little.
    let prose = match lower_description.char_indices().nth(2000) {
        Some((i, _)) => &lower_description[..i],
        None => lower_description,
    };
    let words: Vec<&str> = prose_words(prose).collect();
    if words
        .windows(2)
        .any(|pair| lexicon::environment_pair(pair[0], pair[1]))
    {
        return Some("description speaks of environment variables".to_owned());
    }
    let configuration = name_words.iter().find(|w| lexicon::configuration_noun(w));
    if let (Some(noun), Some(secret)) = (
        configuration,
        words.iter().find(|w| lexicon::secret_word(w)),
    ) {
        return Some(format!(
            "\"{noun}\" in name and \"{secret}\" in description"
        ));
    }
    None
}

/// The first sentence of lower-cased prose (bounded, so a huge description costs little).
fn first_sentence(lower: &str) -> &str {
    let bounded = match lower.char_indices().nth(400) {
        Some((i, _)) => &lower[..i],
        None => lower,
    };
    let end = [". ", ".\n", "\n\n"]
        .iter()
        .filter_map(|sep| bounded.find(sep))
        .min()
        .unwrap_or(bounded.len());
    &bounded[..end]
}

/// The description's leading verb, or the most dangerous of a leading list of verbs
/// ("List, create, close, or select a tab" → create).
fn description_verb(sentence: &str) -> Option<(String, Category)> {
    let verb_of = |w: &str| base_forms(w).find_map(|b| lexicon::verb(b).map(|c| (b.to_owned(), c)));
    let mut words =
        prose_words(sentence).skip_while(|w| ambiguous_in_prose(w) || verb_of(w).is_none());
    let mut best = verb_of(words.next()?)?;
    for word in words {
        if matches!(word, "or" | "and") {
            continue;
        }
        match verb_of(word) {
            Some((verb, category)) if !ambiguous_in_prose(word) => {
                if category > best.1 {
                    best = (verb, category);
                }
            }
            _ => break,
        }
    }
    Some(best)
}

/// Words that are verbs in a name but mostly nouns or adjectives in prose.
fn ambiguous_in_prose(word: &str) -> bool {
    matches!(
        word,
        "new"
            | "type"
            | "set"
            | "post"
            | "log"
            | "logs"
            | "open"
            | "head"
            | "tail"
            | "tree"
            | "link"
            | "info"
            | "status"
            | "history"
            | "health"
            | "record"
            | "store"
            | "tag"
            | "label"
            | "star"
            | "block"
            | "request"
            | "requests"
            | "call"
            | "change"
            | "changes"
            | "comment"
            | "comments"
            | "order"
            | "view"
            | "empty"
            | "force"
            | "clear"
            | "fund"
            | "tip"
            | "bill"
            | "format"
            | "reply"
            | "draft"
            | "sample"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Annotations;
    use serde_json::json;

    fn tool(name: &str, description: &str) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: Some(description.into()),
            ..ToolDefinition::default()
        }
    }

    fn read_only(mut t: ToolDefinition) -> ToolDefinition {
        t.annotations = Some(Annotations {
            read_only_hint: Some(true),
            ..Annotations::default()
        });
        t
    }

    #[test]
    fn verbs_in_every_casing_convention() {
        for (name, expected) in [
            ("deleteOneCompany", Category::Destructive),
            ("delete_file", Category::Destructive),
            ("git-reset", Category::Destructive),
            ("UpdateOneOpportunity", Category::Write),
            ("findManyPeople", Category::Read),
            ("run_workflow", Category::Execute),
            ("create_refund", Category::Financial),
        ] {
            assert_eq!(classify(&tool(name, "")).category, expected, "{name}");
        }
    }

    #[test]
    fn a_read_only_hint_never_hides_a_dangerous_verb() {
        let judged = classify(&read_only(tool("drop_table", "Drops a table.")));
        assert_eq!(judged.category, Category::Destructive);
        assert!(judged.reasons.iter().any(|r| r.contains("disregarded")));
    }

    #[test]
    fn unknown_tools_are_assumed_to_act_and_missing_annotations_never_mean_read() {
        let judged = classify(&tool("frobnicate", "Frobnicates the widget."));
        assert_eq!(judged.category, Category::Execute);
        assert!(judged.confidence < 0.5);
        // With the hint and nothing against it, the server is believed.
        let hinted = classify(&read_only(tool("frobnicate", "Frobnicates the widget.")));
        assert_eq!(hinted.category, Category::Read);
    }

    #[test]
    fn the_description_decides_when_the_name_cannot() {
        let judged = classify(&tool("widget", "Permanently removes the widget."));
        assert_eq!(judged.category, Category::Destructive);
        assert!(
            judged.reasons[0].contains("in description"),
            "{:?}",
            judged.reasons
        );
    }

    #[test]
    fn money_raises_a_change_but_not_a_read() {
        let mut transfer = tool("send", "Sends something.");
        transfer.input_schema = json!({"properties": {
            "amount": {"type": "number"}, "currency": {"type": "string"}}});
        assert_eq!(classify(&transfer).category, Category::Financial);
        assert_eq!(
            classify(&tool("list_invoices", "")).category,
            Category::Read
        );
        assert_eq!(
            classify(&tool("git_checkout", "")).category,
            Category::Write
        );
    }

    #[test]
    fn code_in_the_schema_makes_a_query_tool_execute() {
        let mut query = tool("query", "Run a read-only SQL query.");
        query.input_schema = json!({"properties": {"sql": {"type": "string"}}});
        assert_eq!(classify(&query).category, Category::Execute);
    }

    /// server-everything's `get-env`, as it lists it: read-only by its own annotations, and it
    /// hands the server's whole environment (keys and tokens included) to the caller.
    fn get_env() -> ToolDefinition {
        ToolDefinition {
            annotations: Some(Annotations {
                read_only_hint: Some(true),
                destructive_hint: Some(false),
                idempotent_hint: Some(true),
                open_world_hint: Some(false),
                title: None,
            }),
            ..tool(
                "get-env",
                "Returns all environment variables, helpful for debugging MCP server configuration",
            )
        }
    }

    #[test]
    fn tools_that_read_the_environment_handle_credentials() {
        let judged = classify(&get_env());
        assert!(judged.credentials, "{:?}", judged.reasons);
        assert_eq!(judged.category, Category::Read, "it changes nothing");
        assert_eq!(judged.severity, crate::Severity::High);
        assert!(
            judged
                .reasons
                .iter()
                .any(|r| r == "handles credentials: reads the environment (\"env\" in name)"),
            "{:?}",
            judged.reasons
        );
        for name in [
            "get_env",
            "printEnv",
            "getenv",
            "load_dotenv",
            "list_env_vars",
        ] {
            let judged = classify(&tool(name, ""));
            assert!(judged.credentials, "{name}: {:?}", judged.reasons);
            assert!(judged.severity >= crate::Severity::High, "{name}");
        }
        // The description alone says so.
        let judged = classify(&tool(
            "debug_info",
            "Shows the process's environment variables and arguments.",
        ));
        assert!(judged.credentials, "{:?}", judged.reasons);
        assert!(
            judged
                .reasons
                .iter()
                .any(|r| r.contains("environment variables"))
        );
    }

    #[test]
    fn secrets_by_name_and_configurations_that_hold_secrets_handle_credentials() {
        for name in ["read_secret", "getApiKey", "list_tokens", "show_password"] {
            assert!(classify(&tool(name, "")).credentials, "{name}");
        }
        let with_secrets = classify(&tool(
            "get_config",
            "Returns the server configuration, including the API token it uses.",
        ));
        assert!(with_secrets.credentials, "{:?}", with_secrets.reasons);
        assert!(
            with_secrets
                .reasons
                .iter()
                .any(|r| r.contains("\"config\" in name and \"token\" in description")),
            "{:?}",
            with_secrets.reasons
        );
        // Nothing that speaks of secrets or of the environment.
        for (name, description) in [
            ("get_config", "Returns the editor's indentation settings."),
            (
                "list_environments",
                "Lists the deployment environments of a project.",
            ),
            ("get_weather", "Returns the weather for a city."),
            ("findManyPeople", ""),
        ] {
            let judged = classify(&tool(name, description));
            assert!(!judged.credentials, "{name}: {:?}", judged.reasons);
        }
    }

    #[test]
    fn enumerated_destructive_operations_count() {
        let mut manage = tool("manage_resource", "Manage a resource.");
        manage.input_schema =
            json!({"properties": {"operation": {"type": "string", "enum": ["get", "delete"]}}});
        assert_eq!(classify(&manage).category, Category::Destructive);
    }
}
