//! Limits (quotas): counter name, window, max, scope, mode and how much one call uses. Also the duration
//! syntax shared with `approval.timeout`.

use std::fmt;

use crate::path::Path;

/// Whose calls a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One credential (grant label). The default.
    Grant,
    /// All grants of one agent.
    Agent,
    /// One MCP session.
    Session,
    /// Everyone calling one upstream server.
    Server,
    /// Everyone.
    Global,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Grant,
        Scope::Agent,
        Scope::Session,
        Scope::Server,
        Scope::Global,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Grant => "grant",
            Scope::Agent => "agent",
            Scope::Session => "session",
            Scope::Server => "server",
            Scope::Global => "global",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a window is placed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowMode {
    /// Never more than `max` admitted in any interval of length `window`. The default.
    Sliding,
    /// Count within calendar-aligned UTC windows `[floor(now/window)*window, +window)`.
    Fixed,
}

impl WindowMode {
    pub fn name(self) -> &'static str {
        match self {
            WindowMode::Sliding => "sliding",
            WindowMode::Fixed => "fixed",
        }
    }
}

/// How much of the quota one call uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Increment {
    /// A constant (`increment`, default 1).
    Fixed(u64),
    /// A number taken from the call's arguments (`increment_from`), with the path as written.
    From { path: Path, source: String },
}

/// One compiled limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub counter: String,
    pub window_ms: u64,
    pub max: u64,
    pub scope: Scope,
    pub mode: WindowMode,
    /// JSON pointer of this limit in its document, e.g. `/tools/x/limits/0` or `/tools/x/rate_limit`.
    pub rule: String,
    pub(crate) increment: Increment,
}

impl Limit {
    /// A limit outside any document (stores' tests, the gateway's built-in limits). Increment 1, rule "".
    pub fn new(
        counter: impl Into<String>,
        window_ms: u64,
        max: u64,
        scope: Scope,
        mode: WindowMode,
    ) -> Limit {
        Limit {
            counter: counter.into(),
            window_ms,
            max,
            scope,
            mode,
            rule: String::new(),
            increment: Increment::Fixed(1),
        }
    }

    /// The same limit with `rule` as its JSON pointer.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Limit {
        self.rule = rule.into();
        self
    }

    /// The constant amount one call uses, or `None` when it comes from the arguments (`increment_from`).
    pub fn fixed_increment(&self) -> Option<u64> {
        match self.increment {
            Increment::Fixed(n) => Some(n),
            Increment::From { .. } => None,
        }
    }

    /// The `increment_from` path as written, if any.
    pub fn increment_from(&self) -> Option<&str> {
        match &self.increment {
            Increment::Fixed(_) => None,
            Increment::From { source, .. } => Some(source),
        }
    }

    /// Two definitions of one counter may share it only when they agree on everything that shapes it.
    pub(crate) fn same_counter_definition(&self, other: &Limit) -> bool {
        self.counter == other.counter
            && self.window_ms == other.window_ms
            && self.max == other.max
            && self.scope == other.scope
            && self.mode == other.mode
    }

    /// For people: `30 calls per minute (counter createoneworkflowrun_rate, scope grant)`.
    pub fn describe(&self) -> String {
        let unit = match (&self.increment, self.max) {
            (Increment::Fixed(1), 1) => "call",
            (Increment::Fixed(1), _) => "calls",
            (_, 1) => "unit",
            _ => "units",
        };
        let mode = match self.mode {
            WindowMode::Sliding => "",
            WindowMode::Fixed => ", fixed window",
        };
        format!(
            "{} {unit} per {} (counter {}, scope {}{mode})",
            self.max,
            describe_window(self.window_ms),
            self.counter,
            self.scope
        )
    }
}

/// `minute`, `hour`, `90 seconds`, `10 minutes`, `1500 ms`.
pub fn describe_window(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "day"),
        (3_600_000, "hour"),
        (60_000, "minute"),
        (1_000, "second"),
    ];
    for (size, name) in UNITS {
        if ms == size {
            return name.to_owned();
        }
        if ms % size == 0 && ms > size {
            return format!("{} {name}s", ms / size);
        }
    }
    format!("{ms} ms")
}

/// Why a duration string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("missing unit after {0}")]
    MissingUnit(u64),
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    #[error("expected a number followed by a unit, like \"10m\"")]
    MissingNumber,
    #[error("duration is too large")]
    Overflow,
}

/// Parses `90s`, `10m`, `1h`, `2d`, `500ms`, and sums like `1h30m`, into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::MissingNumber);
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::Overflow)?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let factor = match unit {
            "" => return Err(DurationError::MissingUnit(n)),
            "ms" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            other => return Err(DurationError::UnknownUnit(other.to_owned())),
        };
        total = n
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or(DurationError::Overflow)?;
    }
    Ok(total)
}

/// Named windows: `second`, `minute`, `hour`, `day`.
pub fn named_window_ms(name: &str) -> Option<u64> {
    match name {
        "second" => Some(1_000),
        "minute" => Some(60_000),
        "hour" => Some(3_600_000),
        "day" => Some(86_400_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("10m"), Ok(600_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("10"), Err(DurationError::MissingUnit(10)));
        assert_eq!(
            parse_duration_ms("10 parsecs"),
            Err(DurationError::UnknownUnit("parsecs".into()))
        );
        assert_eq!(parse_duration_ms("5 minutes"), Ok(300_000));
        assert_eq!(parse_duration_ms("m"), Err(DurationError::MissingNumber));
        assert_eq!(parse_duration_ms(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration_ms("99999999999999999999d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn describes() {
        let l = Limit::new(
            "createoneworkflowrun_rate",
            60_000,
            30,
            Scope::Grant,
            WindowMode::Sliding,
        );
        assert_eq!(
            l.describe(),
            "30 calls per minute (counter createoneworkflowrun_rate, scope grant)"
        );
        let l = Limit::new("c", 90_000, 5, Scope::Session, WindowMode::Fixed);
        assert_eq!(
            l.describe(),
            "5 calls per 90 seconds (counter c, scope session, fixed window)"
        );
        assert_eq!(describe_window(7_200_000), "2 hours");
        assert_eq!(describe_window(1_500), "1500 ms");
    }
}
