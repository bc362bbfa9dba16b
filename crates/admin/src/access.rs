//! Who may use the admin plane and how the web UI is offered, as the configuration says now.
//! The binary hands the admin plane a [`LiveAccess`] at start and replaces what it holds on every
//! configuration reload; every request reads the current [`Access`], so a role token added,
//! removed or given another role, a new admin token and `[admin] ui` switched to or from
//! read-only apply from the next request on, to the JSON API and to signed-in UI sessions alike.

use crate::auth::AdminAuth;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// The admin plane's credentials and the UI's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub auth: AdminAuth,
    /// `[admin] ui = "read-only"`: every UI session is a viewer's, whatever its token (the JSON
    /// API keeps each token's role).
    pub ui_read_only: bool,
}

impl Access {
    /// `auth`, with the UI offered read-write.
    pub fn new(auth: AdminAuth) -> Access {
        Access {
            auth,
            ui_read_only: false,
        }
    }
}

/// The [`Access`] in force, shared by every request and replaced as a whole on reload.
#[derive(Debug, Clone)]
pub struct LiveAccess(Arc<ArcSwap<Access>>);

impl LiveAccess {
    pub fn new(access: Access) -> LiveAccess {
        LiveAccess(Arc::new(ArcSwap::from_pointee(access)))
    }

    /// The access in force now (a request reads it once and keeps it to its end).
    pub fn current(&self) -> Arc<Access> {
        self.0.load_full()
    }

    /// Puts `access` in force from the next request on; true when it differs from what was.
    pub fn replace(&self, access: Access) -> bool {
        let previous = self.0.swap(Arc::new(access));
        *previous != **self.0.load()
    }
}

impl From<Access> for LiveAccess {
    fn from(access: Access) -> LiveAccess {
        LiveAccess::new(access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_is_read_by_the_next_request_and_says_whether_it_changed_anything() {
        let live = LiveAccess::new(Access::new(AdminAuth::from_token("a")));
        let held = live.current();
        let changed = live.replace(Access {
            auth: AdminAuth::from_token("b"),
            ui_read_only: true,
        });
        assert!(changed);
        assert!(live.current().ui_read_only);
        assert!(live.current().auth.credential("b").is_some());
        assert!(
            held.auth.credential("a").is_some(),
            "a request keeps its own"
        );
        assert!(!live.replace((*live.current()).clone()));
    }
}
