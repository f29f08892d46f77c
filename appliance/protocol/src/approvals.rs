//! Approvals bound on the server: a tool call the policy marks "ask" is refused with a
//! [`PendingApproval`] naming exactly what would run; a person's [`Decision`] on that id
//! lets exactly that call run once (or, for "always", for the rest of the session).

use serde::{Deserialize, Serialize};

/// What the appliance shows before a call that needs a person's approval.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingApproval {
    /// One-time id the decision and the approved call carry.
    pub id: String,
    /// The tool.
    pub tool: String,
    /// Exactly what would happen: the command line, the git arguments, or the diff.
    pub shown: String,
}

/// A person's answer to a pending approval.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Run this exact call once.
    Approve,
    /// Do not run it.
    Deny,
    /// Run this exact call now and whenever it comes again in this session.
    AlwaysThisSession,
}

/// Body of `POST` [`crate::routes::APPROVALS`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The pending approval's id.
    pub id: String,
    /// The answer.
    pub answer: Answer,
}

/// Body of `POST` [`crate::routes::POLICY_CONFIRM`]: the SHA-256 of the workspace policy text
/// the person read and accepts, loosening included.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfirm {
    /// The policy text's SHA-256 (hex), as the status report shows it.
    pub hash: String,
}
