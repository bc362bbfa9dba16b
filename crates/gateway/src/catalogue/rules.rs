//! How strictly a server's pins are held: `[gateway] pinning` and `new_tools`, overridable per
//! server. Plain data, resolved by the config loader.

/// `pinning = "enforce" | "warn" | "off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PinningMode {
    /// A changed (or new) tool is hidden and its calls denied until approved.
    #[default]
    Enforce,
    /// Changes are logged and audited; the tool stays listed and callable.
    Warn,
    /// Definitions are catalogued but not checked.
    Off,
}

impl PinningMode {
    pub fn parse(text: &str) -> Option<PinningMode> {
        match text {
            "enforce" => Some(PinningMode::Enforce),
            "warn" => Some(PinningMode::Warn),
            "off" => Some(PinningMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PinningMode::Enforce => "enforce",
            PinningMode::Warn => "warn",
            PinningMode::Off => "off",
        }
    }
}

/// `new_tools = "quarantine" | "allow"`: what happens to a tool that appears on a server whose
/// tools are already pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewTools {
    /// Like a changed tool: hidden and denied until approved.
    #[default]
    Quarantine,
    /// Pinned at first sight, like the server's first tools.
    Allow,
}

impl NewTools {
    pub fn parse(text: &str) -> Option<NewTools> {
        match text {
            "quarantine" => Some(NewTools::Quarantine),
            "allow" => Some(NewTools::Allow),
            _ => None,
        }
    }
}

/// One server's pinning rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinRules {
    pub mode: PinningMode,
    pub new_tools: NewTools,
}
