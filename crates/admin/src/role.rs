//! What an admin credential may do: `admin` (everything), `approver` (decide held calls, read
//! everything) or `viewer` (read only). One table, read by the JSON API and the web UI alike, so a
//! button the UI hides is also a request the API refuses.

use serde::{Deserialize, Serialize};

/// The role of an admin credential, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Approver,
    Admin,
}

/// What a request does, as far as roles are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read anything the admin plane shows.
    Read,
    /// Approve or deny a held call.
    DecideApprovals,
    /// Every other change: policies, grants, kill switches, pins.
    Administer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether this role may do `what`.
    pub fn allows(self, what: Permission) -> bool {
        match what {
            Permission::Read => true,
            Permission::DecideApprovals => self >= Role::Approver,
            Permission::Administer => self == Role::Admin,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permission an admin API request needs: reads (and validating a candidate policy) are open
/// to every role, deciding an approval needs `approver`, any other change `admin`.
pub fn api_permission(method: &http::Method, path: &str) -> Permission {
    if matches!(*method, http::Method::GET | http::Method::HEAD) {
        return Permission::Read;
    }
    let path = path.trim_end_matches('/');
    // Checking a candidate policy changes nothing.
    if path.starts_with("/policies/") && path.ends_with("/validate") {
        return Permission::Read;
    }
    let decides = path.starts_with("/approvals/")
        && (path.ends_with("/approve") || path.ends_with("/deny"))
        && path.matches('/').count() == 3;
    if decides {
        Permission::DecideApprovals
    } else {
        Permission::Administer
    }
}

/// Why `role` may not do `what`: the one message the JSON API and the web UI give.
pub fn refusal(role: Role, what: Permission) -> String {
    let may = match role {
        Role::Viewer => "may only read",
        Role::Approver => "may read and decide held calls",
        Role::Admin => "may do everything",
    };
    let needs = match what {
        Permission::Read => "reading needs any admin credential",
        Permission::DecideApprovals => {
            "approving or denying a held call needs the approver or admin role"
        }
        Permission::Administer => "changing the gateway needs the admin role",
    };
    format!("this credential's role is {role}, which {may}; {needs}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn roles_allow_what_they_say() {
        use Permission::*;
        assert!(Role::Viewer.allows(Read));
        assert!(!Role::Viewer.allows(DecideApprovals));
        assert!(!Role::Viewer.allows(Administer));
        assert!(Role::Approver.allows(DecideApprovals));
        assert!(!Role::Approver.allows(Administer));
        assert!(Role::Admin.allows(Administer));
        assert_eq!(Role::parse("approver"), Some(Role::Approver));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(
            refusal(Role::Viewer, Administer),
            "this credential's role is viewer, which may only read; changing the gateway needs the admin role"
        );
    }

    #[test]
    fn api_routes_need_their_permission() {
        use Permission::*;
        assert_eq!(api_permission(&Method::GET, "/policies/crm"), Read);
        assert_eq!(
            api_permission(&Method::POST, "/approvals/apv_1/approve"),
            DecideApprovals
        );
        assert_eq!(
            api_permission(&Method::POST, "/approvals/apv_1/deny"),
            DecideApprovals
        );
        assert_eq!(api_permission(&Method::PUT, "/policies/crm"), Administer);
        assert_eq!(
            api_permission(&Method::POST, "/policies/crm/validate"),
            Read
        );
        assert_eq!(api_permission(&Method::POST, "/grants"), Administer);
        assert_eq!(
            api_permission(&Method::DELETE, "/kill-switches/global"),
            Administer
        );
        assert_eq!(
            api_permission(&Method::POST, "/approvals/x/y/approve"),
            Administer
        );
    }
}
