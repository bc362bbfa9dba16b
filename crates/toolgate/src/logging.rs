//! How the gateway's log lines look on stderr: text for people (coloured only on a terminal, and
//! never with `NO_COLOR` set), or with `TOOLGATE_LOG_FORMAT=json` one JSON object per line
//! (`timestamp`, `level`, `message`, the event's fields, the current span) for log shippers.
//! `TOOLGATE_LOG` filters what is logged (`debug`, `toolgate_gateway=debug`, ...).

use std::io::IsTerminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text { colour: bool },
    Json,
}

/// The format `TOOLGATE_LOG_FORMAT` asks for (unset or empty: text); colour only on a terminal
/// and without `NO_COLOR` (https://no-color.org: set and not empty). `Err` names a value that is
/// not a format.
fn format(
    requested: Option<&str>,
    no_color: Option<&str>,
    stderr_is_terminal: bool,
) -> Result<Format, String> {
    let colour = stderr_is_terminal && no_color.is_none_or(str::is_empty);
    match requested.map(str::trim) {
        None | Some("") => Ok(Format::Text { colour }),
        Some(v) if v.eq_ignore_ascii_case("text") => Ok(Format::Text { colour }),
        Some(v) if v.eq_ignore_ascii_case("json") => Ok(Format::Json),
        Some(other) => Err(other.to_owned()),
    }
}

/// Installs the log subscriber; `default_filter` applies when `TOOLGATE_LOG` is unset.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOOLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let requested = std::env::var("TOOLGATE_LOG_FORMAT").ok();
    let no_color = std::env::var("NO_COLOR").ok();
    let chosen = format(
        requested.as_deref(),
        no_color.as_deref(),
        std::io::stderr().is_terminal(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match chosen {
        Ok(Format::Json) => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Ok(Format::Text { colour }) => builder.with_target(false).with_ansi(colour).init(),
        Err(_) => builder.with_target(false).with_ansi(false).init(),
    }
    if let Err(other) = chosen {
        tracing::warn!(
            "TOOLGATE_LOG_FORMAT={other:?} is not a log format; writing text (use \"text\" or \"json\")"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert_eq!(format(None, None, true), Ok(Format::Text { colour: true }));
        assert_eq!(
            format(None, None, false),
            Ok(Format::Text { colour: false })
        );
        assert_eq!(
            format(None, Some("1"), true),
            Ok(Format::Text { colour: false })
        );
        // An empty NO_COLOR does not count (no-color.org).
        assert_eq!(
            format(Some("text"), Some(""), true),
            Ok(Format::Text { colour: true })
        );
    }

    #[test]
    fn json_on_request_and_nothing_else_unknown() {
        assert_eq!(format(Some("json"), None, true), Ok(Format::Json));
        assert_eq!(format(Some(" json "), None, false), Ok(Format::Json));
        assert_eq!(
            format(Some(""), None, false),
            Ok(Format::Text { colour: false })
        );
        assert_eq!(format(Some("JSON"), None, false), Ok(Format::Json));
        assert_eq!(
            format(Some("logfmt"), None, false),
            Err("logfmt".to_owned())
        );
    }
}
