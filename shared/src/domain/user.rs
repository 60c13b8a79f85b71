//! The caller, as established by a verified token.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::ids::OrgId;

/// The permissions of the spec. Stored as strings so new ones need no code change.
pub mod permissions {
    pub const DATA_READ: &str = "causal:data:read";
    pub const DATA_WRITE: &str = "causal:data:write";
    pub const ANALYSIS_RUN: &str = "causal:analysis:run";
    pub const EXPERIMENTS_MANAGE: &str = "causal:experiments:manage";
    /// Reading the org's audit log (administrators).
    pub const AUDIT_READ: &str = "causal:audit:read";
    pub const ALL: [&str; 5] = [DATA_READ, DATA_WRITE, ANALYSIS_RUN, EXPERIMENTS_MANAGE, AUDIT_READ];
}

/// The permissions a role grants. Unknown roles grant nothing.
pub fn role_permissions(role: &str) -> &'static [&'static str] {
    use permissions::*;
    match role {
        "causal_analyst" => &[DATA_READ, ANALYSIS_RUN],
        "causal_admin" => &ALL,
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserContext {
    pub org_id: OrgId,
    pub user_id: String,
    pub roles: Vec<String>,
    /// Explicit permissions from the token plus those its roles grant.
    pub permissions: BTreeSet<String>,
}

impl UserContext {
    pub fn new(org_id: OrgId, user_id: String, roles: Vec<String>, explicit: impl IntoIterator<Item = String>) -> Self {
        let mut permissions: BTreeSet<String> = explicit.into_iter().collect();
        for r in &roles {
            permissions.extend(role_permissions(r).iter().map(|p| p.to_string()));
        }
        Self { org_id, user_id, roles, permissions }
    }

    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_permissions() {
        let u = UserContext::new(OrgId::new("acme").unwrap(), "u1".into(), vec!["causal_analyst".into()], vec![]);
        assert!(u.has(permissions::DATA_READ));
        assert!(u.has(permissions::ANALYSIS_RUN));
        assert!(!u.has(permissions::DATA_WRITE));
        let a = UserContext::new(OrgId::new("acme").unwrap(), "u2".into(), vec!["causal_admin".into()], vec![]);
        assert!(permissions::ALL.iter().all(|p| a.has(p)));
        let x = UserContext::new(
            OrgId::new("acme").unwrap(),
            "u3".into(),
            vec!["intern".into()],
            vec!["causal:data:write".into()],
        );
        assert!(x.has(permissions::DATA_WRITE) && !x.has(permissions::DATA_READ));
    }
}
