//! The frame every page shares — skip link, navigation, who is signed in, sign-out — and the
//! small pieces pages repeat: badges for risk and decisions, ages, CSRF fields, notices.

use super::Ui;
use super::access::Operator;
use super::assets::{CSS_URL, JS_URL};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use toolgate_catalog::Category;
use toolgate_policy::ToolOutcome;

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Catalogue,
    Policies,
    Approvals,
    Audit,
    Pins,
    Grants,
}

const NAV: [(Nav, &str, &str); 7] = [
    (Nav::Overview, "/ui", "Overview"),
    (Nav::Catalogue, "/ui/catalogue", "Catalogue"),
    (Nav::Policies, "/ui/policies", "Policies"),
    (Nav::Approvals, "/ui/approvals", "Approvals"),
    (Nav::Audit, "/ui/audit", "Audit"),
    (Nav::Pins, "/ui/pins", "Pins"),
    (Nav::Grants, "/ui/grants", "Grants"),
];

/// A whole page: `title` in the tab and as its heading, `body` in `<main>`.
pub(crate) fn page(ui: &Ui, op: &Operator, nav: Nav, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(op.csrf);
                title { (title) " · toolgate" }
                link rel="stylesheet" href=(CSS_URL);
                link rel="icon" href=(super::assets::ICON_URL);
                script src=(JS_URL) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" { "toolgate" }
                    nav aria-label="Sections" {
                        ul {
                            @for (n, href, label) in NAV {
                                li {
                                    @if n == nav {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (op.who) " · " (op.role.as_str()) }
                        @if ui.read_only() { " " span.badge.ro { "read-only" } }
                        form method="post" action="/ui/logout" {
                            (csrf(op))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// The session's CSRF token as a hidden form field; every form that changes something has one.
pub(crate) fn csrf(op: &Operator) -> Markup {
    html! { input type="hidden" name="_csrf" value=(op.csrf); }
}

/// A risk category as a badge (`Destructive`).
pub(crate) fn risk_badge(category: &str) -> Markup {
    let known = Category::parse(category);
    let class = known.map_or("risk", |c| c.as_str());
    let label = known.map_or(category.to_owned(), |c| {
        let s = c.as_str();
        s[..1].to_ascii_uppercase() + &s[1..]
    });
    html! { span class={"badge risk-" (class)} { (label) } }
}

/// What the policy does with a tool, as a badge.
pub(crate) fn outcome_badge(outcome: ToolOutcome) -> Markup {
    html! { span class={"badge out-" (outcome.as_str())} { (outcome.as_str()) } }
}

/// An audit decision as a badge.
pub(crate) fn decision_badge(decision: &str) -> Markup {
    let class = match decision {
        "allow" => "out-allowed",
        "rate_limited" => "out-limited",
        "approval_required" => "out-held",
        "hidden" => "out-hidden",
        _ => "out-denied",
    };
    html! { span class={"badge " (class)} { (decision) } }
}

/// "12 s ago", "3 min ago", "5 h ago", "2 d ago" — or "in 4 min" for a time to come.
pub(crate) fn ago(ms: u64, now: u64) -> String {
    let (d, future) = if ms > now {
        ((ms - now) / 1000, true)
    } else {
        ((now - ms) / 1000, false)
    };
    let text = match d {
        0..60 => format!("{d} s"),
        60..3600 => format!("{} min", d / 60),
        3600..86_400 => format!("{} h", d / 3600),
        _ => format!("{} d", d / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A `<time>` element: `datetime` in ms since the epoch (the script shows it in local time as a
/// tooltip), the age as its text.
pub(crate) fn time(ms: u64, now: u64) -> Markup {
    html! { time data-ms=(ms) { (ago(ms, now)) } }
}

/// A notice above a page's content.
pub(crate) fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={"notice " (kind)} role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// Pretty JSON in a `<pre>`.
pub(crate) fn json_block(value: &serde_json::Value) -> Markup {
    html! { pre.json { (serde_json::to_string_pretty(value).unwrap_or_default()) } }
}

/// A short version hash (`3f2a9c1e`).
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(ago(1_000, 13_000), "12 s ago");
        assert_eq!(ago(0, 180_000), "3 min ago");
        assert_eq!(ago(300_000, 60_000), "in 4 min");
        assert_eq!(ago(0, 2 * 86_400_000), "2 d ago");
    }

    #[test]
    fn hostile_text_is_escaped() {
        let evil = "<script>alert(1)</script>\"'&";
        let m = html! { p title=(evil) { (evil) } (risk_badge(evil)) };
        let s = m.into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("&lt;script&gt;"), "{s}");
        assert!(!s.contains("\"'&\""), "{s}");
    }
}
