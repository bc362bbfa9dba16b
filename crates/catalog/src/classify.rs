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
    /// A destructive verb anywhere in the name (`git_force_push`, `bulk_delete`).
    name_destructive: Option<String>,
    financial_noun: Option<String>,
    credentials: bool,
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
        let name_verb = words
            .iter()
            .find_map(|w| lexicon::verb(w).map(|c| (w.clone(), c)));
        let name_destructive = words
            .iter()
            .find(|w| lexicon::verb(w) == Some(Category::Destructive))
            .cloned();
        let financial_noun = words.iter().find(|w| lexicon::financial_noun(w)).cloned();
        let credentials = words.iter().any(|w| lexicon::credential_noun(w))
            || words
                .windows(2)
                .any(|pair| lexicon::credential_pair(&pair[0], &pair[1]));

        let lower = tool
            .description
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let first_sentence = first_sentence(&lower);
        let description_verb = prose_words(first_sentence)
            .filter(|w| !ambiguous_in_prose(w))
            .find_map(|w| base_forms(w).find_map(|b| lexicon::verb(b).map(|c| (b.to_owned(), c))));
        let irreversible = IRREVERSIBLE_PHRASES
            .into_iter()
            .find(|phrase| lower.contains(phrase));
        let read_only_phrase = READ_ONLY_PHRASES.iter().any(|p| lower.contains(p));
        let money_in_description = prose_words(first_sentence).any(lexicon::money_word);

        let annotations = tool.annotations.as_ref();
        Evidence {
            name_verb,
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
        if let Some(property) = self.schema.code_property
            && !self.read_only_phrase
        {
            v.raise(Execute, || format!("schema takes code in \"{property}\""));
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
            (_, Some(true)) => v.raise(Destructive, || "annotation destructiveHint=true".into()),
            (Some(false), _) if v.category == Read => {
                v.raise(Write, || "annotation readOnlyHint=false".into())
            }
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
        if self.credentials {
            v.reasons.push("handles credentials".to_owned());
        }
        Classification {
            category: v.category,
            severity: severity_of(v.category, self.credentials),
            confidence: v.confidence,
            credentials: self.credentials,
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
