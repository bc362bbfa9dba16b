//! Metric labels a client cannot multiply. Every distinct label value is a series kept for the
//! life of the process and sent on every scrape, so a value a client chooses — a made-up tool
//! name in a denied call, a method no server knows — would let it grow `/metrics` and the
//! gateway's memory without end. Tools get their own label only when their server lists them
//! (others count under [`UNLISTED`]); methods only when MCP defines them (others under
//! [`OTHER_METHOD`]). Server names and rules come from the configuration and policies.

use std::sync::{Arc, OnceLock};
use toolgate_mcp::methods::{MethodKind, classify};

/// The tool label of a call to a tool its server does not list.
pub const UNLISTED: &str = "(unlisted)";
/// The method label of a method MCP does not define.
pub const OTHER_METHOD: &str = "(other)";

/// Which tools the servers list (the catalogue).
pub trait ListedTools: Send + Sync {
    fn lists(&self, server: &str, tool: &str) -> bool;
}

/// Turns names into bounded labels.
#[derive(Default)]
pub struct Labels {
    listed: OnceLock<Arc<dyn ListedTools>>,
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labels")
            .field("listed", &self.listed.get().is_some())
            .finish()
    }
}

impl Labels {
    /// Tools get their own label when `tools` says their server lists them (set once, at start;
    /// until then every tool is unlisted).
    pub fn listed_by(&self, tools: Arc<dyn ListedTools>) {
        let _ = self.listed.set(tools);
    }

    pub fn tool(&self, server: &str, tool: &str) -> String {
        match self.listed.get() {
            Some(listed) if listed.lists(server, tool) => tool.to_owned(),
            _ => UNLISTED.to_owned(),
        }
    }

    pub fn method(&self, method: &str) -> String {
        match classify(method, None, &[]) {
            MethodKind::Unknown => OTHER_METHOD.to_owned(),
            MethodKind::Request | MethodKind::Notification => method.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Listed;
    impl ListedTools for Listed {
        fn lists(&self, server: &str, tool: &str) -> bool {
            (server, tool) == ("crm", "findManyPeople")
        }
    }

    #[test]
    fn only_listed_tools_and_known_methods_get_their_own_label() {
        let labels = Labels::default();
        assert_eq!(labels.tool("crm", "findManyPeople"), UNLISTED);
        labels.listed_by(Arc::new(Listed));
        assert_eq!(labels.tool("crm", "findManyPeople"), "findManyPeople");
        assert_eq!(labels.tool("crm", &"x".repeat(1000)), UNLISTED);
        assert_eq!(labels.tool("other", "findManyPeople"), UNLISTED);
        assert_eq!(labels.method("tools/call"), "tools/call");
        assert_eq!(labels.method("Tools/Call"), OTHER_METHOD);
        assert_eq!(labels.method("made/up"), OTHER_METHOD);
    }
}
